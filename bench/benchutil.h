/* Shared helpers of the benchmark programs: clock, pinning, threads,
 * interleaved repetitions, medians, CSV and gnuplot output. */
#ifndef CCOLL_BENCHUTIL_H
#define CCOLL_BENCHUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

double bench_now(void);             /* seconds, monotonic */
int bench_ncpu(void);               /* CPUs this process may run on */
void bench_pin(int i);              /* pin the calling thread to CPU i mod ncpu */

/* Runs body(tid, ctx) on n threads, thread i pinned to CPU i mod ncpu,
 * released together by a barrier. Returns the seconds from the release to
 * the last thread's end. */
double bench_threads(int n, void (*body)(int tid, void *ctx), void *ctx);

/* Median of v[0..n) (sorts v). */
/* One step of a spin-wait: pause, and every 64th step yield the CPU, so
 * that a waiter sharing a CPU with the thread it waits for (2 CPUs, more
 * threads) does not burn the rest of its time slice. */
void bench_backoff(unsigned step);
double bench_median(double *v, size_t n);

/* Interleaved repetitions: for rep in 0..reps, for variant in 0..nvar,
 * out[variant * reps + rep] = fn(variant, ctx). A B A B ... so that drifts
 * of a noisy machine hit every variant alike. */
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

#endif /* CCOLL_BENCHUTIL_H */
