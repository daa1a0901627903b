/* The allocation glue: alignment on every path and both backends, bad
 * sizes, statistics exact across threads (and across threads that exit),
 * fault injection. Criterion runs each test in a fresh process, so each
 * test may pick its backend before its first allocation. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "alloc/alloc_internal.h"
#include "alloc/mi_node.h"
#include "ccoll.h"
#include "ccoll/profiler.h"

static void use_backend(long kind) {
  cr_assert_eq(cc_option_set(CC_OPT_ALLOC, kind), CC_OK);
}

static bool aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* Statistics switched on and zeroed, then one node of `size` allocated
 * and freed: what they counted. */
static cc_alloc_snapshot_t one_counted_node_pair(size_t size) {
  cc_alloc_stats_enable(true);
  cc_alloc_stats_reset();
  cc_free(cc_alloc_node(size), size);
  return cc_alloc_stats_snapshot();
}

static void check_alignment_paths(void) {
  static const size_t sizes[] = {1, 7, 8, 15, 16, 17, 63, 64, 65, 100, 128, 255, 4096, 70000, 1 << 21};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    void *a = cc_alloc(n);
    cr_assert_not_null(a);
    cr_expect(aligned(a, n >= 16 ? 16 : 8), "cc_alloc(%zu) at %p", n, a);
    memset(a, 0xab, n);

    unsigned char *c = cc_calloc(n, 1);
    cr_assert_not_null(c);
    for (size_t k = 0; k < n; k++) cr_assert_eq(c[k], 0, "cc_calloc not zeroed at %zu", k);
    cr_expect(aligned(c, n >= 16 ? 16 : 8));

    void *node = cc_alloc_node(n);
    cr_assert_not_null(node);
    cr_expect(aligned(node, CC_CACHE_LINE), "cc_alloc_node(%zu) at %p", n, node);
    memset(node, 0xcd, (n + 63) & ~(size_t)63); /* rounded size is usable */

    for (size_t al = 1; al <= 4096; al <<= 1) {
      void *p = cc_alloc_aligned(n, al);
      cr_assert_not_null(p);
      cr_expect(aligned(p, al), "cc_alloc_aligned(%zu, %zu) at %p", n, al, p);
      memset(p, 1, n);
      cc_free(p, n);
    }
    cc_free(a, n);
    cc_free_unsized(c);
    cc_free(node, n);
  }
}

Test(alloc, alignment_mimalloc) { use_backend(CC_ALLOC_MIMALLOC); check_alignment_paths(); }
Test(alloc, alignment_libc) { use_backend(CC_ALLOC_LIBC); check_alignment_paths(); }

/* The gated path hands out mi_malloc_small's blocks untested, trusting
 * mimalloc's layout (probed at the first resolution): many blocks of every
 * small node size, enough to fill several pages of each class, must all be
 * line-aligned. */
Test(alloc, every_small_node_class_line_aligned) {
  use_backend(CC_ALLOC_MIMALLOC);
  enum { PER_SIZE = 300 };
  static void *held[PER_SIZE];
  for (size_t n = 1; n <= 1024; n += (n < 64 ? 1 : 61)) {
    for (int i = 0; i < PER_SIZE; i++) {
      held[i] = cc_alloc_node(n);
      cr_assert_not_null(held[i]);
      cr_assert(aligned(held[i], CC_CACHE_LINE), "cc_alloc_node(%zu) #%d at %p", n, i, held[i]);
    }
    for (int i = 0; i < PER_SIZE; i++) cc_free(held[i], n);
  }
}

static void check_bad_sizes(void) {
  cr_expect_null(cc_alloc(0));
  cr_expect_null(cc_alloc_node(0));
  cr_expect_null(cc_alloc_aligned(0, 64));
  cr_expect_null(cc_calloc(0, 8));
  cr_expect_null(cc_calloc(8, 0));
  cr_expect_null(cc_calloc(SIZE_MAX / 2, 3), "count*size overflow must fail");
  cr_expect_null(cc_calloc(SIZE_MAX, SIZE_MAX));
  cr_expect_null(cc_alloc_node(SIZE_MAX - 10), "rounding overflow must fail");
  cr_expect_null(cc_alloc_aligned(64, 0));
  cr_expect_null(cc_alloc_aligned(64, 3));
  cr_expect_null(cc_alloc_aligned(64, 96));
  cr_expect_null(cc_alloc(SIZE_MAX - 4096), "impossible size fails, no crash");
  cc_free(NULL, 0);
  cc_free_unsized(NULL);
}

/* The small-node route trusts mimalloc's size classes only after checking
 * the address: a misaligned block is replaced by a line-aligned node at
 * least as large, and from then on nodes come from mi_malloc_aligned. */
Test(alloc, misaligned_small_node_falls_back) {
  use_backend(CC_ALLOC_MIMALLOC);
  cc_free(cc_alloc_node(64), 64); /* resolve the mode */
  void *held[64];
  void *odd = NULL;
  int n = 0;
  /* 80-byte blocks: every other one is off the 64-byte grid */
  while (n < 64 && odd == NULL) {
    void *p = mi_malloc(80);
    cr_assert_not_null(p);
    if (aligned(p, CC_CACHE_LINE)) held[n++] = p;
    else odd = p;
  }
  cr_assert_not_null(odd, "no misaligned 80-byte block in 64 tries");
  void *node = cc__mi_node_misaligned(odd);
  cr_assert_not_null(node);
  cr_expect(aligned(node, CC_CACHE_LINE));
  cr_expect_geq(mi_usable_size(node), 128, "covers the rounded request of the block it replaces");
  memset(node, 0x5a, 128);
  mi_free(node);
  for (int i = 0; i < n; i++) mi_free(held[i]);
  check_alignment_paths(); /* every path still right after the switch */
  cc_alloc_snapshot_t s = one_counted_node_pair(100);
  cr_expect_eq(s.alloc_count, 1);
  cr_expect_eq(s.free_bytes, 100);
}

Test(alloc, bad_sizes_mimalloc) { use_backend(CC_ALLOC_MIMALLOC); check_bad_sizes(); }
Test(alloc, bad_sizes_libc) { use_backend(CC_ALLOC_LIBC); check_bad_sizes(); }

Test(alloc, backend_fixed_by_first_allocation) {
  void *p = cc_alloc(32);
  long now = cc_option_get(CC_OPT_ALLOC);
  long other = now == CC_ALLOC_LIBC ? CC_ALLOC_MIMALLOC : CC_ALLOC_LIBC;
  cr_expect_eq(cc_option_set(CC_OPT_ALLOC, other), CC_EINVAL);
  cr_expect_eq(cc_option_set(CC_OPT_ALLOC, now), CC_OK);
  cr_expect_eq(cc_option_get(CC_OPT_ALLOC), now);
  cc_free(p, 32);
}

/* ------------------------------------------------------------ statistics */

#define NTHREADS 8
#define PER_THREAD 20000

typedef struct {
  void *slots[NTHREADS][PER_THREAD];
  size_t sizes[NTHREADS][PER_THREAD];
  pthread_barrier_t phase;
} exchange_t;

static exchange_t *xch;

/* Each thread allocates its row, then frees its neighbour's row: every
 * block is freed by a thread other than the one that allocated it. */
static void *alloc_here_free_there(void *arg) {
  int me = (int)(intptr_t)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    size_t n = 1 + (size_t)((me * 7919 + i * 104729) % 1000);
    xch->sizes[me][i] = n;
    switch (i % 4) {
    case 0: xch->slots[me][i] = cc_alloc(n); break;
    case 1: xch->slots[me][i] = cc_alloc_node(n); break;
    case 2: xch->slots[me][i] = cc_calloc(n, 1); break;
    default: xch->slots[me][i] = cc_alloc_aligned(n, 256); break;
    }
    cr_assert_not_null(xch->slots[me][i]);
  }
  pthread_barrier_wait(&xch->phase);
  int other = (me + 1) % NTHREADS;
  for (int i = 0; i < PER_THREAD; i++) cc_free(xch->slots[other][i], xch->sizes[other][i]);
  return NULL;
}

static void check_stats_cross_thread(void) {
  xch = calloc(1, sizeof *xch);
  pthread_barrier_init(&xch->phase, NULL, NTHREADS);
  cc_alloc_stats_enable(true);
  cc_alloc_stats_reset();
  cc_alloc_snapshot_t s0 = cc_alloc_stats_snapshot();
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++) pthread_create(&th[t], NULL, alloc_here_free_there, (void *)(intptr_t)t);
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  /* all eight threads have exited: their counts must have been kept */
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count - s0.alloc_count, (uint64_t)NTHREADS * PER_THREAD);
  cr_expect_eq(s.free_count - s0.free_count, (uint64_t)NTHREADS * PER_THREAD);
  cr_expect_eq(s.alloc_bytes, s.free_bytes, "bytes in %llu != bytes out %llu",
               (unsigned long long)s.alloc_bytes, (unsigned long long)s.free_bytes);
  cr_expect_eq(s.current_allocated, s0.current_allocated);
  uint64_t requested = 0;
  for (int t = 0; t < NTHREADS; t++)
    for (int i = 0; i < PER_THREAD; i++) requested += xch->sizes[t][i];
  cr_expect_eq(s.alloc_bytes - s0.alloc_bytes, requested, "bytes are the requested sizes");
  pthread_barrier_destroy(&xch->phase);
  free(xch);
}

Test(stats, exact_8_threads_cross_free_mimalloc) { use_backend(CC_ALLOC_MIMALLOC); check_stats_cross_thread(); }
Test(stats, exact_8_threads_cross_free_libc) { use_backend(CC_ALLOC_LIBC); check_stats_cross_thread(); }

Test(stats, reset_and_current) {
  cc_alloc_stats_enable(true);
  void *keep = cc_alloc(1000);
  cc_alloc_stats_reset();
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, 0);
  cr_expect_eq(s.free_count, 0);
  cr_expect_geq(s.current_allocated, 1000, "live bytes survive a reset");
  void *p = cc_alloc_node(100);
  s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, 1);
  cr_expect_eq(s.alloc_bytes, 100, "requested size, before node rounding");
  cc_free(p, 100);
  cc_free(keep, 1000);
  s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.free_count, 2);
  cr_expect_eq(s.current_allocated, 0);
}

Test(stats, unsized_free_counts_usable_size) {
  cc_alloc_stats_enable(true);
  cc_alloc_stats_reset();
  void *p = cc_alloc(100);
  cc_free_unsized(p);
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, 1);
  cr_expect_eq(s.free_count, 1);
  cr_expect_eq(s.alloc_bytes, 100);
  cr_expect_geq(s.free_bytes, 100, "usable size covers the request");
  cr_expect_eq(s.current_allocated, 0, "never negative");
}

Test(stats, off_counts_nothing) {
  cc_alloc_stats_enable(false);
  cc_alloc_stats_reset();
  for (int i = 0; i < 100; i++) cc_free(cc_alloc(64), 64);
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, 0);
  cr_expect_eq(s.free_count, 0);
}

/* ------------------------------------------------------------ real allocation failure */

/* mimalloc refusing to map more memory (its limit_os_alloc option, process
 * wide: Criterion runs each test in a process of its own): node
 * allocations fail once the thread's segments are full. Statistics and the
 * rate-1 profiler count a node before their mimalloc call, so each failed
 * one must be taken back. Returns how many succeeded, chained through
 * *chain. */
enum { OOM_NODE = 48 };
static uint64_t nodes_until_mimalloc_fails(void **chain) {
  mi_option_enable(mi_option_limit_os_alloc);
  uint64_t n = 0;
  void *p;
  while (n < (1u << 24) && (p = cc_alloc_node(OOM_NODE)) != NULL) {
    *(void **)p = *chain;
    *chain = p;
    n++;
  }
  for (int i = 0; i < 10; i++) cr_assert_null(cc_alloc_node(OOM_NODE), "mimalloc recovered");
  mi_option_disable(mi_option_limit_os_alloc);
  cr_assert_lt(n, 1u << 24, "mimalloc never failed");
  return n;
}

static void free_chain(void *chain) {
  while (chain != NULL) {
    void *next = *(void **)chain;
    cc_free(chain, OOM_NODE);
    chain = next;
  }
}

Test(stats, failed_node_allocations_not_counted) {
  use_backend(CC_ALLOC_MIMALLOC);
  one_counted_node_pair(OOM_NODE); /* this thread's record linked */
  cc_alloc_stats_reset();
  void *chain = NULL;
  uint64_t n = nodes_until_mimalloc_fails(&chain);
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, n);
  cr_expect_eq(s.alloc_bytes, n * OOM_NODE);
  free_chain(chain);
  s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.free_count, n);
  cr_expect_eq(s.current_allocated, 0);
}

Test(profiler, failed_node_allocations_not_counted_at_rate_1) {
  use_backend(CC_ALLOC_MIMALLOC);
  cc_profiler_options_t o = cc_profiler_default_options();
  cc_profiler_t *prof = cc_profiler_new(&o);
  cr_assert_not_null(prof);
  cr_assert_eq(cc_profiler_start(prof), CC_OK);
  void *chain = NULL;
  uint64_t n = nodes_until_mimalloc_fails(&chain);
  cc_profile_t *s = cc_profiler_snapshot(prof);
  cr_assert_not_null(s);
  cr_expect_eq(s->allocs, n);
  cr_expect_eq(s->alloc_bytes, n * OOM_NODE);
  cc_profile_free(s);
  free_chain(chain);
  cc_profiler_free(prof);
}

/* ------------------------------------------------------------ fault injection */

Test(fault, every_third_allocation_fails) {
  cc_alloc_stats_enable(true);
  cc__alloc_fail_every(3);
  int nulls = 0;
  void *ps[30];
  for (int i = 0; i < 30; i++) {
    ps[i] = cc_alloc_node(48);
    nulls += ps[i] == NULL;
  }
  cr_expect_eq(nulls, 10);
  void *internal = cc__alloc_internal(64, 64, true);
  cr_expect_not_null(internal, "internal allocations are never failed on purpose");
  cc__alloc_fail_every(0);
  for (int i = 0; i < 30; i++) cc_free(ps[i], 48);
  cc_free_unsized(internal);
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, 21);
  cr_expect_eq(s.free_count, 21);
}

/* ------------------------------------------------------------ per-thread gates */

/* cc_alloc_node and cc_free pass a per-thread gate re-armed for at most
 * CC__ALLOC_GATE_SPAN operations: the changing thread sees a mode change
 * at once, another thread within that many operations of each kind. */
Test(gate, own_mode_change_takes_effect_at_once) {
  for (int i = 0; i < 10; i++) cc_free(cc_alloc_node(64), 64); /* gates armed in plain mode */
  cc_alloc_snapshot_t s = one_counted_node_pair(64);
  cr_expect_eq(s.alloc_count, 1);
  cr_expect_eq(s.free_count, 1);
  cc_alloc_stats_enable(false);
  cc_free(cc_alloc_node(64), 64);
  s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, 1, "off at once too");
  cr_expect_eq(s.free_count, 1);
}

enum { GATE_AFTER = 100 };
static pthread_barrier_t gate_phase;

static void *gated_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 10; i++) cc_free(cc_alloc_node(64), 64); /* arms the gates */
  pthread_barrier_wait(&gate_phase); /* the main thread changes the mode */
  pthread_barrier_wait(&gate_phase);
  for (int i = 0; i < CC__ALLOC_GATE_SPAN + GATE_AFTER; i++) cc_free(cc_alloc_node(64), 64);
  return NULL;
}

static void check_other_thread_within_span(void) {
  pthread_t t;
  pthread_barrier_init(&gate_phase, NULL, 2);
  pthread_create(&t, NULL, gated_worker, NULL);
  pthread_barrier_wait(&gate_phase);
  cc_alloc_stats_enable(true);
  cc_alloc_stats_reset();
  pthread_barrier_wait(&gate_phase);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&gate_phase);
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  /* past the span every operation is counted; before it, some may not be */
  cr_expect_geq(s.alloc_count, GATE_AFTER);
  cr_expect_leq(s.alloc_count, CC__ALLOC_GATE_SPAN + GATE_AFTER);
  cr_expect_geq(s.free_count, GATE_AFTER);
  cr_expect_leq(s.free_count, CC__ALLOC_GATE_SPAN + GATE_AFTER);
}

Test(gate, other_thread_sees_statistics_within_a_span_mimalloc) {
  use_backend(CC_ALLOC_MIMALLOC);
  check_other_thread_within_span();
}
Test(gate, other_thread_sees_statistics_within_a_span_libc) {
  use_backend(CC_ALLOC_LIBC);
  check_other_thread_within_span();
}

/* With statistics on the gates are never armed, so a counting thread
 * looks at the mode (expiry_inline, alloc.c) at every node allocation and
 * free: statistics going off reach it at once, with no span. */
enum { COUNTED_BEFORE = 10 };

static void *counting_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < COUNTED_BEFORE; i++) cc_free(cc_alloc_node(64), 64);
  pthread_barrier_wait(&gate_phase); /* the main thread turns statistics off */
  pthread_barrier_wait(&gate_phase);
  for (int i = 0; i < CC__ALLOC_GATE_SPAN + GATE_AFTER; i++) cc_free(cc_alloc_node(64), 64);
  return NULL;
}

Test(gate, statistics_off_reaches_a_counting_thread_at_once) {
  use_backend(CC_ALLOC_MIMALLOC);
  cc_alloc_stats_enable(true);
  cc_alloc_stats_reset();
  pthread_t t;
  pthread_barrier_init(&gate_phase, NULL, 2);
  pthread_create(&t, NULL, counting_worker, NULL);
  pthread_barrier_wait(&gate_phase);
  cc_alloc_stats_enable(false);
  pthread_barrier_wait(&gate_phase);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&gate_phase);
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.alloc_count, COUNTED_BEFORE, "%llu allocations counted", (unsigned long long)s.alloc_count);
  cr_expect_eq(s.free_count, COUNTED_BEFORE, "%llu frees counted", (unsigned long long)s.free_count);
  cr_expect_eq(s.alloc_bytes, COUNTED_BEFORE * 64);
}
