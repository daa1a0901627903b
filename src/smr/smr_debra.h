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

/* With the reuse pool on, safe blocks left on the freeable list for this
 * thread's allocations to take (cc__smr_debra_take): about what one epoch
 * makes safe (advance_retires), and the pool's own bound in 64-byte
 * nodes. They count as pending until taken or freed. */
#define CC__SMR_DEBRA_KEEP 4096

/* Operations between two checks of another thread's announcement. Each
 * check reads a line its owner writes twice per operation, a coherence
 * miss; Brown's own implementation reads one every few operations for the
 * same reason (MIN_OPS_BEFORE_READ). An epoch then lasts about
 * CHECK_EVERY x (threads + 1) operations of the fastest thread, which also
 * keeps one thread alone from rotating its bags on every operation. */
#define CC__SMR_DEBRA_CHECK_EVERY 8
/* With the asymmetric fence a thread tries an advance only once it retired
 * advance_at (256 to 4096) blocks in the epoch, or after epoch_ops (65536)
 * operations (debra.c, advance_asym), so a round only needs to finish well
 * within that: fewer of those coherence misses. DEBRA's round then starts
 * only once a try is wanted (debra.c, cc__smr_debra_tick); DEBRA+ runs it
 * throughout. */
#define CC__SMR_DEBRA_CHECK_EVERY_ASYM 32

void cc__smr_debra_new_epoch(cc__smr_thr_t *t, uint64_t e);
void cc__smr_debra_move_epoch(cc__smr_thr_t *t, uint64_t e);
void cc__smr_debra_reannounce(cc__smr_thr_t *t);
void cc__smr_debra_passed_all(cc__smr_thr_t *t, uint64_t e);
void cc__smr_debra_blocked(cc__smr_thr_t *t, cc__smr_thr_t *c);
void cc__smr_debra_mismatch(cc__smr_thr_t *t, cc__smr_hdr_t *h);

static inline void cc__smr_debra_free_some(cc__smr_thr_t *t) {
  for (int i = 0; i < CC__SMR_DEBRA_AMORT && t->freeable.head != NULL; i++) {
    /* bookkeeping first: reclaiming may run a retire_fn callback that
     * itself uses this domain */
    cc__smr_reclaim(t, cc__smr_bag_pop(t, &t->freeable));
  }
}

/* The freeable list is the reuse pool's first tier (smr_reuse.h): with the
 * pool on, an allocation takes a safe block of its size straight from it,
 * and begin trims it only past freeable_keep blocks. A block so reused is
 * never written between its retirement and its next life: not by a pool
 * chain (a write into a line the thread that freed it may still share),
 * not by the allocator. It passes both of the allocator's gates, as a
 * reclamation into the pool and a take from it would. NULL: allocate the
 * usual way. */
static inline cc__smr_hdr_t *cc__smr_debra_take(cc__smr_thr_t *t, uint32_t size) {
  cc__smr_blk_t *b = t->freeable.head;
  if (b == NULL || !t->reuse_on) return NULL;
  cc__smr_hdr_t *h = b->e[b->n - 1].p;
  if (cc_unlikely(h->size != size)) {
    /* A container of two node sizes (the BST's packed leaves and internal
     * nodes) retires them interleaved: the entry below often fits. The
     * list's order means nothing (every entry is safe). */
    cc__smr_ent_t *below = b->n >= 2 ? &b->e[b->n - 2] : NULL;
    if (below == NULL || below->p->size != size) {
      cc__smr_debra_mismatch(t, h);
      return NULL;
    }
    b->e[b->n - 1].p = below->p;
    below->p = h;
    h = b->e[b->n - 1].p;
  }
  if (cc__countdown_expired(&cc__prof_tls.gate)) return NULL;
  if (b->n >= 2) cc__smr_reuse_prefetch(t, b->e[b->n - 2].p); /* the next take's */
  (void)cc__smr_bag_pop(t, &t->freeable);
  if (cc_unlikely(cc__countdown_expired(&cc__prof_tls.free_gate))) {
    cc__smr_node_free(t, h); /* the free the allocator must see */
    cc_atomic_add_owner_u64(&t->st_freed, 1);
    return NULL;
  }
  cc_atomic_add_owner_u64(&t->st_taken, 1);
  return h;
}

/* The part of begin that frees: amortised, past what allocations may take. */
static inline void cc__smr_debra_trim(cc__smr_thr_t *t) {
  if (t->freeable.count > t->freeable_keep) cc__smr_debra_free_some(t);
}

/* Every check_every operations: one step of the round robin (debra.c). */
void cc__smr_debra_tick(cc__smr_thr_t *t, bool plus);

/* The part of begin shared by DEBRA and DEBRA+, once depth is 1. */
static inline void cc__smr_debra_announce(cc__smr_thr_t *t, bool plus) {
  cc_smr_t *d = t->dom;
  uint64_t e = cc_atomic_load_acquire(&d->epoch);
  if (cc_unlikely(e != t->local_epoch)) {
    /* out of line, with a fenced store: this thread may be parked */
    cc__smr_debra_reannounce(t);
  } else {
    cc__smr_announce_store(t, &t->announce, e << 1);
    /* The epoch may have moved between the load and the announcement (this
     * thread was quiescent then, or its announcement not yet visible):
     * announce the newer one. Not only a saving: the bag label is the
     * announced epoch, and this check, made once the announcement is
     * visible to every later advancer (seq_cst store, or membarrier on the
     * advancer's side), is what keeps the epoch from passing label + 1
     * while this operation runs. */
    if (cc_unlikely(cc_atomic_load_seq_cst(&d->epoch) != e)) cc__smr_debra_reannounce(t);
  }
  /* a countdown: one decrement and branch per operation, the rest out of line */
  if (cc_unlikely(--t->check_tick == 0)) cc__smr_debra_tick(t, plus);
}

static inline void cc__smr_debra_begin(cc__smr_thr_t *t) {
  if (t->depth != 0) {
    t->depth++;
    return;
  }
  cc__smr_debra_trim(t);
  t->depth = 1;
  cc__smr_debra_announce(t, false);
}

static inline void cc__smr_debra_end(cc__smr_thr_t *t) {
  if (--t->depth != 0) return;
  /* release: this operation's reads happen before a checker sees it quiescent */
  cc_atomic_store_release(&t->announce, CC__SMR_QUIET(t->local_epoch));
}

static inline uintptr_t cc__smr_debra_read(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src) {
  (void)t;
  return cc_atomic_load_acquire(src);
}

static inline cc__smr_pair_t cc__smr_debra_read_pair(cc__smr_thr_t *t, cc_atomic(uintptr_t) *a,
                                                  cc_atomic(uintptr_t) *b) {
  (void)t;
  return cc__smr_load_pair(a, b);
}

/* `size`: a header size word (cc__smr_size_word), 0 for none. */
static inline void *cc__smr_debra_alloc_word(cc__smr_thr_t *t, uint32_t size) {
  if (cc_unlikely(size == 0)) return NULL;
  cc__smr_hdr_t *h = cc__smr_debra_take(t, size);
  return cc_likely(h != NULL) ? h : cc__smr_reuse_alloc_slow(t, size);
}

static inline void *cc__smr_debra_alloc(cc__smr_thr_t *t, size_t size) {
  return cc__smr_debra_alloc_word(t, cc__smr_size_word(size, 0));
}

static inline void *cc__smr_debra_alloc_packed(cc__smr_thr_t *t, size_t size) {
  return cc__smr_debra_alloc_word(t, cc__smr_size_word(size, CC__SMR_PACKED));
}

static inline void cc__smr_debra_dealloc(cc__smr_thr_t *t, void *node) {
  cc__smr_node_free(t, (cc__smr_hdr_t *)node);
}

static inline void cc__smr_debra_push(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  (void)cc__smr_bag_add(t, &t->bag[t->cur], h);
  cc_atomic_add_owner_u64(&t->st_retired, 1);
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

/* Before an operation's first write (smr_types.h, cc__smr_reserve). */
static inline bool cc__smr_debra_reserve(cc__smr_thr_t *t, bool rec) {
  return cc__smr_reserve(t, true, rec);
}

static inline void cc__smr_debra_write_phase(cc__smr_thr_t *t) { (void)t; }

#endif /* CCOLL_SMR_DEBRA_H */
