/* ccoll: allocation glue over mimalloc (or libc).
 *
 * Every block may be freed by any thread. The backend is fixed by the first
 * allocation (see ccoll/config.h). Under ASan and TSan builds the default
 * backend is libc, so the sanitizers see every block.
 *
 * Statistics are per-thread counters summed by cc_alloc_stats_snapshot(); no
 * shared cache line is written on the allocation path. Counts are exact for
 * blocks allocated and freed while statistics are on, including blocks freed
 * by threads that have exited. Byte figures are requested sizes (before
 * cc_alloc_node's rounding): exact when every block is released with
 * cc_free(ptr, size-as-requested). cc_free_unsized, having no size, counts
 * the block's usable size, which may exceed the request. */
#ifndef CCOLL_ALLOC_H
#define CCOLL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

CC_BEGIN_DECLS

#define CC_CACHE_LINE 64

CC_API void *cc_alloc(size_t size);                          /* NULL on size 0 or failure */
CC_API void *cc_calloc(size_t count, size_t size);           /* zeroed; NULL on 0 or overflow */
CC_API void *cc_alloc_aligned(size_t size, size_t alignment); /* alignment: power of two, else NULL */
CC_API void *cc_alloc_node(size_t size);                     /* rounded up to and aligned on CC_CACHE_LINE */
CC_API void  cc_free(void *ptr, size_t size);                /* size as requested; NULL is a no-op */
CC_API void  cc_free_unsized(void *ptr);                     /* NULL is a no-op */

typedef struct {
  uint64_t alloc_count;       /* allocations since the last reset */
  uint64_t free_count;        /* frees since the last reset */
  uint64_t alloc_bytes;       /* bytes allocated since the last reset */
  uint64_t free_bytes;        /* bytes freed since the last reset */
  uint64_t current_allocated; /* bytes live now (counted while stats were on; not reset) */
} cc_alloc_snapshot_t;

CC_API void cc_alloc_stats_enable(bool enable);   /* same as cc_option_set(CC_OPT_STATS, enable) */
CC_API cc_alloc_snapshot_t cc_alloc_stats_snapshot(void);
CC_API void cc_alloc_stats_reset(void);

CC_END_DECLS

#endif /* CCOLL_ALLOC_H */
