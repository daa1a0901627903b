/* Internal: the contract between queue.c (public API, argument checks) and
 * the queue kinds (msqueue_impl.h, segqueue_impl.h), each instantiated once
 * per reclamation scheme. Never installed.
 *
 * queue.c validates every argument, then makes exactly one indirect call
 * through q->ops. An impl never sees a NULL queue or a NULL out-pointer. */
#ifndef CCOLL_QUEUE_INTERNAL_H
#define CCOLL_QUEUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "compiler.h"
#include "ccoll/queue.h"
#include "ccoll/status.h"
#include "smr/smr_internal.h"

typedef struct cc__queue_ops {
  int    (*enqueue)(cc_queue_t *q, void *val);   /* CC_OK | CC_ENOMEM */
  int    (*dequeue)(cc_queue_t *q, void **val);  /* CC_OK | CC_EMPTY */
  size_t (*size)(const cc_queue_t *q);
  /* Creates the first node/segment: CC_OK | CC_ENOMEM. */
  int    (*init)(cc_queue_t *q);
  /* Frees every node/segment still linked; single-threaded. */
  void   (*destroy)(cc_queue_t *q);
} cc__queue_ops_t;

/* Two lines apart: the adjacent-line prefetcher pairs 64-byte lines, so
 * head and tail (written by dequeuers and enqueuers) get 128 bytes each. */
#define CC__QUEUE_SPREAD 128

struct cc_queue {
  const cc__queue_ops_t *ops;
  cc_smr_t *smr;
  cc_smr_kind_t smr_kind;
  cc_queue_kind_t kind;
  _Alignas(CC__QUEUE_SPREAD) cc_atomic(uintptr_t) head; /* first node / segment */
  _Alignas(CC__QUEUE_SPREAD) cc_atomic(uintptr_t) tail; /* last node / segment */
  /* SEGMENT: set after an enqueue failed to allocate a segment, cleared
   * when one is linked; while set, enqueuers look before their FAA (on
   * tail's line, read by every enqueue anyway, written almost never). */
  cc_atomic(unsigned) look_first;
}; /* sizeof is a multiple of the alignment: tail's 128 bytes are its own */

/* Ops tables, one per kind x scheme (defined by the impls in queue.c). */
#define CC__QUEUE_DECLARE_OPS(kind)                    \
  extern const cc__queue_ops_t cc__##kind##_none_ops;  \
  extern const cc__queue_ops_t cc__##kind##_debra_ops; \
  extern const cc__queue_ops_t cc__##kind##_debrap_ops;\
  extern const cc__queue_ops_t cc__##kind##_ibr_ops;
CC__QUEUE_DECLARE_OPS(msq)
CC__QUEUE_DECLARE_OPS(segq)
CC__QUEUE_DECLARE_OPS(segq_tiny)

/* Tests only: a SEGMENT queue whose segments hold CC__SEGQ_TINY_CELLS
 * cells (queue_tiny.c), so that a short run crosses many segment
 * boundaries (linking, moving head and tail, retiring) under every scheme.
 * cfg->kind is ignored. NULL as cc_queue_new. */
#define CC__SEGQ_TINY_CELLS 8u
cc_queue_t *cc__queue_new_tiny_segments(const cc_queue_config_t *cfg);

/* Leaves an operation from wherever it is. Under DEBRA+ an early exit from
 * the read phase (empty queue, segment needed) first ends the restartable
 * phase, so no neutralisation can jump back into a finished operation. */
#define CC__QUEUE_LEAVE(S, t)      \
  do {                             \
    CC__SMR(S, write_phase)(t);    \
    CC__SMR(S, end)(t);            \
  } while (0)

#endif /* CCOLL_QUEUE_INTERNAL_H */
