/* ccoll: pointer registry — who allocated what, and the one right way to free it.
 *
 * A registry maps a pointer to a record {size, allocation kind, owner
 * thread, time, optional stack}. It is sharded (default: eight shards per
 * CPU, at least 16), each shard an open-addressing hash table behind its
 * own lock, so threads working on different pointers rarely meet. The process-wide registry
 * (cc_registry_global()) is the one tracking mode uses: with CCOLL_TRACK=1
 * or cc_option_set(CC_OPT_TRACK, 1) before the first allocation, every
 * ccoll allocation is registered there and every cc_free must find its
 * pointer, or it is reported on stderr and NOT passed to the allocator.
 *
 * Unregistering frees with the function matching the kind, so a block is
 * never released by the wrong allocator. A pointer that is not registered
 * (double free, foreign pointer) is never freed: the call reports it on
 * stderr, with the allocation and first-free stacks when they were
 * captured, and returns CC_NOT_FOUND.
 *
 * Registry bookkeeping lives in libc memory, never in the ccoll allocator,
 * so it neither shows in ccoll statistics nor recurses into tracking. */
#ifndef CCOLL_REGISTRY_H
#define CCOLL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"
#include "status.h"

CC_BEGIN_DECLS

typedef struct cc_registry cc_registry_t;

/* How a registered block was allocated, hence how it is freed. */
typedef enum {
  CC_REG_CCOLL = 0, /* any cc_alloc* function: freed with cc_free(ptr, bytes) */
  CC_REG_MALLOC,    /* malloc / calloc / realloc: freed with free() */
  CC_REG_ALIGNED,   /* aligned_alloc / posix_memalign / memalign: freed with free() */
  CC_REG_CUSTOM     /* freed with the deleter given at registration */
} cc_reg_kind_t;

typedef void (*cc_deleter_t)(void *ptr, size_t bytes);

#define CC_REG_STACK_MAX 16

typedef struct {
  void *ptr;
  size_t bytes;          /* as registered (the buffer's size for an alias) */
  cc_reg_kind_t kind;
  uint32_t owner_thread; /* ccoll thread id (1, 2, ... in order of first use) of the registering thread */
  uint64_t time_ns;      /* CLOCK_MONOTONIC_COARSE at registration (same clock, ms resolution) */
  uint64_t buffer_id;    /* 0 unless ptr is a shared buffer's real pointer or alias */
  unsigned nframes;      /* 0 unless stacks are captured */
  void *stack[CC_REG_STACK_MAX];
} cc_reg_record_t;

typedef struct {
  uint64_t id;
  void *real;
  size_t bytes;
  cc_reg_kind_t kind;
  unsigned refcount;     /* pointers (real + aliases) still registered */
  uint32_t owner_thread;
} cc_reg_buffer_t;

typedef struct {
  uint64_t registered;          /* successful registrations (aliases count one each) */
  uint64_t unregistered;        /* successful unregistrations */
  uint64_t cross_thread_frees;  /* unregistered by a thread other than the owner */
  uint64_t bad_frees;           /* unregistrations of unknown pointers (reported, not freed) */
} cc_reg_stats_t;

/* The process-wide registry (created on first use, never freed). */
CC_API cc_registry_t *cc_registry_global(void);

/* A private registry with `shards` shards (0: eight per CPU, at least
 * 16). NULL on failure. */
CC_API cc_registry_t *cc_registry_new(unsigned shards);

/* Frees every block still registered (with its matching function; a
 * buffer exactly once), then the registry. No other call on reg may run.
 * The global registry is not freed (no-op). */
CC_API void cc_registry_free(cc_registry_t *reg);

/* Captures the registering (and freeing) call stack of every later
 * registration with backtrace(): about a microsecond each. Off by default;
 * CCOLL_TRACK_STACKS=1 turns it on for the global registry. */
CC_API void cc_registry_capture_stacks(cc_registry_t *reg, bool on);

/* CC_OK | CC_EXISTS (ptr already registered: nothing changed) | CC_EINVAL
 * (NULL reg or ptr, unknown kind, CC_REG_CUSTOM without deleter) |
 * CC_ENOMEM. The deleter is used only with CC_REG_CUSTOM. In tracking mode
 * every ccoll block is already in the global registry (CC_EXISTS). */
CC_API int cc_registry_register_ptr(cc_registry_t *reg, void *ptr, size_t bytes,
                                    cc_reg_kind_t kind, cc_deleter_t deleter);

/* Removes ptr and frees it with its matching function; for a shared
 * buffer's pointer, drops one reference and frees the buffer at zero.
 * CC_OK | CC_NOT_FOUND (reported on stderr; nothing freed) | CC_EINVAL. */
CC_API int cc_registry_unregister_ptr(cc_registry_t *reg, void *ptr);

/* Removes ptr without freeing it (ownership goes back to the caller).
 * Not for buffer pointers. CC_OK | CC_NOT_FOUND | CC_EINVAL. */
CC_API int cc_registry_forget_ptr(cc_registry_t *reg, void *ptr);

/* count * elem_size zeroed bytes from cc_calloc, registered as
 * CC_REG_CCOLL. NULL on 0, overflow or failure (nothing registered). */
CC_API void *cc_registry_new_array(cc_registry_t *reg, size_t count, size_t elem_size);

/* Registers real and n aliases (distinct pointers, e.g. views into real)
 * as one buffer with refcount n + 1. Unregistering any of them drops one
 * reference; real is freed exactly once, when the count reaches zero.
 * Returns the buffer id (> 0), or 0 on failure (NULL/duplicate pointers,
 * a pointer already registered, bad kind, out of memory): then nothing is
 * registered. */
CC_API uint64_t cc_registry_register_buffer_with_aliases(cc_registry_t *reg, void *real, size_t bytes,
                                                         void *const *aliases, size_t n,
                                                         cc_reg_kind_t kind, cc_deleter_t deleter);

CC_API bool   cc_registry_is_registered(cc_registry_t *reg, const void *ptr);
CC_API int    cc_registry_get_ptr_record(cc_registry_t *reg, const void *ptr, cc_reg_record_t *out); /* CC_OK | CC_NOT_FOUND | CC_EINVAL */
CC_API int    cc_registry_get_buffer(cc_registry_t *reg, uint64_t id, cc_reg_buffer_t *out);        /* CC_OK | CC_NOT_FOUND | CC_EINVAL */
CC_API size_t cc_registry_num_pointers(cc_registry_t *reg); /* registered pointers, aliases included */
CC_API size_t cc_registry_num_buffers(cc_registry_t *reg);  /* shared buffers alive */
CC_API size_t cc_registry_total_bytes(cc_registry_t *reg);  /* bytes registered, each buffer once */
CC_API void   cc_registry_stats(cc_registry_t *reg, cc_reg_stats_t *out);

/* Writes every registered pointer (a leak report) to out: a summary line,
 * then up to max_listed records with their stacks. Returns the number of
 * registered pointers. Meant for quiescent moments (exit, end of a test). */
CC_API size_t cc_registry_report_leaks(cc_registry_t *reg, FILE *out, size_t max_listed);

CC_END_DECLS

#endif /* CCOLL_REGISTRY_H */
