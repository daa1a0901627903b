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
 * --with VAR=VAL (up to 4 times) adds DEBRA and IBR whose domains are
 * created with that environment variable set (a tuning knob read by
 * cc_smr_new: CCOLL_DEBRA_EPOCH_OPS, CCOLL_SMR_REUSE, ...), interleaved with
 * the rest: a knob's effect measured in the same run. --pool is --with
 * CCOLL_SMR_REUSE=0 (the reuse pool's share). --threads N runs one thread
 * count. --cpu divides by the workers' CPU time instead of wall time
 * (Mpairs per CPU-second): on a machine shared with other jobs the wall
 * clock mostly measures them.
 *
 *   smr [--quick] [--reps N] [--csv PATH] [--svg PATH] [--pool] [--with VAR=VAL]... [--threads N] [--cpu] */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "ccoll.h"
#include "../tests/smr_treiber.h"

#define PREFILL 1024

#define NBASE 4
#define MAX_WITH 4
#define NVAR_MAX (NBASE + 2 * MAX_WITH)
/* the base schemes, then a DEBRA and an IBR per --with */
static cc_smr_kind_t kinds[NVAR_MAX] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
static char names[NVAR_MAX][24] = {"none", "debra", "debra+", "ibr"};
static const char *withs[NVAR_MAX]; /* VAR=VAL set while the domain is created */
static bool per_cpu;                /* --cpu */
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

/* A domain created with `with` (VAR=VAL or NULL) in the environment,
 * which cc_smr_new reads; the variable is unset again after. */
static cc_smr_t *with_env(const char *with, const cc_smr_config_t *sc) {
  if (with == NULL) return cc_smr_new(sc);
  char var[128];
  const char *eq = strchr(with, '=');
  snprintf(var, sizeof var, "%.*s", (int)(eq - with), with);
  setenv(var, eq + 1, 1);
  cc_smr_t *d = cc_smr_new(sc);
  unsetenv(var);
  return d;
}

/* Adds a DEBRA and an IBR variant created with VAR=VAL; false if malformed. */
static bool add_with(int *nvar, const char *with) {
  if (*nvar + 2 > NVAR_MAX || strchr(with, '=') == NULL || with[0] == '=') return false;
  int k = (*nvar - NBASE) / 2 + 1;
  kinds[*nvar] = CC_SMR_DEBRA;
  kinds[*nvar + 1] = CC_SMR_IBR;
  snprintf(names[*nvar], sizeof names[0], "debra/%d", k);
  snprintf(names[*nvar + 1], sizeof names[0], "ibr/%d", k);
  withs[*nvar] = withs[*nvar + 1] = with;
  printf("debra/%d, ibr/%d: %s\n", k, k, with);
  *nvar += 2;
  return true;
}

/* One timed run: Mpairs/s. */
static double run_once(int variant, void *ctx) {
  const cfg_t *c = ctx;
  run_t r = {.threads = c->threads, .pairs_per_thread = c->total_pairs / (uint64_t)c->threads};
  cc_smr_config_t sc = {kinds[variant], 0, 0};
  ts_init(&r.s, with_env(withs[variant], &sc));
  r.ops = ts_ops(kinds[variant]);
  cc__smr_thr_t *t = cc__smr_thr(r.s.smr);
  for (int i = 0; i < PREFILL; i++) r.ops->push(&r.s, t, (uint64_t)i);
  double secs = bench_threads(c->threads, body, &r);
  if (per_cpu) secs = bench_last_cpu();
  ts_destroy(&r.s);
  cc_smr_free(r.s.smr);
  return (double)(r.pairs_per_thread * (uint64_t)c->threads) / secs / 1e6;
}

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  if (!bench_parse_opts(argc, argv, &o, " [--pool] [--with VAR=VAL]... [--threads N] [--cpu]")) return 0;
  int nvar = NBASE, only = 0;
  for (int i = 1; i < argc; i++) {
    bool ok = true;
    if (strcmp(argv[i], "--pool") == 0) ok = add_with(&nvar, "CCOLL_SMR_REUSE=0");
    else if (strcmp(argv[i], "--with") == 0 && i + 1 < argc) ok = add_with(&nvar, argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) only = atoi(argv[++i]);
    else if (strcmp(argv[i], "--cpu") == 0) per_cpu = true;
    if (!ok) {
      fprintf(stderr, "smr: bad or too many --with/--pool (at most %d, VAR=VAL)\n", MAX_WITH);
      return 2;
    }
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
  printf("%s (median)\n%8s", per_cpu ? "Mpairs per CPU-second" : "Mpairs/s", "threads");
  for (int v = 0; v < nvar; v++) printf(" %10s", names[v]);
  printf("\n");
  FILE *csv = bench_csv_open(o.csv, "threads,scheme,mpairs_per_s_median");
  double med[NTC][NVAR_MAX] = {{0}};
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
  for (int v = NBASE; v < nvar; v++) printf(" %10s", names[v]);
  printf("\n");
  for (int i = 0; i < NTC; i++) {
    if (!ran[i]) continue;
    printf("%8d %10.3f %10.3f %10.3f %14.3f", thread_counts[i], med[i][1] / med[i][0],
           med[i][2] / med[i][0], med[i][3] / med[i][0], med[i][2] / med[i][1]);
    for (int v = NBASE; v < nvar; v++) printf(" %10.3f", med[i][v] / med[i][0]);
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
