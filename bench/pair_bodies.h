/* The two workloads of the allocation benchmarks (bench/alloc,
 * bench/track), written once over the includer's
 *     static inline void *node_alloc(int variant);
 *     static inline void  node_free(int variant, void *p);
 * so both stay inlined into the loops. Define BATCH, NVAR
 * and those two functions, then include this header once. */
#ifndef CCOLL_BENCH_PAIR_BODIES_H
#define CCOLL_BENCH_PAIR_BODIES_H

#include <stdlib.h>
#include <string.h>

#include "benchutil.h"

typedef struct {
  int variant;
  uint64_t pairs; /* per thread (same) or per producer (cross) */
} run_t;

/* Same thread: allocate a batch, touch it, free it: the node churn of a
 * container whose nodes live briefly. */
static void same_thread_body(int tid, void *ctx) {
  (void)tid;
  const run_t *r = ctx;
  void *batch[BATCH];
  for (uint64_t done = 0; done < r->pairs; done += BATCH) {
    for (int i = 0; i < BATCH; i++) {
      batch[i] = node_alloc(r->variant);
      *(volatile char *)batch[i] = 1;
    }
    for (int i = 0; i < BATCH; i++) node_free(r->variant, batch[i]);
  }
}

/* Cross thread: thread 2k allocates into ring k, thread 2k+1 frees from it. */
enum { PAIR_RINGS = 8 };
static bench_ring_t *rings;

static void cross_body(int tid, void *ctx) {
  const run_t *r = ctx;
  bench_ring_t *q = &rings[tid / 2];
  if (tid % 2 == 0) {
    for (uint64_t t = 0; t < r->pairs; t++) bench_ring_put(q, t, node_alloc(r->variant));
  } else {
    for (uint64_t h = 0; h < r->pairs; h++) node_free(r->variant, bench_ring_get(q, h));
  }
}

static void pair_rings_new(void) {
  rings = aligned_alloc(64, sizeof(bench_ring_t) * PAIR_RINGS);
  if (rings == NULL) abort();
  memset(rings, 0, sizeof(bench_ring_t) * PAIR_RINGS);
}

/* CPU ns per pair of each run, in run order per variant (bench_interleave
 * collects one figure per run: the wall time). */
static double *cpu_res;
static int cpu_reps, cpu_next[NVAR];

/* Runs variant v at point pt: wall ns per pair returned, CPU ns per pair
 * and allocating thread recorded in cpu_res. */
static double pair_run(const bench_point_t *pt, int v) {
  run_t r = {v, pt->pairs};
  double secs;
  if (pt->cross) {
    for (int i = 0; i < pt->threads / 2; i++) {
      cc_atomic_store_relaxed(&rings[i].head, 0);
      cc_atomic_store_relaxed(&rings[i].tail, 0);
    }
    secs = bench_threads(pt->threads, cross_body, &r);
  } else {
    secs = bench_threads(pt->threads, same_thread_body, &r);
  }
  int allocating = pt->cross ? pt->threads / 2 : pt->threads;
  cpu_res[v * cpu_reps + cpu_next[v]++] = bench_last_cpu() * 1e9 / (double)pt->pairs / allocating;
  return secs * 1e9 / (double)pt->pairs;
}

#endif /* CCOLL_BENCH_PAIR_BODIES_H */
