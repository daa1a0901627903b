/* Internal: allocator hooks for the other modules and the tests. */
#ifndef CCOLL_ALLOC_INTERNAL_H
#define CCOLL_ALLOC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fault injection: from now on every `every`-th ccoll allocation (counted
 * process-wide) returns NULL; 0 turns it off. Internal allocations made
 * with cc__alloc_internal() are never failed on purpose. */
void cc__alloc_fail_every(uint64_t every);

/* For the library's own bookkeeping (thread records, limbo blocks) where a
 * caller cannot report CC_ENOMEM: counted in the statistics like any other
 * block, never hit by fault injection. Free with cc_free / cc_free_unsized.
 * May still return NULL on a real out-of-memory. */
void *cc__alloc_internal(size_t size, size_t alignment, bool zero);
/* Tests: the calling thread's next n cc__alloc_internal calls return NULL,
 * as on a real out-of-memory (0: none). */
void cc__alloc_internal_fail_next(unsigned n);

/* cc_alloc_node and cc_free (small nodes, sized frees) first decrement a
 * per-thread gate: while it has not expired the operation is plain
 * mimalloc, with no look at the mode word. A thread re-arms its gates for
 * at most this many operations, so a mode change (statistics, profiler,
 * fault injection) made by another thread reaches it within this many
 * node allocations and this many frees; the changing thread's own gates
 * expire at once. */
#define CC__ALLOC_GATE_SPAN 64

/* A block of exactly `size` bytes with malloc's alignment (8 at least),
 * counted, tracked and failed like cc_alloc's, freed with cc_free(p,
 * size): the SMR layer's packed blocks. Its fast path is cc_alloc_node's
 * gate (above), which it re-arms like cc_alloc_node. */
void *cc__alloc_packed(size_t size);

/* Usable size of a block from the active backend. */
size_t cc__alloc_usable_size(const void *p);

#endif /* CCOLL_ALLOC_INTERNAL_H */
