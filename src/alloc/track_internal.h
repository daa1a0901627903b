/* Internal: the contract between the allocation glue (alloc.c), the
 * registry (registry.c), the profiler (profiler*.c) and reclamation
 * (src/smr). Never installed.
 *
 * Everything here runs only when tracking or profiling is on: alloc.c
 * reaches these functions from its slow paths, never from the fast path. */
#ifndef CCOLL_TRACK_INTERNAL_H
#define CCOLL_TRACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atomic.h"
#include "compiler.h"
#include "ccoll/registry.h"
#include "ccoll/smr.h"

/* ------------------------------------------------------------ common */

/* Small process-unique thread ids (1, 2, ... in order of first use). */
extern cc_thread_local uint32_t cc__t_tid;
uint32_t cc__thread_id_assign(void);
static inline uint32_t cc__thread_id(void) {
  uint32_t t = cc__t_tid;
  return cc_likely(t != 0) ? t : cc__thread_id_assign();
}

uint64_t cc__now_ns(void);        /* CLOCK_MONOTONIC */
uint64_t cc__now_coarse_ns(void); /* CLOCK_MONOTONIC_COARSE: same clock, ms resolution, cheap */

/* backtrace() into pc[0..max), skipping this call and `skip` callers. */
unsigned cc__stack_capture(void **pc, unsigned max, unsigned skip);
/* One symbolised frame per line, each prefixed with indent. */
void cc__stack_print(FILE *out, void *const *pc, unsigned n, const char *indent);

/* ------------------------------------------------------------ registry internals */

/* A registry entry as seen by the registry's internal users. */
typedef struct {
  void *ptr;
  size_t bytes;
  uint64_t time_ns;
  uint32_t owner;
  uint8_t kind;
  uint8_t nframes;
  void **stack;   /* libc array of nframes pcs, or NULL; owned by whoever holds the entry */
} cc__reg_entry_t;

/* A registry for the library's own use: no stderr reports on unknown
 * pointers, no tombstones, stacks only when asked per entry. */
cc_registry_t *cc__registry_new_quiet(unsigned shards);

/* Inserts (replacing a stale entry for the same pointer, whose stack is
 * freed). false only on out of memory; then nothing changed. */
bool cc__registry_put(cc_registry_t *reg, void *ptr, size_t bytes, uint8_t kind,
                      bool with_stack);

/* Removes ptr; true and *out (stack ownership moves to the caller) when it
 * was there. Frees nothing. */
bool cc__registry_take(cc_registry_t *reg, const void *ptr, cc__reg_entry_t *out);

/* Calls fn on each entry under its shard's lock (fn must not call back
 * into reg). With `remove`, entries are removed after fn (their stacks are
 * freed). */
void cc__registry_visit(cc_registry_t *reg, bool remove,
                        void (*fn)(const cc__reg_entry_t *e, void *ctx), void *ctx);

/* ------------------------------------------------------------ tracking mode */

/* alloc.c -> registry.c, when CC_OPT_TRACK is on. */
bool cc__track_on_alloc(void *ptr, size_t requested); /* false: no memory for the record */
/* true and *requested when ptr was registered (the caller frees it);
 * false when it was not: already reported on stderr, must not be freed. */
bool cc__track_on_free(void *ptr, size_t *requested);

/* alloc.c: release a ccoll block whose registry record is already gone
 * (statistics, profiler, backend; no tracking lookup). */
void cc__alloc_release(void *ptr, size_t size);

/* ------------------------------------------------------------ profiler hooks */

/* The profiler's per-thread state, one TLS block: in a shared library every
 * initial-exec TLS variable costs a GOT load of its own. `countdown`: an
 * allocation is sampled when it expires (cc__countdown_expired below);
 * cc__prof_rearm() draws the next interval. Without block memory (tally
 * modes), frees are sampled by a countdown of their own. */
typedef struct {
  int64_t gate, free_gate; /* alloc.c: the per-thread gates of cc_alloc_node / cc_free */
  int64_t countdown, free_countdown, detail_countdown;
  void *rec;          /* profiler.c: this thread's record */
  int64_t live_published; /* profiler.c: net bytes of this thread's record in live_bytes */
  uintptr_t noted_region; /* profiler.c: the region (address >> 16) this thread noted last */
  uint32_t region_tid; /* profiler.c: thread id as the region table stores it */
  size_t pending;      /* profiler.c: requested size of the tally allocation in progress */
  bool unobserved;     /* profiler.c: the profiler's own allocations */
} cc__prof_tls_t;
extern cc_thread_local cc__prof_tls_t cc__prof_tls;

/* A countdown holds the operations left before the next sampled one,
 * minus one: an operation is sampled when its decrement goes negative.
 * The test is then the sign of the decrement (subq $1, %fs:..; js), with
 * no reload and compare. True when this operation is the sampled one. */
static inline bool cc__countdown_expired(int64_t *c) {
  int64_t left = *c - 1;
  *c = left;
  return left < 0;
}
void cc__prof_rearm(void);
void cc__prof_free_rearm(void);
static inline bool cc__prof_sample(void) {
  if (cc_likely(!cc__countdown_expired(&cc__prof_tls.countdown))) return false;
  cc__prof_rearm();
  return true;
}
static inline bool cc__prof_sample_free(void) {
  if (cc_likely(!cc__countdown_expired(&cc__prof_tls.free_countdown))) return false;
  cc__prof_free_rearm();
  return true;
}

/* Detail countdown: one sampled operation in CC__PROF_DETAIL_EVERY (on
 * average) is a "detail" one: timed when latency is on, its usable size
 * measured for fragmentation, the timeline advanced. Timing every
 * operation would cost more than the operation (two TSC reads, ~11 ns
 * each on a VM); percentiles from a uniform subsample are unbiased. */
#define CC__PROF_DETAIL_EVERY 64
void cc__prof_detail_rearm(void);
static inline bool cc__prof_detail(void) {
  if (cc_likely(!cc__countdown_expired(&cc__prof_tls.detail_countdown))) return false;
  cc__prof_detail_rearm();
  return true;
}

/* Cheap clock for latencies: the TSC on x86-64 (calibrated once against
 * CLOCK_MONOTONIC), else CLOCK_MONOTONIC ns. */
static inline uint64_t cc__prof_ticks(void) {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  return cc__now_ns();
#endif
}

extern cc_atomic(bool) cc__prof_time_ops; /* latency option of the running profiler */

/* A sampled allocation (p non-NULL) that took `ticks` (0: not timed);
 * `detail`: a detail operation (see cc__prof_detail). */
void cc__prof_on_alloc(void *p, size_t requested, uint64_t ticks, bool detail);

/* Free side with block memory (leak list or stacks): a counting filter
 * says cheaply whether p may be a sampled block; only then is the
 * profiler's table consulted. At sample rate 1 (the mode word says so)
 * every block is sampled: no countdown, no filter, the table is always
 * consulted. The filter is indexed by address bits (16-byte granules), so
 * that frees of neighbouring blocks read the same filter lines. */
#define CC__PROF_FILTER_BITS 16
extern cc_atomic(uint16_t) cc__prof_filter[1u << CC__PROF_FILTER_BITS];
static inline size_t cc__prof_filter_index(const void *p) {
  return (size_t)(((uintptr_t)p >> 4) & ((1u << CC__PROF_FILTER_BITS) - 1));
}
static inline bool cc__prof_maybe_sampled(const void *p) {
  /* relaxed: a block reaches its freeing thread through the user's own
   * synchronisation, which orders the sampler's increment before this */
  return cc_atomic_load_relaxed(&cc__prof_filter[cc__prof_filter_index(p)]) != 0;
}
typedef struct {
  bool sampled;
  uint32_t owner;
  size_t bytes;
} cc__prof_free_t;
/* size: as given to cc_free, SIZE_MAX when unknown. */
void cc__prof_free_begin(const void *p, size_t size, cc__prof_free_t *tok);
void cc__prof_free_end(const cc__prof_free_t *tok, uint64_t ticks, bool detail);

/* The tally profiler's own entry points (mimalloc, no block memory): they
 * allocate or free themselves, so alloc.c tail-calls them once its mode
 * compare says so. `tally`: every operation (rate 1); `sampled`: the
 * caller's countdown expired (rate < 1). Sizes are known (cc_free). */
void *cc__prof_tally_alloc(size_t size, size_t requested, size_t align);
/* cc__prof_tally_alloc for a node the small route serves (mi_node.h),
 * mimalloc's layout probed (alloc.c: no address test). */
void *cc__prof_tally_node(size_t rounded, size_t requested);
void cc__prof_tally_free(void *p, size_t size);
void *cc__prof_sampled_alloc(size_t size, size_t requested, size_t align);
void cc__prof_sampled_free(void *p, size_t size);

/* alloc.c: whether the backend is mimalloc (resolving the mode). */
bool cc__alloc_backend_is_mimalloc(void);

/* profiler.c -> alloc.c: the profiler hooks are wanted (or no longer);
 * `every` when every allocation is sampled (rate 1); `tally` when blocks
 * need not be remembered (no leak list, no stacks): then allocations and
 * frees only add to per-thread counters (the cross-thread matrix then
 * comes from the region table, see profiler.c). */
void cc__alloc_set_profiling(bool on, bool every, bool tally);

/* alloc.c -> profiler.c, once, before the allocation mode is first
 * resolved: starts the whole-run profiler when CCOLL_PROFILE is set. */
void cc__profiler_env_start(void);

/* ------------------------------------------------------------ reclamation domains */

/* src/smr calls these from cc_smr_new (after the domain is usable) and
 * cc_smr_free (before it is torn down), so that profiler reports include
 * every live domain's cc_smr_stats. Idempotent; never fail visibly (a
 * domain that cannot be recorded is just missing from reports). */
void cc__track_domain_register(cc_smr_t *d);
void cc__track_domain_unregister(cc_smr_t *d);

#endif /* CCOLL_TRACK_INTERNAL_H */
