/* bench/smr: the cost of each reclamation scheme on a Treiber stack.
 *
 * Every thread runs push/pop pairs on one shared stack (pre-filled so pops
 * find nodes); every pop retires a node. The stack is the same code
 * instantiated per scheme (tests/smr_treiber.h), so the only difference is
 * the reclamation fast path. Thread i is pinned to CPU i mod ncpu; 1, 2, 4,
 * 8 and 16 threads; schemes run interleaved (NONE DEBRA DEBRA+ IBR NONE
 * ...), each repetition on a fresh domain; medians; ratios to NONE (which
 * never frees: the cost of reclamation itself) printed last.
 *
 * --pool adds DEBRA and IBR with their reuse pool off (CCOLL_SMR_REUSE=0
 * for those domains), interleaved with the rest: the pool's share of the
 * figures, measured in the same run. --threads N runs one thread count.
 *
 *   smr [--quick] [--reps N] [--csv PATH] [--svg PATH] [--pool] [--threads N] */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "ccoll.h"
#include "../tests/smr_treiber.h"

#define PREFILL 1024

/* the last two: the pool off */
static const cc_smr_kind_t kinds[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR,
                                      CC_SMR_DEBRA, CC_SMR_IBR};
static const char *const names[] = {"none", "debra", "debra+", "ibr", "debra/np", "ibr/np"};
#define NVAR_POOL 6
static const int thread_counts[] = {1, 2, 4, 8, 16};
#define NTC 5

typedef struct {
  int threads;
  uint64_t pairs_per_thread;
  ts_stack_t s;
  const ts_ops_t *ops;
} run_t;

static void body(int tid, void *ctx) {
  (void)tid;
  run_t *r = ctx;
  cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
  uint64_t v;
  for (uint64_t i = 0; i < r->pairs_per_thread; i++) {
    r->ops->push(&r->s, t, i);
    r->ops->pop(&r->s, t, &v);
  }
}

typedef struct {
  int threads;
  uint64_t total_pairs;
} cfg_t;

/* One timed run: Mpairs/s. */
static double run_once(int variant, void *ctx) {
  const cfg_t *c = ctx;
  run_t r = {.threads = c->threads, .pairs_per_thread = c->total_pairs / (uint64_t)c->threads};
  cc_smr_config_t sc = {kinds[variant], 0, 0};
  if (variant >= 4) setenv("CCOLL_SMR_REUSE", "0", 1); /* read by cc_smr_new */
  ts_init(&r.s, cc_smr_new(&sc));
  unsetenv("CCOLL_SMR_REUSE");
  r.ops = ts_ops(kinds[variant]);
  cc__smr_thr_t *t = cc__smr_thr(r.s.smr);
  for (int i = 0; i < PREFILL; i++) r.ops->push(&r.s, t, (uint64_t)i);
  double secs = bench_threads(c->threads, body, &r);
  ts_destroy(&r.s);
  cc_smr_free(r.s.smr);
  return (double)(r.pairs_per_thread * (uint64_t)c->threads) / secs / 1e6;
}

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  if (!bench_parse_opts(argc, argv, &o, " [--pool] [--threads N]")) return 0;
  int nvar = 4, only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--pool") == 0) nvar = NVAR_POOL;
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) only = atoi(argv[++i]);
  }
  /* NONE keeps every node until its domain dies: at 1M pairs a run
   * touches 64 MB of fresh memory and NONE measures page faults (it fell to
   * 6 Mpairs/s at 1 thread, 8x under its warm speed), flattering every
   * ratio to it. 200k pairs (12.8 MB) stays warm. At 2 threads a run
   * settles in one of two contention regimes (NONE 7-25 Mpairs/s), so the
   * full run takes many short reps for its medians. */
  uint64_t total = 200000;
  if (!bench_reps_given(argc, argv)) o.reps = o.quick ? 5 : 21;
  printf("bench/smr: Treiber stack push+pop pairs, %d CPUs, %d reps, %" PRIu64 " pairs per run\n",
         bench_ncpu(), o.reps, total);
  cc_smr_t *probe = cc_smr_new(&(cc_smr_config_t){CC_SMR_DEBRA, 0, 0});
  printf("announcement fence: %s\n", probe->asym ? "asymmetric (membarrier on the reclaimer side)"
                                                 : "seq_cst stores (no membarrier)");
  cc_smr_free(probe);
  printf("Mpairs/s (median)\n%8s", "threads");
  for (int v = 0; v < nvar; v++) printf(" %10s", names[v]);
  printf("\n");
  FILE *csv = bench_csv_open(o.csv, "threads,scheme,mpairs_per_s_median");
  double med[NTC][NVAR_POOL] = {{0}};
  bool ran[NTC] = {false};
  double *samples = calloc((size_t)nvar * (size_t)o.reps, sizeof *samples);
  for (int i = 0; i < NTC; i++) {
    if (only != 0 && thread_counts[i] != only) continue;
    ran[i] = true;
    cfg_t c = {thread_counts[i], total};
    bench_interleave(nvar, o.reps, run_once, &c, samples);
    printf("%8d", c.threads);
    for (int v = 0; v < nvar; v++) {
      med[i][v] = bench_median(samples + (size_t)v * (size_t)o.reps, (size_t)o.reps);
      printf(" %10.2f", med[i][v]);
      if (csv) fprintf(csv, "%d,%s,%.4f\n", c.threads, names[v], med[i][v]);
    }
    printf("\n");
    fflush(stdout);
  }
  printf("\nratio to none (targets at 2 threads: debra >= 0.95, ibr >= 0.90; debra+ >= 0.95x debra)\n");
  printf("%8s %10s %10s %10s %14s", "threads", "debra", "debra+", "ibr", "debra+/debra");
  if (nvar == NVAR_POOL) printf(" %10s %10s", "debra/np", "ibr/np");
  printf("\n");
  for (int i = 0; i < NTC; i++) {
    if (!ran[i]) continue;
    printf("%8d %10.3f %10.3f %10.3f %14.3f", thread_counts[i], med[i][1] / med[i][0],
           med[i][2] / med[i][0], med[i][3] / med[i][0], med[i][2] / med[i][1]);
    if (nvar == NVAR_POOL) printf(" %10.3f %10.3f", med[i][4] / med[i][0], med[i][5] / med[i][0]);
    printf("\n");
  }
  if (csv) fclose(csv);
  if (o.svg && o.csv) {
    char script[1024];
    snprintf(script, sizeof script,
             "set datafile separator ','\nset key left top\nset logscale x 2\n"
             "set xlabel 'threads'\nset ylabel 'Mpairs/s'\n"
             "plot for [s in 'none debra debra+ ibr'] '< grep ,'.s.', %s' using 1:3 with linespoints title s\n",
             o.csv);
    bench_plot_svg(o.svg, script);
  }
  free(samples);
  return 0;
}
