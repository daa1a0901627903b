/* Instantiates one queue implementation once per reclamation scheme:
 * define CC__QUEUE_IMPL to its header ("containers/segqueue_impl.h") and
 * include this file. Included by queue.c and queue_tiny.c only. */
#ifndef CC__QUEUE_IMPL
#error "define CC__QUEUE_IMPL to the implementation header before including queue_schemes.h"
#endif

#define CC__QS none
#include CC__QUEUE_IMPL
#undef CC__QS

#define CC__QS debra
#include CC__QUEUE_IMPL
#undef CC__QS

#define CC__QS debrap
#include CC__QUEUE_IMPL
#undef CC__QS

#define CC__QS ibr
#include CC__QUEUE_IMPL
#undef CC__QS
