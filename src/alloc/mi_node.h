/* Internal: a cache-line node from mimalloc by its cheapest route.
 *
 * mi_malloc_aligned checks its alignment argument, handles offsets and
 * looks up the thread's heap before it reaches the small-object free list:
 * about 30 instructions for a 64-byte node. mi_malloc_small is that free
 * list pop alone (about 13). Its blocks are aligned on their size class,
 * and the classes a multiple of 64 maps to (64, 128, 192, 256, 320, ...,
 * 1024) are multiples of 64, so in practice the block is line-aligned; but
 * mimalloc does not promise it (padding in debug builds breaks it), so the
 * address is checked here. A misaligned block switches the glue, for good,
 * to mi_malloc_aligned through its slow path (cc__mi_node_misaligned).
 * The gated fast paths of alloc.c skip the check: they run only once a
 * probe of every class at the first mode resolution passed (alloc.c,
 * mimalloc_layout_ok). */
#ifndef CCOLL_MI_NODE_H
#define CCOLL_MI_NODE_H

#include <stddef.h>
#include <stdint.h>

#include <mimalloc.h>

#include "compiler.h"
#include "ccoll/alloc.h"

static inline size_t cc__node_round(size_t size) {
  return (size + CC_CACHE_LINE - 1) & ~(size_t)(CC_CACHE_LINE - 1); /* 0 on overflow */
}

/* alloc.c: replaces the misaligned block p by a node at least as large
 * from mi_malloc_aligned, and stops the small route for good. The size
 * comes from p itself (its usable size covers the request), so that the
 * fast paths keep no register live across their mimalloc call. */
void *cc__mi_node_misaligned(void *p);

/* rounded: a multiple of CC_CACHE_LINE in [CC_CACHE_LINE, MI_SMALL_SIZE_MAX]. */
static cc_force_inline void *cc__mi_node_small(size_t rounded) {
  void *p = mi_malloc_small(rounded);
  if (cc_likely(((uintptr_t)p & (CC_CACHE_LINE - 1)) == 0)) return p; /* NULL included */
  return cc__mi_node_misaligned(p);
}

/* rounded: a non-zero multiple of CC_CACHE_LINE. */
static cc_force_inline void *cc__mi_node(size_t rounded) {
  if (cc_likely(rounded <= MI_SMALL_SIZE_MAX)) return cc__mi_node_small(rounded);
  return mi_malloc_aligned(rounded, CC_CACHE_LINE);
}

#endif /* CCOLL_MI_NODE_H */
