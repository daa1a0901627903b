/* Internal: DEBRA (Brown, PODC'15): distributed epoch-based reclamation.
 *
 * A thread announces the global epoch (with a quiescent bit) for the span of
 * an operation. Operations check ONE other thread's announcement (round
 * robin, every CC__SMR_DEBRA_CHECK_EVERY operations); once a thread has seen
 * every thread quiescent or in the current epoch it advances the global
 * epoch. Retired blocks go to the newest of three limbo bags, labelled
 * with the epoch they were retired in; a bag labelled L is safe once the
 * epoch reaches L + 3 (a reader that could hold one of its blocks announced
 * at most L + 1 and holds the epoch below L + 3 until it finishes). Safe bags
 * move to a freeable list that each operation trims by a few blocks
 * (amortised freeing, Kim/Brown/Singh PPoPP'24), so no operation pays for a
 * whole bag. Slow paths live in debra.c. */
#ifndef CCOLL_SMR_DEBRA_H
#define CCOLL_SMR_DEBRA_H

#define CC__SMR_READ_PHASE_debra(t) ((void)(t))

/* blocks freed per operation: more than the at most one retired per
 * operation, so the freeable list drains while the workload runs */
#define CC__SMR_DEBRA_AMORT 2

/* Operations between two checks of another thread's announcement. Each
 * check reads a line its owner writes twice per operation, a coherence
 * miss; Brown's own implementation reads one every few operations for the
 * same reason (MIN_OPS_BEFORE_READ). An epoch then lasts about
 * CHECK_EVERY x (threads + 1) operations of the fastest thread, which also
 * keeps one thread alone from rotating its bags on every operation. */
#define CC__SMR_DEBRA_CHECK_EVERY 8
/* With the asymmetric fence a thread tries an advance at most once per
 * epoch_ops (4096) of its operations whatever the checks find, so a round
 * only needs to finish well within that: fewer of those coherence misses. */
#define CC__SMR_DEBRA_CHECK_EVERY_ASYM 32

void cc__smr_debra_new_epoch(cc__smr_thr_t *t, uint64_t e);
void cc__smr_debra_reannounce(cc__smr_thr_t *t);
void cc__smr_debra_passed_all(cc__smr_thr_t *t, uint64_t e);
void cc__smr_debra_blocked(cc__smr_thr_t *t, cc__smr_thr_t *c);
void cc__smr_debra_drop_block(cc__smr_thr_t *t);

static inline void cc__smr_debra_free_some(cc__smr_thr_t *t) {
  for (int i = 0; i < CC__SMR_DEBRA_AMORT; i++) {
    cc__smr_blk_t *b = t->freeable.head;
    if (b == NULL) return;
    cc__smr_hdr_t *h = b->e[--b->n].p;
    t->freeable.count--;
    /* bookkeeping first: reclaiming may run a retire_fn callback that
     * itself uses this domain */
    if (b->n == 0) cc__smr_debra_drop_block(t);
    cc__smr_reclaim(t, h);
  }
}

/* One step of the round robin: move past `c` when it cannot hold the epoch
 * back; after the last thread, advance the epoch. `plus`: DEBRA+ (may
 * neutralise the thread that blocks). */
static inline void cc__smr_debra_check(cc__smr_thr_t *t, uint64_t e, bool plus) {
  cc__smr_thr_t *c = t->cursor;
  if (cc_unlikely(c == NULL)) {
    cc__smr_debra_passed_all(t, e);
    return;
  }
  /* acquire: a quiescent bit seen here orders c's finished reads before
   * whatever this thread later frees */
  uint64_t a = cc_atomic_load_acquire(&c->announce);
  if ((a & CC__SMR_QUIESCENT) || (a >> 1) == e) t->cursor = cc_atomic_load_acquire(&c->next);
  else if (plus) cc__smr_debra_blocked(t, c);
}

/* The part of begin shared by DEBRA and DEBRA+, once depth is 1. */
static inline void cc__smr_debra_announce(cc__smr_thr_t *t, bool plus) {
  cc_smr_t *d = t->dom;
  uint64_t e = cc_atomic_load_acquire(&d->epoch);
  if (cc_unlikely(e != t->local_epoch)) cc__smr_debra_new_epoch(t, e);
  cc__smr_announce_store(t, &t->announce, e << 1);
  /* The epoch may have moved between the load and the announcement (this
   * thread was quiescent then, or its announcement not yet visible):
   * announce the newer one. Not only a saving: the bag label is the
   * announced epoch, and this check, made once the announcement is
   * visible to every later advancer (seq_cst store, or membarrier on the
   * advancer's side), is what keeps the epoch from passing label + 1 while
   * this operation runs. */
  if (cc_unlikely(cc_atomic_load_seq_cst(&d->epoch) != e)) cc__smr_debra_reannounce(t);
  if (++t->check_tick >= t->check_every) {
    t->check_tick = 0;
    t->epoch_ops += t->check_every;
    cc__smr_debra_check(t, t->local_epoch, plus);
  }
}

static inline void cc__smr_debra_begin(cc__smr_thr_t *t) {
  if (t->depth != 0) {
    t->depth++;
    return;
  }
  if (t->freeable.head != NULL) cc__smr_debra_free_some(t);
  t->depth = 1;
  cc__smr_debra_announce(t, false);
}

static inline void cc__smr_debra_end(cc__smr_thr_t *t) {
  if (--t->depth != 0) return;
  /* release: this operation's reads happen before a checker sees it quiescent */
  cc_atomic_store_release(&t->announce, (t->local_epoch << 1) | CC__SMR_QUIESCENT);
}

static inline uintptr_t cc__smr_debra_read(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src) {
  (void)t;
  return cc_atomic_load_acquire(src);
}

static inline void *cc__smr_debra_alloc(cc__smr_thr_t *t, size_t size) {
  return cc__smr_reuse_alloc(t, size);
}

static inline void cc__smr_debra_dealloc(cc__smr_thr_t *t, void *node) {
  cc__smr_node_free(t, (cc__smr_hdr_t *)node);
}

static inline void cc__smr_debra_push(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  cc__smr_bag_push(t, &t->bag[t->cur], h, 0);
  cc_atomic_add_owner(&t->st_retired, 1);
}

/* Called inside an operation, which announced local_epoch: the bag's label. */
static inline void cc__smr_debra_retire(cc__smr_thr_t *t, void *node) {
  cc__smr_debra_push(t, (cc__smr_hdr_t *)node);
}

static inline void cc__smr_debra_retire_fn(cc__smr_thr_t *t, void *p, void (*fn)(void *, void *),
                                           void *ctx) {
  cc__smr_retire_fn_slow(t, p, fn, ctx, cc__smr_debra_retire);
}

static inline void cc__smr_debra_protect(cc__smr_thr_t *t, unsigned slot, const void *node) {
  (void)t, (void)slot, (void)node;
}

static inline void cc__smr_debra_write_phase(cc__smr_thr_t *t) { (void)t; }

#endif /* CCOLL_SMR_DEBRA_H */
