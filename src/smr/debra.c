/* DEBRA and DEBRA+ slow paths: limbo blocks, bag rotation, orphans, drain. */
#include <sched.h>

#include "alloc/alloc_internal.h"
#include "smr_private.h"

#define SAMPLE_EVERY 8      /* rotations between pending-peak samples */

/* ------------------------------------------------------------ bags */

/* The freeable list's last entry is not the size an allocation wants: a
 * node of another size goes to the reuse pool (or the allocator) now, so
 * that allocations keep the list moving whatever the sizes; a retire_fn
 * record, whose callback must not run inside an allocation, makes begin
 * trim the list to empty (freeable_keep 0 until the next epoch). */
void cc__smr_debra_mismatch(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  if (h->size == 0) {
    t->freeable_keep = 0;
    return;
  }
  cc__smr_reclaim(t, cc__smr_bag_pop(t, &t->freeable));
}

/* Into the current bag again, uncounted (it was counted when retired). */
static void requeue(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  (void)cc__smr_bag_add(t, &t->bag[t->cur], h);
}

/* Moves a chain of safe blocks to the freeable list. Under DEBRA+ a block
 * some thread still protects in a slot (a neutralised thread finishing its
 * write phase) goes back to the current bag instead. The slots are read
 * after the epoch that made these blocks safe was observed, and a thread
 * can protect a block only in a read phase that began before the block was
 * unlinked; so no slot can name one of them later than this snapshot. */
static void to_freeable(cc__smr_thr_t *t, cc__smr_blk_t *head, cc__smr_blk_t *tail, size_t count) {
  if (head == NULL) return;
  size_t held = 0;
  if (t->dom->kind == CC_SMR_DEBRA_PLUS) held = cc__smr_debrap_snapshot_slots(t);
  if (held == SIZE_MAX) {
    /* no memory for the snapshot: not known safe yet, so into the current
     * bag, checked again when that bag is (a later label only delays) */
    cc__smr_bag_append(&t->bag[t->cur], head, tail, count);
    return;
  }
  if (held == 0) {
    cc__smr_bag_append(&t->freeable, head, tail, count);
    return;
  }
  while (head != NULL) {
    cc__smr_blk_t *b = head;
    head = b->next;
    b->next = NULL;
    size_t j = 0;
    for (size_t i = 0; i < b->n; i++) {
      if (cc__smr_debrap_slot_held(t, held, b->e[i].p)) requeue(t, b->e[i].p);
      else b->e[j++] = b->e[i];
    }
    b->n = j;
    if (j == 0) cc__smr_blk_put(t, b);
    else cc__smr_bag_append(&t->freeable, b, b, j);
  }
}

/* Orphans handed off at epoch E are safe from E + 3 on. */
static void adopt_orphans(cc__smr_thr_t *t, uint64_t e) {
  cc_smr_t *d = t->dom;
  cc__smr_orphan_t *take = NULL;
  pthread_mutex_lock(&d->lock);
  cc__smr_orphan_t *o = cc_atomic_load_relaxed(&d->orphans), *keep = NULL;
  while (o != NULL) {
    cc__smr_orphan_t *next = o->next;
    if (o->epoch + 3 <= e) {
      o->next = take;
      take = o;
    } else {
      o->next = keep;
      keep = o;
    }
    o = next;
  }
  cc_atomic_store_relaxed(&d->orphans, keep);
  pthread_mutex_unlock(&d->lock);
  while (take != NULL) {
    cc__smr_orphan_t *next = take->next;
    to_freeable(t, take->blocks, cc__smr_chain_tail(take->blocks), take->count);
    cc_free(take, sizeof *take);
    take = next;
  }
}

void cc__smr_debra_new_epoch(cc__smr_thr_t *t, uint64_t e) {
  cc__smr_bag_t safe[3];
  int ns = 0;
  for (int i = 0; i < 3; i++) {
    cc__smr_bag_t *b = &t->bag[i];
    if (b->count != 0 && b->epoch + 3 <= e) {
      safe[ns++] = *b;
      b->head = b->tail = NULL;
      b->count = 0;
    }
  }
  /* the oldest bag: its label is at most local_epoch - 2 <= e - 3 */
  t->cur = (t->cur + 1) % 3;
  t->bag[t->cur].epoch = e;
  t->local_epoch = e;
  t->cursor = cc_atomic_load_acquire(&t->dom->threads);
  t->freeable_keep = t->reuse_on ? CC__SMR_DEBRA_KEEP : 0;
  for (int i = 0; i < ns; i++) to_freeable(t, safe[i].head, safe[i].tail, safe[i].count);
  if (cc_atomic_load_relaxed(&t->dom->orphans) != NULL) adopt_orphans(t, e);
  if (++t->retire_tick >= SAMPLE_EVERY) {
    t->retire_tick = 0;
    cc__smr_sample_pending(t);
  }
}

/* Announces the epoch after the local one moved: begin's new-epoch path
 * (once per epoch per thread) and its re-check. Every announcement that
 * follows a change of local_epoch is a seq_cst store, visible before the
 * operation reads a link: the rule that makes parking safe (park_idle,
 * below). */
void cc__smr_debra_reannounce(cc__smr_thr_t *t) {
  cc_smr_t *d = t->dom;
  for (;;) {
    uint64_t e = cc_atomic_load_acquire(&d->epoch);
    if (e == t->local_epoch) return;
    cc__smr_debra_new_epoch(t, e);
    cc_atomic_store_seq_cst(&t->announce, e << 1);
    if (cc_atomic_load_seq_cst(&d->epoch) == e) return;
  }
}

/* The local epoch moves without an operation's announcement: in
 * cc_smr_drain, and in a DEBRA+ write phase that labels a retirement (see
 * cc__smr_debrap_retire). A quiescent thread (outside operations, or
 * neutralised, and perhaps parked since) announces the move with a
 * seq_cst store: every announcement after a change of the local epoch is
 * visible before it matters (park_idle). An operation still announced
 * keeps its announcement, which guards what it reads; its end announces
 * the new epoch. */
void cc__smr_debra_move_epoch(cc__smr_thr_t *t, uint64_t e) {
  cc__smr_debra_new_epoch(t, e);
  /* a handler after this load stores the new local epoch itself */
  if (cc_atomic_load_relaxed(&t->announce) & CC__SMR_QUIESCENT)
    cc_atomic_store_seq_cst(&t->announce, CC__SMR_QUIET(e));
}

/* Whether every thread is quiescent or in epoch e. */
static bool all_caught_up(cc_smr_t *d, uint64_t e) {
  for (cc__smr_thr_t *c = cc_atomic_load_acquire(&d->threads); c != NULL;
       c = cc_atomic_load_acquire(&c->next)) {
    uint64_t a = cc_atomic_load_acquire(&c->announce);
    if (!(a & CC__SMR_QUIESCENT) && (a >> 1) != e) return false;
  }
  return true;
}

/* With the asymmetric fence, whether this thread has retired or run
 * enough in the epoch to justify a try (advance_asym, below). */
static bool advance_wanted(const cc__smr_thr_t *t) {
  return t->bag[t->cur].count >= t->advance_at || t->epoch_ops >= t->dom->epoch_ops;
}

/* With the asymmetric fence, an announcement read may be stale: its
 * writer's store buffer may still hold a newer one. What a stale read can
 * prove depends on its epoch:
 * - at e (active or quiescent): the writer's local epoch was e, so any
 *   later operation of it announces e or more; it cannot hold the epoch
 *   at e. Nothing more is needed.
 * - active in an older epoch: it holds the epoch; no advance.
 * - quiescent in an older epoch: the writer may have begun an operation
 *   since, its announcement not yet visible. A membarrier settles it
 *   (asym.c): after it, an announcement still quiescent either is, or
 *   belongs to an operation whose link reads follow the membarrier and so
 *   miss the unlinks this thread observed before it.
 * So a try pays a membarrier only for threads quiescent in an older
 * epoch. A busy thread is one only for the moment between two of its
 * operations: the try is put off (FENCE_DEFER tries, a round of checks
 * each) for it to announce e. An idle one stays so: after the
 * membarrier it is parked (park_idle), and it costs no more. */
enum { ADV_BLOCKED, ADV_FENCE, ADV_FREE };
#define FENCE_DEFER 2

static int advance_need(cc_smr_t *d, uint64_t e) {
  int need = ADV_FREE;
  for (cc__smr_thr_t *c = cc_atomic_load_acquire(&d->threads); c != NULL;
       c = cc_atomic_load_acquire(&c->next)) {
    /* acquire: a quiescent announcement orders its operation's reads
     * before whatever this thread frees after the advance */
    uint64_t a = cc_atomic_load_acquire(&c->announce);
    if ((a >> 1) >= e) continue; /* at e, or parked (its epoch field is the largest) */
    if (!(a & CC__SMR_QUIESCENT)) return ADV_BLOCKED;
    need = ADV_FENCE;
  }
  return need;
}

/* After a membarrier: whether every thread is caught up, parking those
 * still quiescent in an older epoch. A parked thread's announcement reads
 * as at every epoch. It is safe because parking needs its epoch field
 * older than the epoch, and the thread's local epoch is that field (every
 * quiescent announcement a thread stores carries its local epoch,
 * record_claim's included): its next begin finds the epoch moved and
 * announces with a seq_cst store (cc__smr_debra_reannounce), visible
 * before its first link read, so no advancer reads PARKED while it runs.
 * Had it begun before the membarrier, either its announcement was drained
 * by it (the CAS fails), or its re-check of the epoch follows it, sees the
 * epoch moved and re-announces with a seq_cst store. A DEBRA+ thread
 * neutralised in its write phase runs on quiescent, parked or not; what it
 * reaches is in its slots, and a move of its local epoch there is
 * announced with a seq_cst store too (cc__smr_debra_move_epoch). */
static bool park_idle(cc_smr_t *d, uint64_t e) {
  for (cc__smr_thr_t *c = cc_atomic_load_acquire(&d->threads); c != NULL;
       c = cc_atomic_load_acquire(&c->next)) {
    uint64_t a = cc_atomic_load_acquire(&c->announce);
    while ((a >> 1) < e) {
      if (!(a & CC__SMR_QUIESCENT)) return false;
      /* acq_rel: a later advancer that reads PARKED (acquire) is ordered
       * after the operations this one saw finished */
      if (cc_atomic_cas_strong_acq_rel(&c->announce, &a, CC__SMR_PARKED)) break;
    }
  }
  return true;
}

/* A try, with the asymmetric fence. The round robin's reads only told
 * that one may succeed; advance_need reads every announcement again.
 * A membarrier costs microseconds (an IPI per running CPU of the process,
 * a VM exit each on a virtual machine), so a try is made only when an
 * advance is needed: this thread retired advance_at (at most
 * advance_retires, see cc__smr_fence_paced in asym.c) blocks in the
 * current epoch, or ran epoch_ops operations since its last try (that
 * rule frees what other threads and orphans left behind when this thread
 * retires little). A thread stalled in an old epoch costs no membarrier.
 * While no thread holds the epoch back, an epoch ends within about
 * advance_retires retirements of the fastest retiring thread (plus
 * FENCE_DEFER + 1 rounds of checks); a block waits three epochs and then
 * the freeable list, so a thread's pending garbage stays under about 4 x
 * advance_retires blocks, or 4 x epoch_ops retirements for a thread that
 * retires less than one per 16 operations. */
static void advance_asym(cc__smr_thr_t *t, uint64_t e) {
  cc_smr_t *d = t->dom;
  if (!advance_wanted(t)) return;
  if (cc_atomic_load_acquire(&d->epoch) != e) return;
  int need = advance_need(d, e);
  if (need == ADV_BLOCKED) return;
  if (need == ADV_FENCE && ++t->fence_defer <= FENCE_DEFER) return;
  t->fence_defer = 0;
  t->epoch_ops = 0;
  if (need == ADV_FENCE) {
    cc__smr_fence_paced(t, &t->advance_at, d->advance_min, d->advance_retires);
    cc_atomic_add_owner_u64(&t->st_scans, 1);
    if (!park_idle(d, e)) return;
  }
  uint64_t expected = e;
  cc_atomic_cas_strong_seq_cst(&d->epoch, &expected, e + 1);
}

void cc__smr_debra_passed_all(cc__smr_thr_t *t, uint64_t e) {
  t->cursor = cc_atomic_load_acquire(&t->dom->threads);
  if (!CC_TSAN && t->asym) {
    advance_asym(t, e);
    return;
  }
  uint64_t expected = e;
  /* seq_cst: orders every announcement read in this round before the
   * advance; a loser simply finds the epoch already moved */
  cc_atomic_cas_strong_seq_cst(&t->dom->epoch, &expected, e + 1);
  cc_atomic_add_owner_u64(&t->st_scans, 1);
}

/* One step of the round robin: move past the thread at the cursor when it
 * cannot hold the epoch back; after the last thread, try to advance the
 * epoch. `plus`: DEBRA+ (may neutralise the thread that blocks). */
void cc__smr_debra_tick(cc__smr_thr_t *t, bool plus) {
  t->check_tick = t->check_every;
  t->epoch_ops += t->check_every;
  /* DEBRA with the asymmetric fence: a try reads every announcement
   * itself before its membarrier (advance_asym), so the round robin only
   * tells when one is worth it, and until this thread's own retirements
   * want one its reads would be coherence misses for nothing: each reads
   * a line its owner writes twice per operation, and makes the owner's
   * next write wait for the line to come back (on the 2-thread stack of
   * bench/smr, checks every 32 operations through the epoch cost 0.045 of
   * NONE's throughput). DEBRA+ keeps the round robin going: it finds the
   * thread to neutralise. */
  if (!plus && !CC_TSAN && t->asym && !advance_wanted(t)) return;
  uint64_t e = t->local_epoch;
  cc__smr_thr_t *c = t->cursor;
  if (c == NULL) {
    cc__smr_debra_passed_all(t, e);
    return;
  }
  /* acquire: a quiescent bit seen here orders c's finished reads before
   * whatever this thread later frees */
  uint64_t a = cc_atomic_load_acquire(&c->announce);
  if ((a & CC__SMR_QUIESCENT) || (a >> 1) == e) t->cursor = cc_atomic_load_acquire(&c->next);
  else if (plus) cc__smr_debra_blocked(t, c);
}

/* ------------------------------------------------------------ lifecycle */

static void free_freeable(cc__smr_thr_t *t) {
  while (t->freeable.head != NULL) cc__smr_debra_free_some(t);
}

/* One advance from e, tried by a thread outside any operation of d
 * (drain, synchronize): false when some thread still holds e. */
static bool try_advance_from(cc_smr_t *d, uint64_t e) {
  if (!all_caught_up(d, e)) return false; /* no membarrier for a hopeless try */
  if (!CC_TSAN && d->asym) {
    cc__smr_asym_fence(); /* see advance_asym */
    if (!all_caught_up(d, e)) return false;
  }
  cc_atomic_cas_strong_seq_cst(&d->epoch, &e, e + 1);
  return true;
}

void cc__smr_debra_drain(cc__smr_thr_t *t) {
  cc_smr_t *d = t->dom;
  if (t->depth == 0) {
    /* three advances make every bag of this thread safe, if nobody is
     * inside an operation that started before them */
    for (int i = 0; i < 3; i++)
      if (!try_advance_from(d, cc_atomic_load_seq_cst(&d->epoch))) break;
    uint64_t e = cc_atomic_load_acquire(&d->epoch);
    if (e != t->local_epoch) cc__smr_debra_move_epoch(t, e);
    if (cc_atomic_load_relaxed(&d->orphans) != NULL) adopt_orphans(t, e);
  }
  free_freeable(t);
}

/* Returns once every operation running at the call has ended: three
 * advances, yielding while some thread holds the epoch. No allocation: the fallback of a user
 * retirement without memory for its limbo entry (domain.c). The caller is
 * outside any operation of d (its own announcement would hold the epoch);
 * a thread that stays inside one keeps it waiting. */
void cc__smr_debra_synchronize(cc_smr_t *d) {
  const uint64_t target = cc_atomic_load_seq_cst(&d->epoch) + 3;
  for (;;) {
    uint64_t e = cc_atomic_load_seq_cst(&d->epoch);
    if (e >= target) return;
    if (!try_advance_from(d, e)) sched_yield();
  }
}

void cc__smr_debra_release(cc__smr_thr_t *t) {
  cc__smr_orphan_t *o = NULL;
  cc__smr_bag_t all = {NULL, NULL, 0, 0};
  for (int i = 0; i < 4; i++) {
    cc__smr_bag_t b = cc__smr_bag_take(i < 3 ? &t->bag[i] : &t->freeable);
    cc__smr_bag_append(&all, b.head, b.tail, b.count);
  }
  if (all.head != NULL) {
    o = cc__smr_orphan_take(t);
    /* every label is at most the epoch now */
    o->epoch = cc_atomic_load_acquire(&t->dom->epoch);
    o->blocks = all.head;
    o->count = all.count;
    cc__smr_orphan_push(t->dom, o);
  }
}

void cc__smr_debra_destroy(cc__smr_thr_t *t) {
  for (int i = 0; i < 3; i++) cc__smr_reclaim_blocks(t->bag[i].head);
  cc__smr_reclaim_blocks(t->freeable.head);
}
