/* bench/alloc: the cost of the allocation glue.
 *
 * cc_alloc_node + cc_free against raw mi_malloc_aligned + mi_free (the same
 * 64-byte aligned blocks), statistics off and on, with the same thread
 * freeing what it allocated and with a producer thread allocating for a
 * consumer thread that frees (the flow a lock-free container has). Variants
 * run interleaved (A B C A B C ...); medians; ratios to raw mimalloc last. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

#include "benchutil.h"
#include "atomic.h"
#include "compiler.h"
#include "ccoll.h"

#define NODE 64
#define BATCH 64

enum { V_RAW, V_CC, V_CC_STATS, NVAR };
static const char *const var_name[NVAR] = {"raw mi_malloc_aligned", "cc_alloc_node", "cc_alloc_node+stats"};

typedef struct {
  int variant;
  int threads;
  uint64_t pairs; /* per thread (same) or per producer (cross) */
} run_t;

static inline void *node_alloc(int v) {
  return v == V_RAW ? mi_malloc_aligned(NODE, NODE) : cc_alloc_node(NODE);
}
static inline void node_free(int v, void *p) {
  if (v == V_RAW) mi_free(p);
  else cc_free(p, NODE);
}

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
static bench_ring_t *rings;

static void cross_body(int tid, void *ctx) {
  const run_t *r = ctx;
  bench_ring_t *q = &rings[tid / 2];
  if (tid % 2 == 0) {
    for (uint64_t t = 0; t < r->pairs; t++) {
      void *p = node_alloc(r->variant);
      bench_ring_put(q, t, p);
    }
  } else {
    for (uint64_t h = 0; h < r->pairs; h++) {
      void *p = bench_ring_get(q, h);
      node_free(r->variant, p);
    }
  }
}

typedef struct {
  bool cross;
  int threads;
  uint64_t pairs;
} point_t;

/* Returns nanoseconds per alloc+free pair, per thread doing allocations. */
static double run_variant(int v, void *ctx) {
  const point_t *pt = ctx;
  cc_alloc_stats_enable(v == V_CC_STATS);
  run_t r = {v, pt->threads, pt->pairs};
  double secs;
  if (pt->cross) {
    int pairs = pt->threads / 2;
    for (int i = 0; i < pairs; i++) {
      cc_atomic_store_relaxed(&rings[i].head, 0);
      cc_atomic_store_relaxed(&rings[i].tail, 0);
    }
    secs = bench_threads(pt->threads, cross_body, &r);
  } else {
    secs = bench_threads(pt->threads, same_thread_body, &r);
  }
  cc_alloc_stats_enable(false);
  return secs * 1e9 / (double)pt->pairs;
}

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  if (!bench_parse_opts(argc, argv, &o, NULL)) return 0;
  uint64_t pairs = o.quick ? 400000 : 3000000;
  rings = aligned_alloc(64, sizeof(bench_ring_t) * 8);
  memset(rings, 0, sizeof(bench_ring_t) * 8);
  FILE *csv = bench_csv_open(o.csv, "mode,threads,variant,median_ns_per_pair,ratio_to_raw");

  /* warm both heaps and resolve the backend before measuring */
  cc_free(cc_alloc_node(NODE), NODE);
  mi_free(mi_malloc_aligned(NODE, NODE));

  const point_t points[] = {
    {false, 1, pairs}, {false, 2, pairs}, {false, 4, pairs / 2},
    {true, 2, pairs}, {true, 4, pairs / 2},
  };
  const int npoints = (int)(sizeof points / sizeof points[0]);
  double ratio[8][NVAR];

  printf("bench/alloc: %d B nodes, %d CPUs, %d interleaved repetitions, median ns per alloc+free pair\n",
         NODE, bench_ncpu(), o.reps);
  printf("%-6s %7s  %22s %22s %22s\n", "mode", "threads", var_name[0], var_name[1], var_name[2]);
  double *res = calloc((size_t)NVAR * (size_t)o.reps, sizeof *res);
  for (int i = 0; i < npoints; i++) {
    point_t pt = points[i];
    bench_interleave(NVAR, o.reps, run_variant, &pt, res);
    double med[NVAR];
    for (int v = 0; v < NVAR; v++) med[v] = bench_median(res + v * o.reps, (size_t)o.reps);
    const char *mode = pt.cross ? "cross" : "same";
    printf("%-6s %7d  %19.2f ns %19.2f ns %19.2f ns\n", mode, pt.threads, med[0], med[1], med[2]);
    for (int v = 0; v < NVAR; v++) {
      ratio[i][v] = med[v] / med[V_RAW];
      if (csv) fprintf(csv, "%s,%d,%s,%.3f,%.4f\n", mode, pt.threads, var_name[v], med[v], ratio[i][v]);
    }
  }
  free(res);
  if (csv) fclose(csv);
  if (o.svg && o.csv) {
    char script[1024];
    snprintf(script, sizeof script,
             "set datafile separator ','\nset title 'ccoll allocation glue: cost relative to raw mimalloc'\n"
             "set ylabel 'ns per alloc+free pair (median)'\nset style data histograms\n"
             "set style fill solid 0.8\nset key top left\nset xtics rotate by -20\n"
             "plot '%s' using ($3 eq 'cc_alloc_node' ? $4 : 1/0):xtic(strcol(1).' '.strcol(2)) title 'cc_alloc_node', "
             "'' using ($3 eq 'raw mi_malloc_aligned' ? $4 : 1/0) title 'raw'",
             o.csv);
    bench_plot_svg(o.svg, script);
  }

  printf("\nratio to raw mimalloc (median cost; <= 1.05 stats off, <= 1.25 stats on is the target)\n");
  printf("%-6s %7s  %14s %14s\n", "mode", "threads", "stats off", "stats on");
  for (int i = 0; i < npoints; i++)
    printf("%-6s %7d  %13.3fx %13.3fx\n", points[i].cross ? "cross" : "same", points[i].threads,
           ratio[i][V_CC], ratio[i][V_CC_STATS]);
  free(rings);
  return 0;
}
