/* Domains, thread records and the public API.
 *
 * Records are reused: a thread leaving a domain hands its garbage to the
 * domain and marks its record free, and the next thread to register claims
 * it. A domain therefore holds as many records as it ever had threads at
 * once, however many threads come and go, and its statistics survive the
 * threads that produced them.
 *
 * Which domains a thread belongs to is kept in a per-thread list of
 * (domain id, record) pairs; a pthread key destructor walks it at thread
 * exit. Domains may die before the thread: a global registry of live
 * domains (under reg_lock) tells the destructor which entries are still
 * valid, and cc_smr_free unregisters the domain before freeing it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc_internal.h"
#include "options.h"
#include "smr_internal.h"
#include "smr_private.h"
#include "alloc/track_internal.h"

cc_thread_local cc__smr_tls_t cc__smr_tls;

/* ------------------------------------------------------------ registry */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static cc_smr_t *live_domains;
static uint64_t next_id = 1; /* under reg_lock; 0 never matches a TLS cache */

typedef struct {
  uint64_t id;
  cc_smr_t *dom;
  cc__smr_thr_t *thr;
} membership_t;

/* This thread's domains. Plain malloc: it outlives nothing but the thread,
 * and the main thread's copy must not show in the allocation statistics. */
typedef struct {
  size_t n, cap;
  membership_t *e;
} memberships_t;

static cc_thread_local memberships_t *t_members;
static pthread_key_t members_key;
static pthread_once_t members_key_once = PTHREAD_ONCE_INIT;

static bool domain_live_locked(const cc_smr_t *d, uint64_t id) {
  for (cc_smr_t *x = live_domains; x != NULL; x = x->live_next)
    if (x == d && x->id == id) return true;
  return false;
}

static void release_all(memberships_t *m) {
  pthread_mutex_lock(&reg_lock);
  for (size_t i = 0; i < m->n; i++)
    if (domain_live_locked(m->e[i].dom, m->e[i].id)) cc__smr_release(m->e[i].thr);
  pthread_mutex_unlock(&reg_lock);
  m->n = 0;
  cc__smr_tls.id = 0;
  cc__smr_tls.thr = NULL;
}

static void members_destroy(void *arg) {
  memberships_t *m = arg;
  release_all(m);
  free(m->e);
  free(m);
  t_members = NULL;
}

static void members_make_key(void) { pthread_key_create(&members_key, members_destroy); }

static memberships_t *members_get(void) {
  if (t_members != NULL) return t_members;
  pthread_once(&members_key_once, members_make_key);
  memberships_t *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  if (pthread_setspecific(members_key, m) != 0) {
    free(m);
    return NULL;
  }
  t_members = m;
  return m;
}

/* Drops entries of dead domains and makes room for one more. */
static bool members_reserve(memberships_t *m) {
  pthread_mutex_lock(&reg_lock);
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++)
    if (domain_live_locked(m->e[i].dom, m->e[i].id)) m->e[k++] = m->e[i];
  m->n = k;
  pthread_mutex_unlock(&reg_lock);
  if (m->n < m->cap) return true;
  size_t cap = m->cap ? m->cap * 2 : 4;
  membership_t *e = realloc(m->e, cap * sizeof *e);
  if (e == NULL) return false;
  m->e = e;
  m->cap = cap;
  return true;
}

/* ------------------------------------------------------------ records */

static cc__smr_thr_t *record_new(cc_smr_t *d) {
  cc__smr_thr_t *t = cc__alloc_internal(sizeof *t, CC__LINE, true);
  if (t == NULL) return NULL;
  t->dom = d;
  t->local_epoch = cc_atomic_load_relaxed(&d->epoch);
  cc_atomic_store_relaxed(&t->announce, CC__SMR_QUIESCENT);
  cc_atomic_store_relaxed(&t->lower, CC__SMR_NO_RESERVATION);
  cc_atomic_store_relaxed(&t->upper, 0);
  cc_atomic_store_relaxed(&t->kill_state, 2); /* not signallable before its tid is known */
  return t;
}

/* Claims a free record or links a new one. */
static cc__smr_thr_t *record_claim(cc_smr_t *d) {
  pthread_mutex_lock(&d->lock);
  cc__smr_thr_t *t;
  for (t = cc_atomic_load_acquire(&d->threads); t != NULL; t = cc_atomic_load_acquire(&t->next)) {
    int free_rec = 0;
    if (cc_atomic_cas_strong_acq_rel(&t->in_use, &free_rec, 1)) break;
  }
  if (t == NULL && (t = record_new(d)) != NULL) {
    cc_atomic_store_relaxed(&t->in_use, 1);
    cc_atomic_store_relaxed(&t->next, cc_atomic_load_relaxed(&d->threads));
    /* release: a thread walking the list sees an initialised record */
    cc_atomic_store_release(&d->threads, t);
    cc_atomic_fetch_add_relaxed(&d->nthreads, 1);
  }
  pthread_mutex_unlock(&d->lock);
  if (t != NULL) {
    t->tid = pthread_self();
#if CC__SMR_NEUTRALIZE
    t->sig_pending = &cc__smr_sig_pending;
#endif
    t->local_epoch = cc_atomic_load_acquire(&d->epoch);
    /* seq_cst: the record may have been parked (debra.c, park_idle);
     * the new owner's epoch is announced visibly, as a quiescent one */
    cc_atomic_store_seq_cst(&t->announce, CC__SMR_QUIET(t->local_epoch));
    t->last_scan_epoch = t->local_epoch;
    /* a full round of checks before this thread may advance the epoch
     * (NULL would read as "every thread checked") */
    t->cursor = cc_atomic_load_acquire(&d->threads);
    t->epoch_ops = 0;
    t->advance_at = d->advance_min;
    t->fence_end = 0;
    t->fence_cost = UINT64_MAX;
    t->alloc_left = d->epoch_freq;
    /* from the most: a membarrier is dear whenever another thread runs,
     * and a thread alone soon halves it (asym.c) */
    t->scan_at = d->empty_freq;
    t->retire_left = d->empty_freq;
    t->force_every = d->kind == CC_SMR_DEBRA_PLUS ? d->neutralize_every : 0;
    t->asym = d->asym;
    t->reuse_on = d->reuse;
    t->leak_on = d->leak;
    t->prefetch = d->prefetch;
    t->freeable_keep = d->reuse ? CC__SMR_DEBRA_KEEP : 0;
    t->check_every = d->asym ? CC__SMR_DEBRA_CHECK_EVERY_ASYM : CC__SMR_DEBRA_CHECK_EVERY;
    t->check_tick = t->check_every;
    t->ops = 0;
    t->bag[t->cur].epoch = t->local_epoch; /* the label of what it retires next */
    /* release: a signaller that sees 0 sees the new tid */
    cc_atomic_store_release(&t->kill_state, 0);
  }
  return t;
}

cc__smr_thr_t *cc__smr_thr_slow(cc_smr_t *d) {
  memberships_t *m = members_get();
  if (m == NULL) return NULL;
  for (size_t i = 0; i < m->n; i++) {
    if (m->e[i].id == d->id) {
      cc__smr_tls.id = d->id;
      cc__smr_tls.thr = m->e[i].thr;
      return m->e[i].thr;
    }
  }
  if (!members_reserve(m)) return NULL;
  /* allocated now, while a failure can still be reported (CC_ENOMEM from
   * the operation that registers): thread exit hands garbage off in it */
  cc__smr_orphan_t *spare = cc__alloc_internal(sizeof *spare, 0, true);
  if (spare == NULL) return NULL;
  cc__smr_thr_t *t = record_claim(d);
  if (t != NULL && t->spare_orphan == NULL) t->spare_orphan = spare, spare = NULL;
  if (spare != NULL) cc_free(spare, sizeof *spare); /* none claimed, or the record kept one */
  if (t == NULL) return NULL;
  m->e[m->n++] = (membership_t){.id = d->id, .dom = d, .thr = t};
  cc__smr_tls.id = d->id;
  cc__smr_tls.thr = t;
  return t;
}

void cc_thread_detach(void) {
  if (t_members != NULL) release_all(t_members);
}

/* ------------------------------------------------------------ garbage */

void cc__smr_free_hdr(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  if (h->size != 0) {
    cc__smr_block_free(h);
    return;
  }
  cc__smr_fnrec_t *r = (cc__smr_fnrec_t *)h;
  r->fn(r->p, r->ctx);
  cc__smr_rec_put(t, r);
}

_Noreturn void cc__smr_oom(const char *what) {
  fprintf(stderr, "ccoll: out of memory for %s; cannot defer reclamation safely\n", what);
  abort();
}

void cc__smr_retire_fn_slow(cc__smr_thr_t *t, void *p, void (*fn)(void *, void *), void *ctx,
                            void (*retire)(cc__smr_thr_t *, void *)) {
  /* one the operation reserved (cc__smr_reserve); a new one only for
   * cc_smr_retire_fn, whose caller cannot be told of a failure */
  cc__smr_fnrec_t *r = cc__smr_rec_get(t);
  if (r == NULL) cc__smr_oom("a retire_fn record");
  r->hdr.size = 0; /* a record, not a node */
  r->hdr.birth = 0;
  r->p = p;
  r->fn = fn;
  r->ctx = ctx;
  retire(t, r);
}

void cc__smr_orphan_push(cc_smr_t *d, cc__smr_orphan_t *o) {
  pthread_mutex_lock(&d->lock);
  o->next = cc_atomic_load_relaxed(&d->orphans);
  cc_atomic_store_relaxed(&d->orphans, o);
  pthread_mutex_unlock(&d->lock);
}

/* The hand-off record allocated when t's thread registered (thread exit
 * cannot report an allocation failure). */
cc__smr_orphan_t *cc__smr_orphan_take(cc__smr_thr_t *t) {
  cc__smr_orphan_t *o = t->spare_orphan;
  t->spare_orphan = NULL;
  if (o == NULL) cc__smr_oom("an exiting thread's garbage"); /* registered without one: never */
  return o;
}

void cc__smr_scratch_free(cc__smr_thr_t *t) {
  if (t->scratch != NULL) cc_free(t->scratch, t->scratch_cap * sizeof *t->scratch);
  t->scratch = NULL;
  t->scratch_cap = 0;
}

/* Hands an IBR limbo (its entries keep their retire epochs, so the
 * adopter tests them as their owner would have) or a NONE chain to the
 * domain. */
static void release_list(cc__smr_thr_t *t) {
  if (t->limbo.head == NULL && t->chain == NULL) return;
  cc__smr_orphan_t *o = cc__smr_orphan_take(t);
  cc__smr_bag_t all = cc__smr_bag_take(&t->limbo);
  o->blocks = all.head;
  o->count = all.count + t->chain_n;
  o->chain = t->chain;
  t->chain = NULL;
  t->chain_n = 0;
  cc__smr_orphan_push(t->dom, o);
}

/* Reclaims a NONE chain. */
static void reclaim_chain(cc__smr_hdr_t *h) {
  while (h != NULL) {
    cc__smr_hdr_t *next = (cc__smr_hdr_t *)(uintptr_t)*cc__smr_word(h);
    cc__smr_node_free(NULL, h);
    h = next;
  }
}

/* The owning thread gives its record back (thread exit, cc_thread_detach).
 * Called under reg_lock with the domain live. */
void cc__smr_release(cc__smr_thr_t *t) {
  cc_smr_t *d = t->dom;
  if (d->kind == CC_SMR_DEBRA_PLUS) cc__smr_debrap_leave(t);
  t->depth = 0;
  t->user_depth = 0;
  cc_atomic_store_release(&t->lower, CC__SMR_NO_RESERVATION);
  cc_atomic_store_release(&t->announce, CC__SMR_QUIET(t->local_epoch));
  if (d->kind == CC_SMR_DEBRA || d->kind == CC_SMR_DEBRA_PLUS) cc__smr_debra_release(t);
  else release_list(t);
  cc__smr_pool_drop(t);
  cc__smr_recs_drop(t);
  cc__smr_reuse_drop(t);
  cc__smr_scratch_free(t);
  t->retire_tick = 0;
  t->cursor = NULL;
  t->victim = NULL;
  /* release: the next owner sees the record as left here */
  cc_atomic_store_release(&t->in_use, 0);
}

/* ------------------------------------------------------------ statistics */

typedef struct {
  uint64_t retired, freed, scans, neutralized;
} sums_t;

static sums_t sum_records(const cc_smr_t *d) {
  sums_t s = {0, 0, 0, 0};
  /* freed before retired, record by record: a block is retired before it
   * is freed, so the sums rarely show more freed than retired */
  for (cc__smr_thr_t *t = cc_atomic_load_acquire(&((cc_smr_t *)d)->threads); t != NULL;
       t = cc_atomic_load_acquire(&t->next)) {
    s.freed += cc_atomic_load_relaxed(&t->st_freed) + cc_atomic_load_relaxed(&t->st_taken);
    s.scans += cc_atomic_load_relaxed(&t->st_scans);
    s.neutralized += cc_atomic_load_relaxed(&t->st_neutralized);
  }
  for (cc__smr_thr_t *t = cc_atomic_load_acquire(&((cc_smr_t *)d)->threads); t != NULL;
       t = cc_atomic_load_acquire(&t->next))
    s.retired += cc_atomic_load_relaxed(&t->st_retired);
  return s;
}

static void peak_update(cc_smr_t *d, uint64_t pending) {
  uint64_t p = cc_atomic_load_relaxed(&d->pending_peak);
  while (pending > p && !cc_atomic_cas_weak_acq_rel(&d->pending_peak, &p, pending)) {
  }
}

/* Called at reclamation passes, before freeing: where pending peaks. */
void cc__smr_sample_pending(cc__smr_thr_t *t) {
  sums_t s = sum_records(t->dom);
  if (s.retired > s.freed) peak_update(t->dom, s.retired - s.freed);
}

void cc_smr_stats(const cc_smr_t *d, cc_smr_stats_t *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof *out);
  if (d == NULL) return;
  sums_t s = sum_records(d);
  out->retired = s.retired;
  out->freed = s.freed;
  out->pending = s.retired > s.freed ? s.retired - s.freed : 0;
  out->scans = s.scans;
  out->neutralized = s.neutralized;
  peak_update((cc_smr_t *)d, out->pending);
  out->pending_peak = cc_atomic_load_relaxed(&((cc_smr_t *)d)->pending_peak);
  out->epoch = cc_atomic_load_acquire(&((cc_smr_t *)d)->epoch);
}

/* ------------------------------------------------------------ domains */

#define DEFAULT_EPOCH_FREQ 128
#define DEFAULT_EMPTY_FREQ 64
/* With the asymmetric fence every IBR scan pays a membarrier: about 1 us
 * with one thread, 10 to 50 us when it interrupts other running threads.
 * Scans every 1024 retirements keep the first to about 1 ns per
 * retirement; the second would cost up to 50 (on the 2-thread stack of
 * bench/smr, 4 to 20 ms of a 10 ms run), so the interval follows the cost
 * (asym.c, cc__smr_fence_paced) up to 4096, which also fills the reuse
 * pool (4096 nodes) at most once per scan. Pending stays bounded, by
 * (threads) x (2 epoch_freq + 2 empty_freq) plus what stalls pin. A
 * configured empty_freq (or CCOLL_IBR_EMPTY_FREQ) is used as is. */
#define DEFAULT_EMPTY_FREQ_ASYM 4096
#define DEFAULT_EMPTY_MIN_ASYM 1024
/* DEBRA with the asymmetric fence (debra.c, advance_asym): a thread tries
 * to advance the epoch once it retired this many blocks in the epoch
 * (CCOLL_DEBRA_ADVANCE_RETIRES) or ran this many operations
 * (CCOLL_DEBRA_EPOCH_OPS); a try pays a membarrier only when some thread
 * is quiescent in an older epoch and not parked. A membarrier costs
 * about 1 us when no other thread of the process runs (a system call) and
 * 10 to 40 us when one does (an IPI, a VM exit on a virtual machine); 4096
 * retirements take at least some 100 us. The retirement count adapts
 * between the two (asym.c, cc__smr_fence_paced): down to
 * CCOLL_DEBRA_ADVANCE_MIN while membarriers are cheap, where it keeps the
 * garbage a thread walks through small (setting it to the maximum turns
 * the adaptation off). */
#define DEFAULT_ADVANCE_RETIRES 4096
#define DEFAULT_ADVANCE_MIN 256
#define DEFAULT_EPOCH_OPS 65536

/* A tuning knob: the environment's value (1 .. 2^32-1), else the compiled
 * default; the IBR ones only where the configuration leaves them 0. */
static uint64_t knob(const char *var, uint64_t dflt) {
  uint64_t v = dflt;
  (void)cc__env_u64(var, 1, UINT32_MAX, &v);
  return v;
}

cc_smr_t *cc_smr_new(const cc_smr_config_t *cfg) {
  cc_smr_config_t c = cfg ? *cfg : (cc_smr_config_t){CC_SMR_DEFAULT, 0, 0};
  if ((unsigned)c.kind > CC_SMR_IBR) return NULL;
  if (c.kind == CC_SMR_DEFAULT) c.kind = (cc_smr_kind_t)cc__option_value(CC_OPT_SMR);
  cc_smr_t *d = cc__alloc_internal(sizeof *d, CC__LINE, true);
  if (d == NULL) return NULL;
  d->kind = c.kind;
  d->asym = c.kind != CC_SMR_NONE && cc__smr_asym_available();
  d->leak = c.kind != CC_SMR_NONE && cc__env_flag("CCOLL_SMR_LEAK", false);
  d->reuse = c.kind != CC_SMR_NONE && !d->leak && cc__smr_reuse_allowed();
  d->prefetch = d->reuse ? cc__smr_reuse_prefetch_mode() : CC__SMR_PF_OFF;
  d->epoch_freq = c.epoch_freq ? c.epoch_freq : (unsigned)knob("CCOLL_IBR_EPOCH_FREQ", DEFAULT_EPOCH_FREQ);
  uint64_t empty = c.empty_freq ? c.empty_freq : knob("CCOLL_IBR_EMPTY_FREQ", 0); /* 0: not set */
  d->empty_freq = empty ? (unsigned)empty : d->asym ? DEFAULT_EMPTY_FREQ_ASYM : DEFAULT_EMPTY_FREQ;
  d->empty_min = empty || !d->asym ? d->empty_freq : DEFAULT_EMPTY_MIN_ASYM;
  d->epoch_ops = knob("CCOLL_DEBRA_EPOCH_OPS", DEFAULT_EPOCH_OPS);
  d->advance_retires = (size_t)knob("CCOLL_DEBRA_ADVANCE_RETIRES", DEFAULT_ADVANCE_RETIRES);
  d->advance_min = (size_t)knob("CCOLL_DEBRA_ADVANCE_MIN", DEFAULT_ADVANCE_MIN);
  if (d->advance_min > d->advance_retires) d->advance_min = d->advance_retires;
  cc_atomic_store_relaxed(&d->epoch, 1);
  if (pthread_mutex_init(&d->lock, NULL) != 0) {
    cc_free(d, sizeof *d);
    return NULL;
  }
  if (d->kind == CC_SMR_DEBRA_PLUS) cc__smr_debrap_setup(d);
  pthread_mutex_lock(&reg_lock);
  d->id = next_id++;
  d->live_next = live_domains;
  if (live_domains) live_domains->live_prev = d;
  live_domains = d;
  pthread_mutex_unlock(&reg_lock);
  cc__track_domain_register(d); /* profiler reports list every live domain */
  return d;
}

static cc_smr_t *default_domain;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_create(void) {
  cc_smr_config_t c = {(cc_smr_kind_t)cc__option_freeze(CC_OPT_SMR), 0, 0};
  default_domain = cc_smr_new(&c);
}

cc_smr_t *cc_smr_default(void) {
  pthread_once(&default_once, default_create);
  return default_domain;
}

/* Everything a record still holds, freed without waiting: no operation
 * runs any more. */
static void record_destroy(cc__smr_thr_t *t) {
  if (t->dom->kind == CC_SMR_DEBRA || t->dom->kind == CC_SMR_DEBRA_PLUS) cc__smr_debra_destroy(t);
  cc__smr_reclaim_blocks(t->limbo.head);
  cc__smr_reclaim_blocks(t->leaked.head);
  reclaim_chain(t->chain);
  cc__smr_pool_drop(t);
  cc__smr_recs_drop(t);
  cc__smr_reuse_drop(t);
  cc__smr_scratch_free(t);
  if (t->spare_orphan != NULL) cc_free(t->spare_orphan, sizeof *t->spare_orphan);
  cc_free(t, sizeof *t);
}

void cc_smr_free(cc_smr_t *d) {
  if (d == NULL || d == default_domain) return;
  cc__track_domain_unregister(d);
  pthread_mutex_lock(&reg_lock);
  if (d->live_prev) d->live_prev->live_next = d->live_next;
  else live_domains = d->live_next;
  if (d->live_next) d->live_next->live_prev = d->live_prev;
  pthread_mutex_unlock(&reg_lock);
  if (cc__smr_tls.id == d->id) cc__smr_tls.id = 0;

  cc__smr_orphan_t *o = cc_atomic_load_relaxed(&d->orphans);
  while (o != NULL) {
    cc__smr_orphan_t *next = o->next;
    cc__smr_reclaim_blocks(o->blocks);
    reclaim_chain(o->chain);
    cc_free(o, sizeof *o);
    o = next;
  }
  cc__smr_thr_t *t = cc_atomic_load_relaxed(&d->threads);
  while (t != NULL) {
    cc__smr_thr_t *next = cc_atomic_load_relaxed(&t->next);
    record_destroy(t);
    t = next;
  }
  pthread_mutex_destroy(&d->lock);
  cc_free(d, sizeof *d);
}

cc_smr_kind_t cc_smr_kind(const cc_smr_t *d) { return d ? d->kind : CC_SMR_DEFAULT; }

/* ------------------------------------------------------------ public API */

/* Runs the scheme's inline function for d's kind. */
#define SMR_DISPATCH(d, op, ...)                                        \
  do {                                                                  \
    switch ((d)->kind) {                                                \
    case CC_SMR_NONE: CC__SMR(none, op)(__VA_ARGS__); break;            \
    case CC_SMR_DEBRA: CC__SMR(debra, op)(__VA_ARGS__); break;          \
    case CC_SMR_DEBRA_PLUS: CC__SMR(debrap, op)(__VA_ARGS__); break;    \
    default: CC__SMR(ibr, op)(__VA_ARGS__); break;                      \
    }                                                                   \
  } while (0)

void cc_smr_enter(cc_smr_t *d) {
  if (d == NULL) return;
  cc__smr_thr_t *t = cc__smr_thr(d);
  if (t == NULL) cc__smr_oom("a thread record");
  SMR_DISPATCH(d, begin, t);
  t->user_depth++;
}

void cc_smr_leave(cc_smr_t *d) {
  if (d == NULL) return;
  cc__smr_thr_t *t = cc__smr_thr(d);
  if (t == NULL || t->user_depth == 0) return; /* unbalanced: ignored */
  t->user_depth--;
  SMR_DISPATCH(d, end, t);
}

void *cc_smr_protect(cc_smr_t *d, void *const *src) {
  if (d == NULL || src == NULL) return NULL;
  cc__smr_thr_t *t = cc__smr_thr(d);
  if (t == NULL) cc__smr_oom("a thread record");
  /* a void * object read as the uintptr_t link word the schemes expect:
   * same size and representation on every supported platform */
  cc_atomic(uintptr_t) *w = (cc_atomic(uintptr_t) *)(uintptr_t)src;
  uintptr_t v = 0;
  switch (d->kind) {
  case CC_SMR_NONE: v = cc__smr_none_read(t, w); break;
  case CC_SMR_DEBRA: v = cc__smr_debra_read(t, w); break;
  case CC_SMR_DEBRA_PLUS: v = cc__smr_debrap_read(t, w); break;
  default: v = cc__smr_ibr_read(t, w); break;
  }
  return (void *)v;
}

void *cc_smr_alloc(cc_smr_t *d, size_t size) {
  if (d == NULL || size == 0 || size > SIZE_MAX - 2 * CC__LINE) return NULL;
  cc__smr_thr_t *t = cc__smr_thr(d);
  if (t == NULL) return NULL;
  size_t total = sizeof(cc__smr_hdr_t) + size;
  cc__smr_hdr_t *h = NULL;
  switch (d->kind) {
  case CC_SMR_NONE: h = cc__smr_none_alloc(t, total); break;
  case CC_SMR_DEBRA: h = cc__smr_debra_alloc(t, total); break;
  case CC_SMR_DEBRA_PLUS: h = cc__smr_debrap_alloc(t, total); break;
  default: h = cc__smr_ibr_alloc(t, total); break;
  }
  return h ? (void *)(h + 1) : NULL;
}

/* Whether a user retirement from this thread (record t, NULL if it could
 * not be registered) can be deferred: its bookkeeping reserved
 * (cc__smr_reserve). If not, and the thread is outside every section of
 * d, the caller waits for the readers instead (synchronous), as liburcu's
 * defer_rcu does when its queue is full: no allocation, no abort. NONE
 * frees nothing before cc_smr_free, and inside a section the wait would
 * be for this thread itself: both go on and allocate at the retirement,
 * which aborts without memory. */
static bool user_retire_deferred(cc_smr_t *d, cc__smr_thr_t *t, bool rec) {
  if (d->kind == CC_SMR_NONE) {
    if (t == NULL) cc__smr_oom("a thread record");
    return true; /* a record, if needed, is allocated by the retirement */
  }
  if (t != NULL && (cc__smr_reserve(t, true, rec) || t->depth != 0)) return true;
  if (d->kind == CC_SMR_IBR) cc__smr_ibr_synchronize(d);
  else cc__smr_debra_synchronize(d);
  if (t != NULL) { /* retired and freed at once, as the statistics see it */
    cc_atomic_add_owner_u64(&t->st_retired, 1);
    cc_atomic_add_owner_u64(&t->st_freed, 1);
  }
  return false;
}

/* Retiring happens inside an operation: epoch schemes label the block with
 * the epoch this thread announces, which must not be stale. */
void cc_smr_retire(cc_smr_t *d, void *block) {
  if (d == NULL || block == NULL) return;
  cc__smr_thr_t *t = cc__smr_thr(d);
  cc__smr_hdr_t *h = (cc__smr_hdr_t *)block - 1;
  if (!user_retire_deferred(d, t, false)) {
    cc__smr_block_free(h); /* no reader left */
    return;
  }
  SMR_DISPATCH(d, begin, t);
  SMR_DISPATCH(d, retire, t, h);
  SMR_DISPATCH(d, end, t);
}

void cc_smr_retire_fn(cc_smr_t *d, void *p, void (*fn)(void *p, void *ctx), void *ctx) {
  if (d == NULL || fn == NULL) return;
  cc__smr_thr_t *t = cc__smr_thr(d);
  if (!user_retire_deferred(d, t, true)) {
    fn(p, ctx); /* no reader left */
    return;
  }
  SMR_DISPATCH(d, begin, t);
  SMR_DISPATCH(d, retire_fn, t, p, fn, ctx);
  SMR_DISPATCH(d, end, t);
}

void cc_smr_drain(cc_smr_t *d) {
  if (d == NULL) return;
  cc__smr_thr_t *t = cc__smr_thr(d);
  if (t == NULL) return;
  switch (d->kind) {
  case CC_SMR_NONE: break;
  case CC_SMR_DEBRA:
  case CC_SMR_DEBRA_PLUS: cc__smr_debra_drain(t); break;
  default: cc__smr_ibr_drain(t); break;
  }
  /* what was just made safe goes back to the allocator, not to the pool */
  cc__smr_reuse_drop(t);
}
