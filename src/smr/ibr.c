/* IBR slow paths: the reservation scan and drain.
 *
 * A scan costs O(T log T + n log T) for T threads and n blocks pending in
 * this thread: the reservations are copied once into a sorted array of
 * disjoint intervals, then each block is one binary search. */
#include <sched.h>
#include <stdlib.h>

#include "alloc/alloc_internal.h"
#include "smr_private.h"

#define SAMPLE_EVERY 4 /* scans between pending-peak samples */

typedef struct {
  uint64_t lo, hi;
} interval_t;

static int interval_cmp(const void *a, const void *b) {
  const interval_t *x = a, *y = b;
  return (x->lo > y->lo) - (x->lo < y->lo);
}

static bool scratch_reserve(cc__smr_thr_t *t, size_t intervals) {
  size_t need = 2 * intervals;
  if (need <= t->scratch_cap) return true;
  size_t cap = need + 16;
  uint64_t *s = cc__alloc_internal(cap * sizeof *s, 0, false);
  if (s == NULL) return false;
  cc__smr_scratch_free(t);
  t->scratch = s;
  t->scratch_cap = cap;
  return true;
}

/* Sorted disjoint reservations of every thread into t->scratch; returns
 * their number, or SIZE_MAX when no room could be had (then nothing may be
 * freed). */
static size_t collect_reservations(cc__smr_thr_t *t) {
  cc_smr_t *d = t->dom;
  for (;;) {
    size_t cap = cc_atomic_load_acquire(&d->nthreads) + 4;
    if (!scratch_reserve(t, cap)) return SIZE_MAX;
    interval_t *iv = (interval_t *)(void *)t->scratch;
    size_t k = 0;
    bool overflow = false;
    for (cc__smr_thr_t *c = cc_atomic_load_acquire(&d->threads); c != NULL;
         c = cc_atomic_load_acquire(&c->next)) {
      /* seq_cst: pairs with the seq_cst reservation stores (store-load),
       * or read after the membarrier that stands in for them */
      uint64_t lo = cc_atomic_load_seq_cst(&c->lower);
      if (lo == CC__SMR_NO_RESERVATION) continue;
      /* read after lower: this upper or a later one, never less than lo
       * for the operation that published lo */
      uint64_t hi = cc_atomic_load_seq_cst(&c->upper);
      if (hi < lo) hi = lo;
      if (k == cap) {
        overflow = true;
        break;
      }
      iv[k++] = (interval_t){lo, hi};
    }
    if (overflow) continue; /* threads registered meanwhile: retry bigger */
    if (k > 1) qsort(iv, k, sizeof *iv, interval_cmp);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
      if (m > 0 && iv[i].lo <= iv[m - 1].hi) {
        if (iv[i].hi > iv[m - 1].hi) iv[m - 1].hi = iv[i].hi;
      } else {
        iv[m++] = iv[i];
      }
    }
    return m;
  }
}

/* Raises upper to the current epoch, if it moved; returns that epoch. */
static uint64_t raise_upper(cc__smr_thr_t *t) {
  uint64_t e = cc_atomic_load_relaxed(&t->dom->epoch);
  if (e != t->local_epoch) {
    t->local_epoch = e;
    /* the loads that follow come after this store: a pointer they return
     * was read under a visible upper reservation, or after the scanner's
     * membarrier (asym.c) */
    cc__smr_announce_store(t, &t->upper, e);
  }
  return e;
}

/* The slow paths of cc__smr_ibr_read and _read_pair: the epoch moved
 * since upper was last raised. */
uintptr_t cc__smr_ibr_read_raise(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src) {
  for (;;) {
    uint64_t e = raise_upper(t);
    uintptr_t x = cc_atomic_load_acquire(src);
    if (cc_likely(cc_atomic_load_relaxed(&t->dom->epoch) == e)) return x;
  }
}

cc__smr_pair_t cc__smr_ibr_read_pair_raise(cc__smr_thr_t *t, cc_atomic(uintptr_t) *a,
                                           cc_atomic(uintptr_t) *b) {
  for (;;) {
    uint64_t e = raise_upper(t);
    cc__smr_pair_t p = cc__smr_load_pair(a, b);
    if (cc_likely(cc_atomic_load_relaxed(&t->dom->epoch) == e)) return p;
  }
}

/* Whether [birth, retire] meets one of the m sorted disjoint intervals. */
static bool reserved(const interval_t *iv, size_t m, uint64_t birth, uint64_t retire) {
  if (m <= 4) { /* a few threads: a scan is cheaper than a search per block */
    for (size_t i = 0; i < m; i++)
      if (iv[i].hi >= birth) return iv[i].lo <= retire;
    return false;
  }
  size_t lo = 0, hi = m; /* first interval with hi >= birth */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (iv[mid].hi < birth) lo = mid + 1;
    else hi = mid;
  }
  return lo < m && iv[lo].lo <= retire;
}

static void adopt_orphans(cc__smr_thr_t *t) {
  cc_smr_t *d = t->dom;
  pthread_mutex_lock(&d->lock);
  cc__smr_orphan_t *o = cc_atomic_load_relaxed(&d->orphans);
  cc_atomic_store_relaxed(&d->orphans, NULL);
  pthread_mutex_unlock(&d->lock);
  while (o != NULL) {
    cc__smr_orphan_t *next = o->next;
    cc__smr_bag_append(&t->limbo, o->blocks, cc__smr_chain_tail(o->blocks), o->count);
    cc_free(o, sizeof *o);
    o = next;
  }
}

/* What a sweep reclaims, block after block: the pool class of the last
 * node size met (a sweep meets mostly one) and the count for st_freed,
 * added once. Saves the pool's per-block lookups (about 20 instructions
 * of a block's 52 on the stack). */
typedef struct {
  cc__smr_reuse_t *c; /* NULL: none yet, or the class of `size` takes none */
  uint32_t size;
  size_t bytes;
  uint64_t freed;
} sweep_out_t;

static void sweep_reclaim(cc__smr_thr_t *t, sweep_out_t *o, cc__smr_hdr_t *h) {
  o->freed++;
  if (h->size == 0) {
    cc__smr_node_free(t, h); /* a retire_fn record: its callback may use the pool */
    o->c = NULL;
    return;
  }
  if (h->size != o->size || o->c == NULL) {
    o->size = h->size;
    o->bytes = cc__smr_reuse_bytes(h->size);
    o->c = cc__smr_reuse_class_for(t, h->size);
  }
  if (o->c == NULL || !cc__smr_reuse_link(t, o->c, h, o->bytes)) cc__smr_unpooled(t, h);
}

/* Frees the entries of the chain `head` that no reservation covers and
 * packs the others to its front, in place (the write position never passes
 * the read position); returns the packed chain, its emptied blocks going
 * back to the pool. */
static cc__smr_bag_t sweep(cc__smr_thr_t *t, cc__smr_blk_t *head, const interval_t *iv, size_t m) {
  cc__smr_blk_t *w = head;
  size_t wi = 0, kept = 0;
  sweep_out_t rec = {NULL, 0, 0, 0};
  for (cc__smr_blk_t *b = head; b != NULL; b = b->next) {
    size_t n = b->n;
    for (size_t i = 0; i < n; i++) {
      cc__smr_ent_t x = b->e[i];
      if (!reserved(iv, m, *cc__smr_word(x.p), x.epoch)) {
        sweep_reclaim(t, &rec, x.p);
        continue;
      }
      if (wi == CC__SMR_BLK_CAP) {
        w->n = wi;
        w = w->next;
        wi = 0;
      }
      w->e[wi++] = x;
      kept++;
    }
  }
  cc_atomic_add_owner_u64(&t->st_freed, rec.freed);
  cc__smr_bag_t out = {NULL, NULL, 0, 0};
  if (kept != 0) {
    w->n = wi;
    out = (cc__smr_bag_t){head, w, kept, 0};
    head = w->next;
    w->next = NULL;
  }
  while (head != NULL) {
    cc__smr_blk_t *next = head->next;
    cc__smr_blk_put(t, head);
    head = next;
  }
  return out;
}

void cc__smr_ibr_scan(cc__smr_thr_t *t) {
  t->retire_left = (unsigned)t->scan_at;
  if (t->in_scan) return;
  t->in_scan = true;
  cc_smr_t *d = t->dom;
  cc_atomic_add_owner_u64(&t->st_scans, 1);
  if (cc_atomic_load_relaxed(&d->orphans) != NULL) adopt_orphans(t);

  /* A workload that retires without allocating would never move the
   * epoch, and every block would stay reserved by the running operations:
   * advance it when no allocation did since the previous scan. */
  uint64_t e = cc_atomic_load_acquire(&d->epoch);
  if (e == t->last_scan_epoch && cc_atomic_cas_strong_acq_rel(&d->epoch, &e, e + 1)) e++;
  t->last_scan_epoch = e;

  if ((cc_atomic_load_relaxed(&t->st_scans) % SAMPLE_EVERY) == 0) cc__smr_sample_pending(t);
  /* Every block in limbo was unlinked before this point. Readers publish
   * their reservations without a store-load fence when asym is on; after
   * this membarrier a reservation is either visible to the reads below or
   * belongs to a reader whose later link loads all see those unlinks
   * (asym.c). Its cost is why scans are rarer then, and rarer still
   * while it interrupts other running threads (domain.c). */
  if (!CC_TSAN && t->asym) {
    cc__smr_fence_paced(t, &t->scan_at, d->empty_min, d->empty_freq);
    t->retire_left = (unsigned)t->scan_at;
  }
  size_t m = collect_reservations(t);
  if (m != SIZE_MAX) {
    const interval_t *iv = (const interval_t *)(void *)t->scratch;
    /* detached first: a retire_fn callback may retire into t->limbo */
    cc__smr_bag_t all = cc__smr_bag_take(&t->limbo);
    cc__smr_bag_t kept = sweep(t, all.head, iv, m);
    cc__smr_bag_append(&t->limbo, kept.head, kept.tail, kept.count);
  }
  t->in_scan = false;
}

/* Returns once no operation that ran at the call still reserves an epoch
 * at or before it (so none can hold a block unlinked before the call).
 * No allocation: the fallback of a user retirement without memory for its
 * limbo entry (domain.c). The caller is outside any operation of d. */
void cc__smr_ibr_synchronize(cc_smr_t *d) {
  /* seq_cst: operations that begin after this reserve past r, and the
   * reservation loads below come after it (the scans' pairing) */
  const uint64_t r = cc_atomic_fetch_add_seq_cst(&d->epoch, 1);
  if (!CC_TSAN && d->asym) cc__smr_asym_fence(); /* reservations stored before it are visible */
  for (cc__smr_thr_t *c = cc_atomic_load_acquire(&d->threads); c != NULL;
       c = cc_atomic_load_acquire(&c->next)) {
    for (;;) {
      uint64_t lo = cc_atomic_load_seq_cst(&c->lower);
      if (lo == CC__SMR_NO_RESERVATION || lo > r) break;
      sched_yield();
    }
  }
}

void cc__smr_ibr_drain(cc__smr_thr_t *t) {
  if (t->depth == 0) {
    /* past every retire epoch: what no running operation reserves goes */
    cc_atomic_fetch_add_acq_rel(&t->dom->epoch, 1);
  }
  cc__smr_ibr_scan(t);
}
