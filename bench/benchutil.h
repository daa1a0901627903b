/* Shared helpers of the benchmark programs: clock, pinning, threads,
 * interleaved repetitions, medians, CSV and gnuplot output. */
#ifndef CCOLL_BENCHUTIL_H
#define CCOLL_BENCHUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atomic.h"
#include "compiler.h"

double bench_now(void);             /* seconds, monotonic */
int bench_ncpu(void);               /* CPUs this process may run on */
void bench_pin(int i);              /* pin the calling thread to CPU i mod ncpu */

/* Runs body(tid, ctx) on n threads, thread i pinned to CPU i mod ncpu,
 * released together by a barrier. Returns the seconds from the release to
 * the last thread's end. */
double bench_threads(int n, void (*body)(int tid, void *ctx), void *ctx);
/* CPU seconds the workers of the last bench_threads call used, summed:
 * unlike wall time, it leaves out the time other processes took from them
 * (spin-waits are counted). */
double bench_last_cpu(void);
double bench_thread_cpu(void);      /* CPU seconds of the calling thread */

/* One step of a spin-wait: pause, and every 64th step yield the CPU, so
 * that a waiter sharing a CPU with the thread it waits for (2 CPUs, more
 * threads) does not burn the rest of its time slice. */
void bench_backoff(unsigned step);
/* Single-producer single-consumer ring for cross-thread benchmarks: the
 * producer hands the consumer blocks to free. Positions count from 0. */
#define BENCH_RING 1024
typedef struct {
  cc_atomic(uint64_t) head cc_cache_aligned; /* written by the consumer */
  cc_atomic(uint64_t) tail cc_cache_aligned; /* written by the producer */
  void *slot[BENCH_RING] cc_cache_aligned;
} bench_ring_t;

/* Producer: stores p at position t once that slot is free. */
static inline void bench_ring_put(bench_ring_t *q, uint64_t t, void *p) {
  /* acquire: the consumer's head store publishes that the slot is free */
  for (unsigned n = 0; t - cc_atomic_load_acquire(&q->head) >= BENCH_RING; n++) bench_backoff(n);
  q->slot[t % BENCH_RING] = p;
  cc_atomic_store_release(&q->tail, t + 1); /* publishes slot[t] */
}

/* Consumer: the block at position h, once produced. */
static inline void *bench_ring_get(bench_ring_t *q, uint64_t h) {
  for (unsigned n = 0; cc_atomic_load_acquire(&q->tail) == h; n++) bench_backoff(n);
  void *p = q->slot[h % BENCH_RING];
  cc_atomic_store_release(&q->head, h + 1); /* slot h may be reused */
  return p;
}

/* Median of v[0..n) (sorts v). */
double bench_median(double *v, size_t n);

/* Interleaved repetitions: for rep in 0..reps, every variant once (the
 * order rotating from rep to rep), out[variant * reps + rep] = fn(variant,
 * ctx). So that drifts of a noisy machine hit every variant alike. */
void bench_interleave(int nvar, int reps, double (*fn)(int variant, void *ctx), void *ctx,
                      double *out);

/* Standard options of every benchmark: --quick (short runs for make demo),
 * --reps N, --csv PATH, --svg PATH. Unknown options are left for the caller
 * (returns false on --help). */
typedef struct {
  bool quick;
  int reps;
  const char *csv;
  const char *svg;
} bench_opts_t;
bool bench_parse_opts(int argc, char **argv, bench_opts_t *o, const char *usage);

FILE *bench_csv_open(const char *path, const char *header);

/* Renders an SVG with gnuplot (when installed) from a gnuplot script body;
 * "set terminal svg" and "set output" are prepended. Returns false when
 * gnuplot is missing or fails. */
bool bench_plot_svg(const char *svg_path, const char *script);

/* Whether --reps was on the command line (a program may pick its own
 * default otherwise). */
bool bench_reps_given(int argc, char **argv);

/* One measured point of the allocation benchmarks: same-thread pairs, or
 * a producer/consumer split; `pairs` per thread. */
typedef struct {
  bool cross;
  int threads;
  uint64_t pairs;
} bench_point_t;

/* Appends the same-thread points (1, 2, 4, 8, 16 threads; up to 4 with
 * --quick), with the same total work past 2 threads so oversubscribed runs
 * stay short. Returns the new count. */
int bench_same_thread_points(bench_point_t *pts, int n, bool quick, uint64_t pairs);

#endif /* CCOLL_BENCHUTIL_H */
