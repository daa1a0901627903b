/* Internal: IBR, the 2GEIBR variant (Wen, Izraelevitz, Cai, Beadle, Scott,
 * PPoPP'18).
 *
 * Every block carries its birth epoch; retiring stamps its retire epoch.
 * A thread in an operation reserves the interval [lower, upper] of epochs:
 * lower is the epoch at begin, upper is raised by a protected read only
 * when the global epoch moved since the last one. A retired block whose
 * [birth, retire] meets no reservation cannot be reached by anyone and is
 * freed. Unlike epoch schemes a stalled thread pins only the blocks alive
 * during its interval: blocks born after its upper reservation stay
 * reclaimable, so garbage stays bounded. The global epoch moves every
 * epoch_freq allocations of a thread, and on a scan that found the epoch
 * where the thread's previous scan left it (a workload that retires
 * without allocating). Scans (ibr.c) run every scan_at retirements: the
 * domain's empty_freq, or with the asymmetric fence between empty_min and
 * empty_freq, following what the scan's membarrier costs. */
#ifndef CCOLL_SMR_IBR_H
#define CCOLL_SMR_IBR_H

#define CC__SMR_READ_PHASE_ibr(t) ((void)(t))

void cc__smr_ibr_scan(cc__smr_thr_t *t);

static inline void cc__smr_ibr_begin(cc__smr_thr_t *t) {
  if (t->depth++ != 0) return;
  uint64_t e = cc_atomic_load_acquire(&t->dom->epoch);
  t->local_epoch = e;
  /* upper first: a scanner that sees the new lower (a release store at
   * least) sees this upper or a later one */
  cc_atomic_store_relaxed(&t->upper, e);
  /* the reservation is visible before the first protected load, or that
   * load follows the scanner's membarrier (asym.c) */
  cc__smr_announce_store(t, &t->lower, e);
}

static inline void cc__smr_ibr_end(cc__smr_thr_t *t) {
  if (--t->depth != 0) return;
  /* release: the operation's reads happen before the reservation goes */
  cc_atomic_store_release(&t->lower, CC__SMR_NO_RESERVATION);
}

uintptr_t cc__smr_ibr_read_raise(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src);

/* The target of the pointer loaded is covered by [lower, upper] once the
 * epoch read after the load equals upper: it was reachable (so not yet
 * retired) at that load, which happened within the reservation, and it was
 * born at an epoch no later than the one read (its birth was read before
 * the CAS that published it, which the acquire load synchronises with), so
 * at most upper. That needs the epoch read after the pointer, which the
 * acquire gives: relaxed is enough. The fast path is the algorithm's
 * minimum, one epoch load and a compare per link; raising upper is out of
 * line (ibr.c). */
static inline uintptr_t cc__smr_ibr_read(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src) {
  uintptr_t x = cc_atomic_load_acquire(src);
  if (cc_likely(cc_atomic_load_relaxed(&t->dom->epoch) == t->local_epoch)) return x;
  return cc__smr_ibr_read_raise(t, src);
}

cc__smr_pair_t cc__smr_ibr_read_pair_raise(cc__smr_thr_t *t, cc_atomic(uintptr_t) *a,
                                           cc_atomic(uintptr_t) *b);

/* Two links, one epoch check: the epoch read after both loads covers
 * both targets, by the argument above (a BST seek step reads both edges
 * of a node; the check per link was a third of its instructions). */
static inline cc__smr_pair_t cc__smr_ibr_read_pair(cc__smr_thr_t *t, cc_atomic(uintptr_t) *a,
                                                   cc_atomic(uintptr_t) *b) {
  cc__smr_pair_t p = cc__smr_load_pair(a, b);
  if (cc_likely(cc_atomic_load_relaxed(&t->dom->epoch) == t->local_epoch)) return p;
  return cc__smr_ibr_read_pair_raise(t, a, b);
}

/* `size`: a header size word (cc__smr_size_word), 0 for none. */
static inline void *cc__smr_ibr_alloc_word(cc__smr_thr_t *t, uint32_t size) {
  if (cc_unlikely(size == 0)) return NULL;
  cc__smr_hdr_t *h = cc__smr_reuse_alloc(t, size);
  if (cc_unlikely(h == NULL)) return NULL;
  cc_smr_t *d = t->dom;
  if (cc_unlikely(--t->alloc_left == 0)) {
    t->alloc_left = d->epoch_freq;
    cc_atomic_fetch_add_acq_rel(&d->epoch, 1);
  }
  /* dated before it can be published (the publishing CAS releases it),
   * a reused block as a new one: its old life is over */
  *cc__smr_word(h) = cc_atomic_load_acquire(&d->epoch);
  return h;
}

static inline void *cc__smr_ibr_alloc(cc__smr_thr_t *t, size_t size) {
  return cc__smr_ibr_alloc_word(t, cc__smr_size_word(size, 0));
}

/* A packed block's birth goes in front of it (CC__SMR_PREFIXED): the
 * container's bytes start right after the 8-byte header on every scheme. */
static inline void *cc__smr_ibr_alloc_packed(cc__smr_thr_t *t, size_t size) {
  return cc__smr_ibr_alloc_word(t, cc__smr_size_word(size, CC__SMR_PACKED | CC__SMR_PREFIXED));
}

static inline void cc__smr_ibr_dealloc(cc__smr_thr_t *t, void *node) {
  cc__smr_node_free(t, (cc__smr_hdr_t *)node);
}

static inline void cc__smr_ibr_retire(cc__smr_thr_t *t, void *node) {
  /* read after the unlink: no reader reserved an epoch past the block's
   * reachability without this value being at least that epoch */
  uint64_t retire = cc_atomic_load_acquire(&t->dom->epoch);
  cc__smr_bag_push(t, &t->limbo, (cc__smr_hdr_t *)node, retire);
  cc_atomic_add_owner_u64(&t->st_retired, 1);
  if (cc_unlikely(--t->retire_left == 0)) cc__smr_ibr_scan(t);
}

static inline void cc__smr_ibr_retire_fn(cc__smr_thr_t *t, void *p, void (*fn)(void *, void *),
                                         void *ctx) {
  cc__smr_retire_fn_slow(t, p, fn, ctx, cc__smr_ibr_retire);
}

static inline void cc__smr_ibr_protect(cc__smr_thr_t *t, unsigned slot, const void *node) {
  (void)t, (void)slot, (void)node;
}

/* Before an operation's first write (smr_types.h, cc__smr_reserve). */
static inline bool cc__smr_ibr_reserve(cc__smr_thr_t *t, bool rec) {
  return cc__smr_reserve(t, true, rec);
}

static inline void cc__smr_ibr_write_phase(cc__smr_thr_t *t) { (void)t; }

#endif /* CCOLL_SMR_IBR_H */
