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

/* Usable size of a block from the active backend. */
size_t cc__alloc_usable_size(const void *p);

#endif /* CCOLL_ALLOC_INTERNAL_H */
