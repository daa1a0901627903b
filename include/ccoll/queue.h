/* ccoll: unbounded lock-free linearizable MPMC FIFO queue.
 *
 * CC_QUEUE_SEGMENT (the default) is a fetch-and-add queue over linked array
 * segments: one FAA per operation in the common case, single-width CAS only.
 * CC_QUEUE_MS is the Michael-Scott queue, the reference implementation.
 * Both reclaim their memory through the queue's reclamation domain. */
#ifndef CCOLL_QUEUE_H
#define CCOLL_QUEUE_H

#include <stddef.h>

#include "export.h"
#include "smr.h"

CC_BEGIN_DECLS

typedef struct cc_queue cc_queue_t;
typedef enum { CC_QUEUE_DEFAULT = 0, CC_QUEUE_MS, CC_QUEUE_SEGMENT } cc_queue_kind_t;
typedef struct {
  cc_queue_kind_t kind;
  cc_smr_t *smr; /* NULL: cc_smr_default() */
} cc_queue_config_t;

CC_API cc_queue_t *cc_queue_new(const cc_queue_config_t *cfg); /* NULL cfg: fastest kind, default domain */
CC_API void   cc_queue_free(cc_queue_t *q);                    /* not concurrent with other calls on q */
CC_API int    cc_queue_enqueue(cc_queue_t *q, void *val);      /* CC_OK | CC_ENOMEM; any value, NULL too */
/* CC_ENOMEM (either call), the queue unchanged: no memory for a node, or for
 * the reclamation bookkeeping of what a dequeue retires (doc/queue.md). */
CC_API int    cc_queue_dequeue(cc_queue_t *q, void **val);     /* CC_OK | CC_EMPTY */
CC_API size_t cc_queue_size(const cc_queue_t *q);              /* exact when quiescent */

CC_END_DECLS

#endif /* CCOLL_QUEUE_H */
