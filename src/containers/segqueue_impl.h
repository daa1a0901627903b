/* Segmented fetch-and-add queue (the FAAArrayQueue / LCRQ / LSCQ family),
 * written once against the reclamation contract (smr/smr_internal.h) and
 * included by queue.c once per scheme with CC__QS defined to the scheme
 * token (none, debra, debrap, ibr).
 *
 * The queue is a linked list of segments of CC__SEGQ_CELLS cells. Each
 * segment has one index word: dequeue count in the high half, enqueue count
 * in the low half. An enqueue takes a cell with one FAA of 1 on the tail
 * segment's word and fills it with one CAS; a dequeue takes a cell with one
 * FAA of 2^32 on the head segment's word and reads it (the index is its
 * own, so a FULL cell needs no write). When a dequeuer reaches a cell whose
 * enqueuer has claimed it but not filled it, it waits a little, then marks
 * it TAKEN with an exchange and the enqueuer's CAS fails: the enqueuer
 * takes another cell. When its FAA shows that no enqueuer has claimed its
 * index yet, it leaves the cell alone: the enqueuer that gets the index
 * sees the dequeue count past it and skips it.
 * Single-width atomics only.
 *
 * One word for both counts: the dequeuer's emptiness check reads both
 * counts in one load (a consistent snapshot, and one cache miss instead of
 * two), and each FAA returns both counts, so an enqueuer that finds its cell
 * already claimed by a dequeuer skips it without touching it, and a dequeuer
 * knows whether the enqueuer of its cell has already arrived. Each half
 * grows past CC__SEGQ_CELLS only by the few FAAs that find the segment full:
 * a dequeuer FAAs only after seeing deq < CELLS, and an enqueuer looks
 * first when it holds a spare or while q->look_first says allocation
 * failed, so the overshoot is bounded by the number of threads, far from
 * 2^32, however long CC_ENOMEM lasts.
 *
 * Values: a cell is a state word plus a value word, so every pointer value
 * (NULL too) can be stored; EMPTY/FULL/TAKEN live in the state word only.
 *
 * Memory: a dequeuer checks emptiness (dequeue count >= enqueue count, no
 * next segment) before its FAA, so an empty queue polled by any number of
 * threads consumes no cells; only a dequeue that follows this thread's
 * enqueue, or a dequeue that saw more values behind its own, skips the
 * check (cc__segq_warm): at most one cell per value. Cells are burnt only when a dequeuer overtakes
 * an enqueuer (between its check and its FAA, or while the enqueuer is
 * slow to fill the cell), at most one per racing dequeuer. A segment is retired through SMR once head has moved past it,
 * and head never moves past tail, so a retired segment is unreachable from
 * the queue.
 *
 * Allocation: a new segment is allocated outside any operation (DEBRA+ read
 * phases make no allocator call); when it cannot be, the enqueue returns
 * CC_ENOMEM and nothing has been stored.
 *
 * DEBRA+: the FAA is not idempotent (a restarted FAA would skip a cell and
 * leave it for a dequeuer to burn, or lose a value), so it is done in the
 * write phase, after the segment it targets is protected. The read phase
 * only loads. */
#ifndef CC__QS
#error "define CC__QS to the reclamation scheme before including segqueue_impl.h"
#endif

#ifndef CC__SEGQ_COMMON
#define CC__SEGQ_COMMON
#include <string.h>

/* Cells per segment; a translation unit may define it (and CC__SEGQ_TAG, so
 * that its names differ) before the first include: queue_tiny.c builds
 * segments of a few cells so that tests cross segment boundaries often. */
#ifndef CC__SEGQ_CELLS
#define CC__SEGQ_CELLS 1024u
#endif
#ifndef CC__SEGQ_TAG
#define CC__SEGQ_TAG segq
#endif

enum { CC__SEGQ_EMPTY = 0, CC__SEGQ_FULL = 1, CC__SEGQ_TAKEN = 2 };

typedef struct {
  cc_atomic(uintptr_t) state;
  void *val; /* written before the state's release CAS, read after its acquire */
} cc__segq_cell_t;

/* Cells on one cache line. Consecutive indices are spread over different
 * lines (see cc__segq_cell), so threads that take neighbouring indices do
 * not write the same line. */
#define CC__SEGQ_LINE_CELLS (CC__LINE / sizeof(cc__segq_cell_t))
_Static_assert(CC__SEGQ_CELLS % CC__SEGQ_LINE_CELLS == 0 && CC__SEGQ_CELLS < (1u << 30),
               "whole lines per segment; each half of the index word has room to overshoot");

#define CC__SEGQ_DEQ_ONE (UINT64_C(1) << 32)
static inline uint64_t cc__segq_enq(uint64_t w) { return w & 0xffffffffu; }
static inline uint64_t cc__segq_deq(uint64_t w) { return w >> 32; }

typedef struct cc__segq_seg {
  cc__smr_hdr_t hdr;
  cc_atomic(uintptr_t) next;
  uint64_t base; /* queue position of index 0, for cc_queue_size */
  /* its own line: written by every operation on this segment */
  _Alignas(CC__LINE) cc_atomic(uint64_t) idx; /* deq << 32 | enq */
  char pad_idx[CC__LINE];
  _Alignas(CC__LINE) cc__segq_cell_t cells[CC__SEGQ_CELLS];
} cc__segq_seg_t;

static inline cc__segq_cell_t *cc__segq_cell(cc__segq_seg_t *s, uint64_t i) {
  uint64_t lines = CC__SEGQ_CELLS / CC__SEGQ_LINE_CELLS;
  return &s->cells[(i % CC__SEGQ_LINE_CELLS) * lines + i / CC__SEGQ_LINE_CELLS];
}

/* A dequeuer whose cell's enqueuer has already claimed it (but not yet
 * filled it) waits this many pauses before marking the cell TAKEN, which
 * would cost the enqueuer a retry and a burnt cell. Short: under
 * oversubscription the enqueuer may be descheduled. */
#define CC__SEGQ_SPIN 128

/* Waits briefly for a claimed cell to be filled; the last state seen. */
static inline uintptr_t cc__segq_wait_fill(cc__segq_cell_t *c) {
  uintptr_t s = CC__SEGQ_EMPTY;
  for (int n = 0; n < CC__SEGQ_SPIN && s == CC__SEGQ_EMPTY; n++) {
    cc_atomic_pause();
    s = cc_atomic_load_acquire(&c->state); /* FULL: the value is visible */
  }
  return s;
}

static inline uint64_t cc__segq_min(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* A queue that probably holds a value for this thread's next dequeue, or
 * NULL: a token for one dequeue that skips the emptiness check and goes
 * straight to the FAA (the check's load would fetch the index line shared
 * and the FAA then fetch it again exclusive). Set by an enqueue, and by a
 * dequeue whose FAA saw a value claimed beyond its own; cleared by the
 * dequeue that uses it. So an unchecked FAA that finds the queue empty (and
 * burns one cell) happens at most once per value this thread put in or
 * took out: polling an empty queue still consumes nothing, and a consumer
 * that keeps catching up with its producers does not burn a cell after
 * each value. A stale pointer to a freed queue costs a new queue at the
 * same address one cell at most. */
static cc_thread_local const void *cc__segq_warm;

#define CC__SEGQ_CAT(tag, s, name) cc__##tag##_##s##_##name
#define CC__SEGQ_XCAT(tag, s, name) CC__SEGQ_CAT(tag, s, name)
#define CC__SEGQ(name) CC__SEGQ_XCAT(CC__SEGQ_TAG, CC__QS, name)

/* Enqueue attempt needs a fresh segment before it can go on. */
#define CC__SEGQ_NEED_SEG 1
#endif /* CC__SEGQ_COMMON */

/* Outside any operation: may call the allocator and libc. */
static cc__segq_seg_t *CC__SEGQ(seg_new)(cc__smr_thr_t *t) {
  cc__segq_seg_t *s = CC__SMR(CC__QS, alloc)(t, sizeof *s);
  if (cc_unlikely(!s)) return NULL;
  /* Everything after the reclamation header; not shared yet. */
  size_t off = offsetof(cc__segq_seg_t, next);
  memset((char *)s + off, 0, sizeof *s - off);
  return s;
}

static int CC__SEGQ(init)(cc_queue_t *q) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  if (cc_unlikely(!t)) return CC_ENOMEM;
  cc__segq_seg_t *s = CC__SEGQ(seg_new)(t);
  if (cc_unlikely(!s)) return CC_ENOMEM;
  cc_atomic_store_relaxed(&q->head, (uintptr_t)s);
  cc_atomic_store_relaxed(&q->tail, (uintptr_t)s);
  return CC_OK;
}

/* Links `spare` (holding val in its first cell) after the full segment
 * `tail`, in the write phase with `tail` protected. True when linked. */
static bool CC__SEGQ(link)(cc_queue_t *q, cc__segq_seg_t *tail, cc__segq_seg_t *spare,
                           void *val) {
  cc__segq_cell_t *c0 = cc__segq_cell(spare, 0);
  spare->base = tail->base + CC__SEGQ_CELLS;
  c0->val = val;
  cc_atomic_store_relaxed(&c0->state, (uintptr_t)CC__SEGQ_FULL);
  cc_atomic_store_relaxed(&spare->idx, (uint64_t)1);
  uintptr_t exp = 0;
  /* acq_rel: publishes the segment's initial contents with the link */
  if (cc_atomic_cas_strong_acq_rel(&tail->next, &exp, (uintptr_t)spare)) {
    exp = (uintptr_t)tail;
    cc_atomic_cas_strong_acq_rel(&q->tail, &exp, (uintptr_t)spare);
    return true;
  }
  /* Lost to another enqueuer: spare stays private, undo for the retry. */
  cc_atomic_store_relaxed(&c0->state, (uintptr_t)CC__SEGQ_EMPTY);
  cc_atomic_store_relaxed(&spare->idx, (uint64_t)0);
  return false;
}

/* One enqueue operation. *sparep is a segment allocated beforehand (or
 * NULL); it is set to NULL when the operation links it. Returns CC_OK, or
 * CC__SEGQ_NEED_SEG (operation ended, nothing stored) when the tail
 * segment is full and no spare is at hand. */
static int CC__SEGQ(enqueue_op)(cc_queue_t *q, cc__smr_thr_t *t, void *val,
                                cc__segq_seg_t **sparep) {
  cc__segq_seg_t *const spare = *sparep; /* fixed before any read phase */
  CC__SMR(CC__QS, begin)(t);
  for (;;) {
    CC__SMR_READ_PHASE(CC__QS, t);
    cc__segq_seg_t *tail = (cc__segq_seg_t *)CC__SMR(CC__QS, read)(t, &q->tail);
    /* With a spare in hand, or after an enqueue could not get one, the tail
     * was full a moment ago: look before the FAA, so that retries after
     * CC_ENOMEM cannot keep growing the enqueue count towards 2^32. */
    bool full = (spare || cc_atomic_load_relaxed(&q->look_first)) &&
                cc__segq_enq(cc_atomic_load_relaxed(&tail->idx)) >= CC__SEGQ_CELLS;
    CC__SMR(CC__QS, protect)(t, 0, tail);
    CC__SMR(CC__QS, write_phase)(t);
    if (cc_likely(!full)) {
      uint64_t w = cc_atomic_fetch_add_acq_rel(&tail->idx, (uint64_t)1);
      uint64_t i = cc__segq_enq(w);
      if (cc_likely(i < CC__SEGQ_CELLS)) {
        /* A dequeuer already holds index i: the cell is lost, take another. */
        if (cc_unlikely(i < cc__segq_deq(w))) continue;
        cc__segq_cell_t *c = cc__segq_cell(tail, i);
        c->val = val;
        uintptr_t exp = CC__SEGQ_EMPTY;
        /* release: the value is visible to the dequeuer that sees FULL */
        if (cc_likely(cc_atomic_cas_strong_acq_rel(&c->state, &exp, (uintptr_t)CC__SEGQ_FULL)))
          break;
        continue; /* a dequeuer marked the cell TAKEN first */
      }
    }
    /* tail is full (and protected): help a lagging tail on or link a segment */
    uintptr_t next = CC__SMR(CC__QS, read)(t, &tail->next);
    if (next) {
      uintptr_t exp = (uintptr_t)tail;
      cc_atomic_cas_strong_acq_rel(&q->tail, &exp, next);
      continue;
    }
    if (!spare) {
      CC__SMR(CC__QS, end)(t);
      return CC__SEGQ_NEED_SEG;
    }
    if (CC__SEGQ(link)(q, tail, spare, val)) {
      *sparep = NULL;
      if (cc_unlikely(cc_atomic_load_relaxed(&q->look_first))) cc_atomic_store_relaxed(&q->look_first, 0u);
      break;
    }
  }
  CC__SMR(CC__QS, end)(t);
  return CC_OK;
}

static int CC__SEGQ(enqueue)(cc_queue_t *q, void *val) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  if (cc_unlikely(!t)) return CC_ENOMEM;
  cc__segq_seg_t *spare = NULL;
  while (cc_unlikely(CC__SEGQ(enqueue_op)(q, t, val, &spare) == CC__SEGQ_NEED_SEG)) {
    spare = CC__SEGQ(seg_new)(t);
    if (cc_unlikely(!spare)) {
      cc_atomic_store_relaxed(&q->look_first, 1u);
      return CC_ENOMEM;
    }
  }
  /* Another enqueuer linked a segment first: ours was never published. */
  if (cc_unlikely(spare != NULL)) CC__SMR(CC__QS, dealloc)(t, spare);
  cc__segq_warm = q;
  return CC_OK;
}

static int CC__SEGQ(dequeue)(cc_queue_t *q, void **out) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  /* no thread record, or no memory for the segment this may retire: unchanged */
  if (cc_unlikely(!t) || !CC__SMR(CC__QS, reserve)(t, false)) return CC_ENOMEM;
  CC__SMR(CC__QS, begin)(t);
  for (;;) {
    CC__SMR_READ_PHASE(CC__QS, t);
    cc__segq_seg_t *head = (cc__segq_seg_t *)CC__SMR(CC__QS, read)(t, &q->head);
    uint64_t w;
    if (cc__segq_warm == q) {
      cc__segq_warm = NULL;
      goto claim;
    }
    /* One load gives both counts at one instant: deq >= enq then means
     * every claimed cell was also claimed by a dequeuer. next only goes
     * from 0 to a segment, so next == 0 when loaded afterwards means it was
     * 0 at that instant too: the queue was empty then. With a value in
     * sight (deq < enq, deq < CELLS), next is not needed at all. */
    w = cc_atomic_load_acquire(&head->idx);
    uint64_t d = cc__segq_deq(w), e = cc__segq_enq(w);
    if (cc_unlikely(d >= e || d >= CC__SEGQ_CELLS)) {
      uintptr_t next = CC__SMR(CC__QS, read)(t, &head->next);
      if (!next) {
        CC__QUEUE_LEAVE(CC__QS, t);
        return CC_EMPTY;
      }
      if (d >= CC__SEGQ_CELLS) { /* drained: move head on */
        uintptr_t tail = cc_atomic_load_acquire(&q->tail);
        CC__SMR(CC__QS, protect)(t, 0, head);
        CC__SMR(CC__QS, write_phase)(t);
        /* Tail first: a retired segment must be unreachable from tail too. */
        if (tail == (uintptr_t)head) cc_atomic_cas_strong_acq_rel(&q->tail, &tail, next);
        uintptr_t exp = (uintptr_t)head;
        if (cc_atomic_cas_strong_acq_rel(&q->head, &exp, next)) CC__SMR(CC__QS, retire)(t, head);
        continue;
      }
      /* d >= e with a next segment: the rest of this one is being filled */
    }
  claim:
    CC__SMR(CC__QS, protect)(t, 0, head);
    CC__SMR(CC__QS, write_phase)(t);
    w = cc_atomic_fetch_add_acq_rel(&head->idx, CC__SEGQ_DEQ_ONE);
    uint64_t i = cc__segq_deq(w);
    if (cc_unlikely(i >= CC__SEGQ_CELLS)) continue;
    /* Other dequeuers took what the check saw: no enqueuer holds index i,
     * and the one that gets it will find it claimed and skip it (its FAA
     * returns both counts). The cell is never used: leave it untouched. */
    if (cc_unlikely(i >= cc__segq_enq(w))) continue;
    cc__segq_cell_t *c = cc__segq_cell(head, i);
    /* Index i is this dequeuer's alone, and a FULL cell is never written
     * again: seeing FULL (acquire, pairs with the enqueuer's release CAS)
     * is enough, no write needed. A cell still EMPTY has an enqueuer that
     * claimed it and has not stored yet: give it a moment, then mark the
     * cell so that the enqueuer goes elsewhere. */
    uintptr_t s = cc_atomic_load_acquire(&c->state);
    if (cc_unlikely(s == CC__SEGQ_EMPTY)) {
      s = cc__segq_wait_fill(c);
      if (s == CC__SEGQ_EMPTY) s = cc_atomic_exchange_acq_rel(&c->state, (uintptr_t)CC__SEGQ_TAKEN);
    }
    if (cc_likely(s == CC__SEGQ_FULL)) {
      void *val = c->val;
      CC__SMR(CC__QS, end)(t);
      cc__segq_warm = NULL;
      if (cc__segq_enq(w) > i + 1) cc__segq_warm = q; /* more values behind this one */
      *out = val;
      return CC_OK;
    }
  }
}

static size_t CC__SEGQ(size)(const cc_queue_t *cq) {
  cc_queue_t *q = (cc_queue_t *)(uintptr_t)cq; /* links are read through SMR */
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  if (cc_unlikely(!t)) return 0;
  CC__SMR(CC__QS, begin)(t);
  CC__SMR_READ_PHASE(CC__QS, t);
  cc__segq_seg_t *head = (cc__segq_seg_t *)CC__SMR(CC__QS, read)(t, &q->head);
  cc__segq_seg_t *tail = (cc__segq_seg_t *)CC__SMR(CC__QS, read)(t, &q->tail);
  /* Segments strictly between head and tail are full and untouched by
   * dequeuers; cells burnt by a dequeuer are counted on both sides. */
  uint64_t d = cc__segq_deq(cc_atomic_load_acquire(&head->idx));
  uint64_t e = cc__segq_enq(cc_atomic_load_acquire(&tail->idx));
  uint64_t out = head->base + cc__segq_min(d, CC__SEGQ_CELLS);
  uint64_t in = tail->base + cc__segq_min(e, CC__SEGQ_CELLS);
  CC__QUEUE_LEAVE(CC__QS, t);
  return in > out ? (size_t)(in - out) : 0;
}

static void CC__SEGQ(destroy)(cc_queue_t *q) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  uintptr_t p = cc_atomic_load_acquire(&q->head);
  while (p) {
    cc__segq_seg_t *s = (cc__segq_seg_t *)p;
    p = cc_atomic_load_relaxed(&s->next);
    if (cc_likely(t)) CC__SMR(CC__QS, dealloc)(t, s);
  }
}

const cc__queue_ops_t CC__SEGQ(ops) = {
  .enqueue = CC__SEGQ(enqueue),
  .dequeue = CC__SEGQ(dequeue),
  .size = CC__SEGQ(size),
  .init = CC__SEGQ(init),
  .destroy = CC__SEGQ(destroy),
};
