/* Internal: DEBRA+ (Brown, PODC'15): DEBRA that neutralises a thread holding
 * the epoch back.
 *
 * An operation is split in a restartable read phase and a write phase
 * (NBR, Singh/Brown/Mashtizadeh PPoPP'21, uses the same split). When a
 * thread's limbo bags grow past a threshold while another thread blocks the
 * epoch, it signals that thread (neutralize.c). The handler, running in the
 * blocking thread:
 *   - read phase: announces quiescence and jumps back to the start of the
 *     read phase (sigsetjmp in CC__SMR_READ_PHASE), which re-announces the
 *     current epoch before reading again;
 *   - write phase: announces quiescence and returns; the operation goes on
 *     touching only the nodes it protected in its slots, which every DEBRA+
 *     reclaimer honours, and its own new nodes;
 *   - otherwise (between operations, in a user section or an operation
 *     nested in one): does nothing. User sections are never restarted.
 * Without neutralisation (TSan builds) this is DEBRA plus unused slots. */
#ifndef CCOLL_SMR_DEBRAP_H
#define CCOLL_SMR_DEBRAP_H

void cc__smr_debrap_recover(cc__smr_thr_t *t);
void cc__smr_debrap_tick(cc__smr_thr_t *t);

/* CCOLL_DEBRA_NEUTRALIZE_EVERY=N: every N read or write phases, a
 * neutralisation signal goes to this thread (landing in its read or write
 * phase) or to another one, so the recovery paths run all the time. */
static inline void cc__smr_debrap_maybe_force(cc__smr_thr_t *t) {
  if (cc_unlikely(t->force_every != 0)) cc__smr_debrap_tick(t);
}

#if CC__SMR_NEUTRALIZE
/* The record of the operation this thread is running in a DEBRA+ domain:
 * the signal handler's only way to it. */
extern cc_thread_local cc__smr_thr_t *volatile cc__smr_cur;
/* 1 while a neutralisation signal to this thread is in flight: at most one
 * is ever queued, so deliveries cannot pile up (SA_NODEFER nests them). */
extern cc_thread_local cc_atomic(int) cc__smr_sig_pending;

static inline void cc__smr_debrap_set_phase(cc__smr_thr_t *t, int phase) {
  /* relaxed: other threads read the phase as a hint only; the handler runs
   * on this thread, ordered by the signal fence */
  atomic_signal_fence(memory_order_seq_cst);
  cc_atomic_store_relaxed(&t->phase, phase);
  atomic_signal_fence(memory_order_seq_cst);
}

/* Entered after sigsetjmp, also after a jump back. Leaves the thread in its
 * read phase with an announcement no reclaimer has passed over. */
static inline void cc__smr_debrap_enter_read(cc__smr_thr_t *t) {
  for (;;) {
    if (cc_unlikely(t->neutralized_flag)) cc__smr_debrap_recover(t);
    cc__smr_cur = t; /* before the phase: the handler finds the record through it */
    cc__smr_debrap_set_phase(t, CC__SMR_READ);
    /* a signal after this point jumps back; one before it only set the flag */
    if (cc_likely(!t->neutralized_flag)) {
      cc__smr_debrap_maybe_force(t);
      return;
    }
    cc__smr_debrap_set_phase(t, CC__SMR_HOLD);
  }
}

/* Restartable only for an outermost operation outside user sections. */
#  define CC__SMR_READ_PHASE_debrap(t)                                      \
    do {                                                                   \
      cc__smr_thr_t *const cc__rp_t = (t);                                 \
      if (cc__rp_t->depth == 1 && cc__rp_t->user_depth == 0) {             \
        (void)sigsetjmp(cc__rp_t->env, 0);                                 \
        cc__smr_debrap_enter_read(cc__rp_t);                               \
      }                                                                    \
    } while (0)
#else
static inline void cc__smr_debrap_set_phase(cc__smr_thr_t *t, int phase) {
  (void)t, (void)phase;
}
#  define CC__SMR_READ_PHASE_debrap(t) ((void)(t))
#endif

static inline void cc__smr_debrap_begin(cc__smr_thr_t *t) {
  if (t->depth != 0) {
    t->depth++;
    return;
  }
  cc__smr_debra_trim(t);
  t->depth = 1;
  /* the phase stays IDLE until a read phase: the handler leaves the thread
   * alone, as it must outside restartable or slot-protected code */
  cc__smr_debra_announce(t, true);
}

static inline void cc__smr_debrap_clear_slots(cc__smr_thr_t *t) {
  unsigned m = t->slots_used;
  t->slots_used = 0;
  t->slots_exposed = false;
  while (m != 0) {
    unsigned i = (unsigned)__builtin_ctz(m);
    m &= m - 1;
    cc_atomic_store_relaxed(&t->slots[i], 0);
  }
}

static inline void cc__smr_debrap_end(cc__smr_thr_t *t) {
  if (t->depth != 1) {
    t->depth--;
    return;
  }
  /* Leave the restartable phase BEFORE the depth drops: an operation that
   * answers from its read phase (get, nav, a failed insert...) ends with
   * the phase still READ, and a signal landing between the two would jump
   * back into the operation with depth 0. It would then run unannounced,
   * and every later begin would take itself for a nested one and never
   * announce again: the use-after-free this order prevents. A signal
   * before this line just restarts the read phase, which is harmless. */
  cc__smr_debrap_set_phase(t, CC__SMR_IDLE);
  t->depth = 0;
#if CC__SMR_NEUTRALIZE
  /* an operation nested in another's write phase (a retire_fn callback)
   * leaves the outer one unreachable by the handler: it is then simply
   * not neutralised. A flag left set costs the next read phase a
   * redundant re-announcement. */
  cc__smr_cur = NULL;
#endif
  if (t->slots_used != 0) cc__smr_debrap_clear_slots(t);
  cc_atomic_store_release(&t->announce, CC__SMR_QUIET(t->local_epoch));
}

static inline uintptr_t cc__smr_debrap_read(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src) {
  (void)t;
  return cc_atomic_load_acquire(src);
}

static inline cc__smr_pair_t cc__smr_debrap_read_pair(cc__smr_thr_t *t, cc_atomic(uintptr_t) *a,
                                                  cc_atomic(uintptr_t) *b) {
  (void)t;
  return cc__smr_load_pair(a, b);
}

static inline void cc__smr_debrap_write_phase(cc__smr_thr_t *t);

/* DEBRA's allocation, out of line: DEBRA+ containers allocate in functions
 * that also call sigsetjmp, where gcc takes the inlined pool's locals for
 * values a jump could clobber (-Wclobbered). */
static cc_noinline void *cc__smr_debrap_alloc_call(cc__smr_thr_t *t, uint32_t size) {
  if (cc_unlikely(size == 0)) return NULL;
  cc__smr_hdr_t *h = cc__smr_debra_take(t, size);
  return cc_likely(h != NULL) ? h : cc__smr_reuse_alloc(t, size); /* inline: this is out of line */
}

/* alloc, dealloc and retire call into the allocator: should a container
 * call them inside its read phase, that phase ends here rather than let a
 * jump tear an allocator's state. */
static inline void *cc__smr_debrap_alloc(cc__smr_thr_t *t, size_t size) {
  cc__smr_debrap_write_phase(t);
  return cc__smr_debrap_alloc_call(t, cc__smr_size_word(size, 0));
}

static inline void *cc__smr_debrap_alloc_packed(cc__smr_thr_t *t, size_t size) {
  cc__smr_debrap_write_phase(t);
  return cc__smr_debrap_alloc_call(t, cc__smr_size_word(size, CC__SMR_PACKED));
}

static inline void cc__smr_debrap_dealloc(cc__smr_thr_t *t, void *node) {
  cc__smr_debrap_write_phase(t);
  cc__smr_node_free(t, (cc__smr_hdr_t *)node);
}

/* A neutralised thread keeps working in its write phase after the epoch
 * moved on without it, so the bag label cannot be its announcement: it is
 * the epoch read here, after the unlink, which a reader of the block could
 * not have announced past. */
static inline void cc__smr_debrap_retire(cc__smr_thr_t *t, void *node) {
  cc__smr_debrap_write_phase(t);
  uint64_t e = cc_atomic_load_acquire(&t->dom->epoch);
  if (cc_unlikely(e != t->local_epoch)) cc__smr_debra_move_epoch(t, e);
  cc__smr_debra_push(t, (cc__smr_hdr_t *)node);
}

static inline void cc__smr_debrap_retire_fn(cc__smr_thr_t *t, void *p, void (*fn)(void *, void *),
                                            void *ctx) {
  cc__smr_debrap_write_phase(t);
  cc__smr_retire_fn_slow(t, p, fn, ctx, cc__smr_debrap_retire);
}

static inline void cc__smr_debrap_protect(cc__smr_thr_t *t, unsigned slot, const void *node) {
  /* release: published before the handler's quiescent announcement, which
   * a reclaimer reads before it reads the slots. The block's own address:
   * reclaimers match it exactly, and a packed block (smr_types.h) need not
   * start its line; clearing the bits below 8 keeps a marked pointer's
   * block. */
  cc_atomic_store_release(&t->slots[slot], (uintptr_t)node & ~(uintptr_t)7);
  t->slots_used |= 1u << slot;
}

/* Before an operation's first write (smr_types.h, cc__smr_reserve). */
static inline bool cc__smr_debrap_reserve(cc__smr_thr_t *t, bool rec) {
  return cc__smr_reserve(t, true, rec);
}

static inline void cc__smr_debrap_write_phase(cc__smr_thr_t *t) {
#if CC__SMR_NEUTRALIZE
  /* the forcing test mode counts phases entered, not calls: alloc and
   * retire call this in a write phase already */
  if (cc_atomic_load_relaxed(&t->phase) == CC__SMR_READ) {
    cc__smr_debrap_set_phase(t, CC__SMR_WRITE);
    cc__smr_debrap_maybe_force(t);
  }
#else
  (void)t;
#endif
}

#endif /* CCOLL_SMR_DEBRAP_H */
