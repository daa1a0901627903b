/* bench/track: what tracking and profiling cost on top of untracked
 * allocation.
 *
 * Every variant allocates 64-byte nodes with cc_alloc_node and frees them
 * with cc_free (batches of 64 on one thread, or producer -> consumer pairs
 * across threads); the variants differ only in what watches:
 *   untracked        nothing (the inline fast path)
 *   registry         each block registered in a sharded cc_registry and
 *                    unregistered (freed) through it: the work tracking
 *                    mode does per allocation and free
 *   profile 1.0      the profiler with its default options (sizes,
 *                    per-thread, cross-thread matrix, latency of one
 *                    operation in 64; no leak list, no stacks), every
 *                    allocation counted
 *   profile 0.01     the same, sampling 1% of allocations and of frees
 *   1.0 +leaks       rate 1 with the leak list: every block remembered in
 *                    the profiler's table until its free
 * Variants run interleaved, the order rotating (A B C D E, B C D E A, ...);
 * medians of wall and of CPU time; the ratios to
 * untracked are printed last, with the targets (sample rate 1.0:
 * <= 2x, 0.01: <= 1.1x). */
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "atomic.h"
#include "compiler.h"
#include "ccoll.h"
#include "ccoll/profiler.h"
#include "ccoll/registry.h"

#define NODE 64
#define BATCH 64

enum { V_BASE, V_REG, V_P1, V_P001, V_LEAKS, NVAR };
static const char *const var_name[NVAR] = {"untracked", "registry", "profile 1.0", "profile 0.01",
                                           "1.0 +leaks"};

static cc_registry_t *reg;

static inline void *node_alloc(int v) {
  void *p = cc_alloc_node(NODE);
  if (v == V_REG && cc_registry_register_ptr(reg, p, NODE, CC_REG_CCOLL, NULL) != CC_OK) abort();
  return p;
}

static inline void node_free(int v, void *p) {
  if (v == V_REG) cc_registry_unregister_ptr(reg, p); /* frees with cc_free */
  else cc_free(p, NODE);
}

#include "pair_bodies.h"

typedef bench_point_t point_t;


static cc_profiler_t *profiler_for(int v) {
  if (v < V_P1) return NULL;
  cc_profiler_options_t o = cc_profiler_default_options();
  o.sample_rate = v == V_P001 ? 0.01 : 1.0;
  o.leaks = v == V_LEAKS;
  cc_profiler_t *p = cc_profiler_new(&o);
  if (p == NULL || cc_profiler_start(p) != CC_OK) abort();
  return p;
}

/* Nanoseconds per alloc+free pair, per allocating thread. */
static double run_variant(int v, void *ctx) {
  const point_t *pt = ctx;
  cc_profiler_t *prof = profiler_for(v);
  double ns = pair_run(pt, v);
  cc_profiler_free(prof);
  return ns;
}

static const char *verdict(double ratio, double target) { return ratio <= target ? "ok  " : "OVER"; }

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  if (!bench_parse_opts(argc, argv, &o, NULL)) return 0;
  /* many short repetitions: the median drops the runs another process disturbed */
  if (!bench_reps_given(argc, argv)) o.reps = o.quick ? 5 : 11;
  uint64_t pairs = o.quick ? 200000 : 1000000;
  pair_rings_new();
  reg = cc_registry_new(0);
  FILE *csv = bench_csv_open(o.csv, "mode,threads,variant,median_ns_per_pair,ratio_to_untracked");

  cc_free(cc_alloc_node(NODE), NODE); /* resolve the backend, warm the heap */

  point_t points[16];
  int npoints = 0;
  npoints = bench_same_thread_points(points, npoints, o.quick, pairs);
  points[npoints++] = (point_t){true, 2, pairs / 2};
  if (!o.quick) points[npoints++] = (point_t){true, 4, pairs / 4};

  printf("bench/track: %d B nodes, %d CPUs, %d interleaved repetitions (rotating order), median ns per alloc+free pair "
         "(per allocating thread), wall / CPU time\n", NODE, bench_ncpu(), o.reps);
  printf("%-6s %7s", "mode", "threads");
  for (int v = 0; v < NVAR; v++) printf(" %19s", var_name[v]);
  printf("\n");
  double *res = calloc((size_t)NVAR * (size_t)o.reps, sizeof *res);
  cpu_res = calloc((size_t)NVAR * (size_t)o.reps, sizeof *cpu_res);
  cpu_reps = o.reps;
  double ratio[16][NVAR], med[16][NVAR], cpu_ratio[16][NVAR], cpu_med_all[16][NVAR];
  for (int i = 0; i < npoints; i++) {
    memset(cpu_next, 0, sizeof cpu_next);
    bench_interleave(NVAR, o.reps, run_variant, &points[i], res);
    double cpu_med[NVAR];
    for (int v = 0; v < NVAR; v++) cpu_med[v] = bench_median(cpu_res + v * o.reps, (size_t)o.reps);
    for (int v = 0; v < NVAR; v++) {
      cpu_ratio[i][v] = cpu_med[v] / cpu_med[V_BASE];
      cpu_med_all[i][v] = cpu_med[v];
    }
    const char *mode = points[i].cross ? "cross" : "same";
    printf("%-6s %7d", mode, points[i].threads);
    for (int v = 0; v < NVAR; v++) {
      med[i][v] = bench_median(res + v * o.reps, (size_t)o.reps);
      printf(" %8.1f /%7.1f ns", med[i][v], cpu_med[v]);
    }
    printf("\n");
    fflush(stdout);
    for (int v = 0; v < NVAR; v++) {
      ratio[i][v] = med[i][v] / med[i][V_BASE];
      if (csv) fprintf(csv, "%s,%d,%s,%.3f,%.4f\n", mode, points[i].threads, var_name[v], med[i][v], ratio[i][v]);
    }
  }
  free(res);
  if (csv) fclose(csv);
  if (o.svg && o.csv) {
    char script[1024];
    snprintf(script, sizeof script,
             "set datafile separator ','\nset title 'ccoll tracking and profiling: cost relative to untracked'\n"
             "set ylabel 'ratio (median ns per pair)'\nset logscale y\nset style data histograms\n"
             "set style fill solid 0.8\nset key top left\nset xtics rotate by -20\n"
             "plot '%s' using ($3 eq 'profile 0.01' ? $5 : 1/0):xtic(strcol(1).' '.strcol(2)) title 'profile 0.01', "
             "'' using ($3 eq 'profile 1.0' ? $5 : 1/0) title 'profile 1.0', "
             "'' using ($3 eq 'registry' ? $5 : 1/0) title 'registry'",
             o.csv);
    bench_plot_svg(o.svg, script);
  }

  printf("\nregistry: added cost per operation (register or unregister) over untracked allocation\n");
  for (int i = 0; i < npoints; i++)
    printf("%-6s %7d  %7.1f ns per op wall, %7.1f ns CPU  (%.2fx / %.2fx the untracked pair)\n",
           points[i].cross ? "cross" : "same", points[i].threads, (med[i][V_REG] - med[i][V_BASE]) / 2,
           (cpu_med_all[i][V_REG] - cpu_med_all[i][V_BASE]) / 2, ratio[i][V_REG], cpu_ratio[i][V_REG]);
  printf("\nratio to untracked, default options\n"
         "targets (issue 8): sample rate 1.0 <= 2x, sample rate 0.01 <= 1.1x the untracked cost "
         "(+leaks, remembering every block, has none)\n");
  printf("%-6s %7s | %-30s %-11s | %-30s %s\n", "", "", "wall time", "", "CPU time", "");
  printf("%-6s %7s | %-12s %-13s %-11s | %-12s %-13s %s\n", "mode", "threads", "profile 1.0", "profile 0.01",
         "1.0 +leaks", "profile 1.0", "profile 0.01", "1.0 +leaks");
  for (int i = 0; i < npoints; i++)
    printf("%-6s %7d | %6.2fx %s %6.2fx %s  %8.2fx | %6.2fx %s %6.2fx %s  %8.2fx\n",
           points[i].cross ? "cross" : "same", points[i].threads, ratio[i][V_P1], verdict(ratio[i][V_P1], 2.0),
           ratio[i][V_P001], verdict(ratio[i][V_P001], 1.1), ratio[i][V_LEAKS], cpu_ratio[i][V_P1],
           verdict(cpu_ratio[i][V_P1], 2.0), cpu_ratio[i][V_P001], verdict(cpu_ratio[i][V_P001], 1.1),
           cpu_ratio[i][V_LEAKS]);
  printf("(CPU time is steadier on a loaded machine: preemption is not counted; spinning is)\n");
  free(cpu_res);
  cc_registry_free(reg);
  free(rings);
  return 0;
}
