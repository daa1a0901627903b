/* Tests only: the segment queue with segments of CC__SEGQ_TINY_CELLS
 * cells, once per reclamation scheme (cc__queue_new_tiny_segments in
 * queue.c). The same code as the real one (segqueue_impl.h); only the
 * segment size and the names differ. */
#include "containers/queue_internal.h"

#define CC__SEGQ_CELLS CC__SEGQ_TINY_CELLS
#define CC__SEGQ_TAG segq_tiny

#define CC__QUEUE_IMPL "containers/segqueue_impl.h"
#include "containers/queue_schemes.h"
