/* Michael-Scott queue (PODC'96), written once against the reclamation
 * contract (smr/smr_internal.h) and included by queue.c once per scheme
 * with CC__QS defined to the scheme token (none, debra, debrap, ibr).
 *
 * Single-width CAS only. q->head points at a dummy node whose successor
 * holds the first value; a dequeue moves head one node on and retires the
 * old dummy. Every link that is followed is loaded with CC__SMR(S, read),
 * so IBR reserves the intervals of the nodes it reaches.
 *
 * Each node carries its position (seq = predecessor's seq + 1, fixed before
 * it is linked), so the size is tail.seq - head.seq: exact when quiescent,
 * and no counter is written on the hot path. */
#ifndef CC__QS
#error "define CC__QS to the reclamation scheme before including msqueue_impl.h"
#endif

#ifndef CC__MSQ_COMMON
#define CC__MSQ_COMMON
typedef struct cc__msq_node {
  cc__smr_hdr_t hdr;
  cc_atomic(uintptr_t) next;
  void *val;
  uint64_t seq;
} cc__msq_node_t;

#define CC__MSQ_CAT(a, b, c) a##b##_##c
#define CC__MSQ_XCAT(a, b, c) CC__MSQ_CAT(a, b, c)
#define CC__MSQ(name) CC__MSQ_XCAT(cc__msq_, CC__QS, name)
#endif

static cc__msq_node_t *CC__MSQ(node_new)(cc__smr_thr_t *t, void *val) {
  cc__msq_node_t *n = CC__SMR(CC__QS, alloc)(t, sizeof *n);
  if (cc_unlikely(!n)) return NULL;
  cc_atomic_store_relaxed(&n->next, (uintptr_t)0);
  n->val = val;
  n->seq = 0;
  return n;
}

static int CC__MSQ(init)(cc_queue_t *q) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  if (cc_unlikely(!t)) return CC_ENOMEM;
  cc__msq_node_t *dummy = CC__MSQ(node_new)(t, NULL);
  if (cc_unlikely(!dummy)) return CC_ENOMEM;
  cc_atomic_store_relaxed(&q->head, (uintptr_t)dummy);
  cc_atomic_store_relaxed(&q->tail, (uintptr_t)dummy);
  return CC_OK;
}

static int CC__MSQ(enqueue)(cc_queue_t *q, void *val) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  if (cc_unlikely(!t)) return CC_ENOMEM;
  /* Allocated before the read phase: DEBRA+ may restart it. */
  cc__msq_node_t *node = CC__MSQ(node_new)(t, val);
  if (cc_unlikely(!node)) return CC_ENOMEM;
  CC__SMR(CC__QS, begin)(t);
  for (;;) {
    CC__SMR_READ_PHASE(CC__QS, t);
    cc__msq_node_t *tail = (cc__msq_node_t *)CC__SMR(CC__QS, read)(t, &q->tail);
    uintptr_t next = CC__SMR(CC__QS, read)(t, &tail->next);
    CC__SMR(CC__QS, protect)(t, 0, tail);
    CC__SMR(CC__QS, write_phase)(t);
    if (next) { /* tail lags: help it on, then retry */
      uintptr_t exp = (uintptr_t)tail;
      cc_atomic_cas_strong_acq_rel(&q->tail, &exp, next);
      continue;
    }
    node->seq = tail->seq + 1;
    uintptr_t exp = 0;
    /* release: the node's fields are visible to whoever reads the link */
    if (cc_atomic_cas_strong_acq_rel(&tail->next, &exp, (uintptr_t)node)) {
      exp = (uintptr_t)tail;
      cc_atomic_cas_strong_acq_rel(&q->tail, &exp, (uintptr_t)node);
      break;
    }
  }
  CC__SMR(CC__QS, end)(t);
  return CC_OK;
}

static int CC__MSQ(dequeue)(cc_queue_t *q, void **out) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  /* no thread record, or no memory for the node this may retire: unchanged */
  if (cc_unlikely(!t) || !CC__SMR(CC__QS, reserve)(t, false)) return CC_ENOMEM;
  CC__SMR(CC__QS, begin)(t);
  for (;;) {
    CC__SMR_READ_PHASE(CC__QS, t);
    cc__msq_node_t *head = (cc__msq_node_t *)CC__SMR(CC__QS, read)(t, &q->head);
    uintptr_t tail = cc_atomic_load_acquire(&q->tail);
    cc__msq_node_t *next = (cc__msq_node_t *)CC__SMR(CC__QS, read)(t, &head->next);
    if (!next) {
      CC__QUEUE_LEAVE(CC__QS, t);
      return CC_EMPTY;
    }
    /* head may have been dequeued since it was read, and next with it:
     * next may then have been born after our reservation and freed before
     * we loaded it (IBR protects only what was reachable at a protected
     * load). head still in place means next is still linked, so the load
     * of next happened within our reservation: only then read through it. */
    if (cc_unlikely(cc_atomic_load_acquire(&q->head) != (uintptr_t)head)) continue;
    void *val = next->val;
    CC__SMR(CC__QS, protect)(t, 0, head);
    CC__SMR(CC__QS, protect)(t, 1, next);
    CC__SMR(CC__QS, write_phase)(t);
    if (tail == (uintptr_t)head) {
      /* Never move head past tail: head's old dummy must be unreachable
       * from the queue (tail included) when it is retired. */
      cc_atomic_cas_strong_acq_rel(&q->tail, &tail, (uintptr_t)next);
      continue;
    }
    uintptr_t exp = (uintptr_t)head;
    if (cc_atomic_cas_strong_acq_rel(&q->head, &exp, (uintptr_t)next)) {
      CC__SMR(CC__QS, retire)(t, head);
      CC__SMR(CC__QS, end)(t);
      *out = val;
      return CC_OK;
    }
  }
}

static size_t CC__MSQ(size)(const cc_queue_t *cq) {
  cc_queue_t *q = (cc_queue_t *)(uintptr_t)cq; /* links are read through SMR */
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  if (cc_unlikely(!t)) return 0;
  CC__SMR(CC__QS, begin)(t);
  CC__SMR_READ_PHASE(CC__QS, t);
  cc__msq_node_t *head = (cc__msq_node_t *)CC__SMR(CC__QS, read)(t, &q->head);
  cc__msq_node_t *tail = (cc__msq_node_t *)CC__SMR(CC__QS, read)(t, &q->tail);
  uint64_t h = head->seq, tl = tail->seq;
  CC__QUEUE_LEAVE(CC__QS, t);
  /* A concurrent dequeue can pass a lagging tail between the two loads. */
  return tl > h ? (size_t)(tl - h) : 0;
}

static void CC__MSQ(destroy)(cc_queue_t *q) {
  cc__smr_thr_t *t = cc__smr_thr(q->smr);
  uintptr_t p = cc_atomic_load_acquire(&q->head);
  while (p) {
    cc__msq_node_t *n = (cc__msq_node_t *)p;
    p = cc_atomic_load_relaxed(&n->next);
    if (cc_likely(t)) CC__SMR(CC__QS, dealloc)(t, n);
  }
}

const cc__queue_ops_t CC__MSQ(ops) = {
  .enqueue = CC__MSQ(enqueue),
  .dequeue = CC__MSQ(dequeue),
  .size = CC__MSQ(size),
  .init = CC__MSQ(init),
  .destroy = CC__MSQ(destroy),
};
