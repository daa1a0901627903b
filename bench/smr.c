/* bench/smr: the cost of each reclamation scheme on a Treiber stack and
 * on a sorted linked list.
 *
 * Every thread runs push/pop pairs on one shared stack (pre-filled so pops
 * find nodes); every pop retires a node. The stack is the same code
 * instantiated per scheme (tests/smr_treiber.h), so the only difference is
 * the reclamation fast path. Thread i is pinned to CPU i mod ncpu; 1, 2, 4,
 * 8 and 16 threads; schemes run interleaved (NONE DEBRA DEBRA+ IBR NONE
 * ...), each repetition on a fresh domain; medians; ratios to NONE (which
 * never frees: the cost of reclamation itself) printed last.
 *
 * The list workload (tests/smr_list.h, Harris-Michael, also one
 * instantiation per scheme) follows the stack's table with its own: keys
 * 0..N-1 (--keys N, 256 by default), prefilled to half, each thread doing
 * inserts and removes of random keys half and half. A list operation
 * walks ~N/4 nodes, so a scheme's per-operation cost (begin, end, retire)
 * weighs less than on the stack, and its per-node cost (IBR's protected
 * read) more. --stack or --list runs one workload only.
 *
 * --with VAR=VAL (up to 4 times) adds DEBRA and IBR whose domains are
 * created with that environment variable set (a tuning knob read by
 * cc_smr_new: CCOLL_DEBRA_EPOCH_OPS, CCOLL_SMR_REUSE, ...), interleaved with
 * the rest: a knob's effect measured in the same run. --pool is --with
 * CCOLL_SMR_REUSE=0 (the reuse pool's share); --with CCOLL_SMR_LEAK=1
 * measures the schemes allocating fresh memory as NONE does (what reusing
 * blocks costs or saves). --threads N runs one thread
 * count. --cpu divides by the workers' CPU time instead of wall time
 * (Mpairs per CPU-second): on a machine shared with other jobs the wall
 * clock mostly measures them.
 *
 * --trace prints one line per run on stderr (rate, CPU and wall time,
 * page faults, context switches, how long the workers overlapped, and the
 * domain's epochs, reclamation passes and pending blocks).
 * Memory a run frees stays committed for the next runs (mimalloc's
 * decommit off, see main); --decommit keeps mimalloc's default. After
 * every run an untimed thread collects the pages its teardown freed into
 * (settle), so no variant pays for the one before it.
 *
 *   smr [--quick] [--reps N] [--csv PATH] [--svg PATH] [--pool] [--with VAR=VAL]... [--threads N] [--cpu]
 *       [--trace] [--decommit] [--stack | --list] [--keys N] */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <mimalloc.h>

#include "benchutil.h"
#include "ccoll.h"
#include "../tests/smr_list.h"
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
static bool trace;                  /* --trace */
static bool warming;                /* the untimed run of run_table */
static const int thread_counts[] = {1, 2, 4, 8, 16};
#define NTC 5

/* --trace: each worker's span, to tell a run whose threads overlapped
 * (contended) from one where they mostly ran one after the other. */
#define MAX_TRACE 16
static double span[MAX_TRACE][2];

typedef struct {
  int threads;
  uint64_t pairs_per_thread;
  ts_stack_t s;
  const ts_ops_t *ops;
} run_t;

static void body(int tid, void *ctx) {
  run_t *r = ctx;
  if (tid < MAX_TRACE) span[tid][0] = bench_now();
  cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
  uint64_t v;
  for (uint64_t i = 0; i < r->pairs_per_thread; i++) {
    r->ops->push(&r->s, t, i);
    r->ops->pop(&r->s, t, &v);
  }
  if (tid < MAX_TRACE) span[tid][1] = bench_now();
}

/* ------------------------------------------------------------ list */

typedef struct {
  uint64_t ops_per_thread, keys;
  sl_list_t l;
  const sl_ops_t *ops;
} list_run_t;

static inline uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static void list_body(int tid, void *ctx) {
  list_run_t *r = ctx;
  if (tid < MAX_TRACE) span[tid][0] = bench_now();
  cc__smr_thr_t *t = cc__smr_thr(r->l.smr);
  uint64_t seed = 0x9e3779b97f4a7c15u * (uint64_t)(tid + 1);
  for (uint64_t i = 0; i < r->ops_per_thread; i++) {
    uint64_t x = xorshift64(&seed), key = (x >> 1) % r->keys;
    if (x & 1) r->ops->insert(&r->l, t, key);
    else r->ops->remove(&r->l, t, key);
  }
  if (tid < MAX_TRACE) span[tid][1] = bench_now();
}

/* bench_threads, and with --trace one line per run on stderr: the rate,
 * the workers' CPU time against wall time, page faults and context
 * switches of the process during the run, and how much of the run both
 * (all) workers spent running at once. */
static double timed_threads(int variant, int n, void (*fn)(int, void *), void *ctx, uint64_t work,
                            const cc_smr_t *dom) {
  cc_smr_stats_t s0, s1;
  cc_smr_stats(dom, &s0);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double secs = bench_threads(n, fn, ctx);
  getrusage(RUSAGE_SELF, &r1);
  double cpu = bench_last_cpu();
  cc_smr_stats(dom, &s1);
  if (trace) {
    double first_end = span[0][1], last_start = span[0][0];
    for (int i = 1; i < n && i < MAX_TRACE; i++) {
      if (span[i][1] < first_end) first_end = span[i][1];
      if (span[i][0] > last_start) last_start = span[i][0];
    }
    double overlap = first_end > last_start ? (first_end - last_start) / secs : 0;
    fprintf(stderr,
            "%s %-8s threads %2d  %7.2f M/s  wall %7.2f ms  cpu %7.2f ms  minflt %6ld  "
            "majflt %ld  nvcsw %4ld  nivcsw %4ld  overlap %.2f  epochs %" PRIu64 "  scans %" PRIu64
            "  pending %" PRIu64 "\n",
            warming ? "warmup" : "trace", names[variant], n, (double)work / secs / 1e6, secs * 1e3,
            cpu * 1e3, r1.ru_minflt - r0.ru_minflt, r1.ru_majflt - r0.ru_majflt,
            r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw, overlap, s1.epoch - s0.epoch,
            s1.scans - s0.scans, s1.pending);
  }
  return per_cpu ? cpu : secs;
}

typedef enum { WL_STACK, WL_LIST } workload_t;

typedef struct {
  int threads;
  uint64_t total_pairs; /* the list: operations */
  workload_t wl;
  uint64_t keys;
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

/* After a run, untimed: the main thread freed the run's nodes, which the
 * run's exited workers allocated, into their abandoned mimalloc pages
 * (NONE's 8-13 MB at once). Left alone, that work fell on the next run's
 * allocations: the variant after NONE (DEBRA) measured 0.1-0.15 below the
 * same configuration run elsewhere in the order. A thread that allocates
 * and frees node-sized blocks takes those pages back and collects them
 * now: 16 MB of them, more than NONE's stack run leaves (with 4 MB the
 * stack's variant after NONE still measured 0.05-0.08 below a copy of
 * itself elsewhere in the order, at 2 threads). (mi_collect(true) on the
 * main thread gave the memory back to the system instead: NONE then paid
 * page faults.) */
static void absorb(int tid, void *ctx) {
  (void)tid, (void)ctx;
  for (int i = 0; i < 1 << 18; i++) mi_free(mi_malloc(64));
}

static void settle(void) { (void)bench_threads(1, absorb, NULL); }

/* One timed list run: Mops/s. */
static double list_run_once(int variant, const cfg_t *c) {
  list_run_t r = {.ops_per_thread = c->total_pairs / (uint64_t)c->threads, .keys = c->keys};
  cc_smr_config_t sc = {kinds[variant], 0, 0};
  sl_init(&r.l, with_env(withs[variant], &sc));
  r.ops = sl_ops(kinds[variant]);
  cc__smr_thr_t *t = cc__smr_thr(r.l.smr);
  uint64_t seed = 0x2545f4914f6cdd1du;
  for (uint64_t n = 0; n < c->keys / 2;)
    if (r.ops->insert(&r.l, t, xorshift64(&seed) % c->keys) == CC_OK) n++;
  double secs = timed_threads(variant, c->threads, list_body, &r,
                              r.ops_per_thread * (uint64_t)c->threads, r.l.smr);
  sl_destroy(&r.l);
  cc_smr_free(r.l.smr);
  settle();
  return (double)(r.ops_per_thread * (uint64_t)c->threads) / secs / 1e6;
}

/* One timed run: Mpairs/s (the stack) or Mops/s (the list). */
static double run_once(int variant, void *ctx) {
  const cfg_t *c = ctx;
  if (c->wl == WL_LIST) return list_run_once(variant, c);
  run_t r = {.threads = c->threads, .pairs_per_thread = c->total_pairs / (uint64_t)c->threads};
  cc_smr_config_t sc = {kinds[variant], 0, 0};
  ts_init(&r.s, with_env(withs[variant], &sc));
  r.ops = ts_ops(kinds[variant]);
  cc__smr_thr_t *t = cc__smr_thr(r.s.smr);
  for (int i = 0; i < PREFILL; i++) r.ops->push(&r.s, t, (uint64_t)i);
  double secs = timed_threads(variant, c->threads, body, &r,
                              r.pairs_per_thread * (uint64_t)c->threads, r.s.smr);
  ts_destroy(&r.s);
  cc_smr_free(r.s.smr);
  settle();
  return (double)(r.pairs_per_thread * (uint64_t)c->threads) / secs / 1e6;
}

/* One workload's table: medians per thread count, then ratios to NONE.
 * CSV rows of the list carry "list:" before the scheme, and each row its
 * unit (the stack counts pairs, the list operations). */
static void run_table(const cfg_t *base, int nvar, int reps, int only, FILE *csv, const char *unit) {
  const char *prefix = base->wl == WL_LIST ? "list:" : "";
  printf("%s (median)\n%8s", unit, "threads");
  for (int v = 0; v < nvar; v++) printf(" %10s", names[v]);
  printf("\n");
  double med[NTC][NVAR_MAX] = {{0}};
  bool ran[NTC] = {false};
  double *samples = calloc((size_t)nvar * (size_t)reps, sizeof *samples);
  for (int i = 0; i < NTC; i++) {
    if (only != 0 && thread_counts[i] != only) continue;
    ran[i] = true;
    cfg_t c = *base;
    c.threads = thread_counts[i];
    /* untimed: the first run of a thread count touches memory no run
     * committed yet (NONE's 12.8 MB above all) */
    warming = true;
    for (int v = 0; v < nvar; v++) (void)run_once(v, &c);
    warming = false;
    bench_interleave(nvar, reps, run_once, &c, samples);
    printf("%8d", c.threads);
    for (int v = 0; v < nvar; v++) {
      med[i][v] = bench_median(samples + (size_t)v * (size_t)reps, (size_t)reps);
      printf(" %10.2f", med[i][v]);
      if (csv) fprintf(csv, "%d,%s%s,%.4f,%s\n", c.threads, prefix, names[v], med[i][v], unit);
    }
    printf("\n");
    fflush(stdout);
  }
  free(samples);
  printf("\n%sratio to none (targets at 2 threads: debra >= 0.95, ibr >= 0.90; debra+ >= 0.95x debra)\n",
         base->wl == WL_LIST ? "list: " : "");
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
  fflush(stdout);
}

/* What the tables' figures depend on besides the code, under the first one. */
static void print_setup(const char *fence, bool decommit) {
  printf("announcement fence: %s\n", fence);
  printf("mimalloc decommit: %s\n", decommit ? "on (--decommit)" : "off (freed memory stays committed)");
}

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  if (!bench_parse_opts(argc, argv, &o,
                        " [--pool] [--with VAR=VAL]... [--threads N] [--cpu] [--trace] [--decommit]"
                        " [--stack | --list] [--keys N]"))
    return 0;
  int nvar = NBASE, only = 0;
  bool stack = true, list = true, decommit = false;
  uint64_t keys = 256;
  for (int i = 1; i < argc; i++) {
    bool ok = true;
    if (strcmp(argv[i], "--pool") == 0) ok = add_with(&nvar, "CCOLL_SMR_REUSE=0");
    else if (strcmp(argv[i], "--with") == 0 && i + 1 < argc) ok = add_with(&nvar, argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) only = atoi(argv[++i]);
    else if (strcmp(argv[i], "--cpu") == 0) per_cpu = true;
    else if (strcmp(argv[i], "--trace") == 0) trace = true;
    else if (strcmp(argv[i], "--decommit") == 0) decommit = true;
    else if (strcmp(argv[i], "--stack") == 0) list = false;
    else if (strcmp(argv[i], "--list") == 0) stack = false;
    else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) keys = strtoull(argv[++i], NULL, 10);
    if (!ok) {
      fprintf(stderr, "smr: bad or too many --with/--pool (at most %d, VAR=VAL)\n", MAX_WITH);
      return 2;
    }
  }
  if (keys < 2 || keys > (1u << 20)) {
    fprintf(stderr, "smr: --keys takes 2 to %u\n", 1u << 20);
    return 2;
  }
  if (!stack && !list) {
    fprintf(stderr, "smr: --stack and --list exclude each other\n");
    return 2;
  }
  /* NONE frees its run's nodes only when the run's domain dies; mimalloc
   * then keeps those pages committed for its decommit delay (25 ms) and
   * gives them back to the kernel after it. A NONE run that starts before
   * the delay expired reuses them; one that starts after refaults every
   * page (--trace: 1,100-3,200 minor faults and 2-6 Mpairs/s against 0
   * faults and 20-30 Mpairs/s at 2 threads), so which regime a NONE run
   * lands in depended on how long the other schemes' runs before it took.
   * The schemes that reclaim reuse their own memory and hardly fault.
   * Decommit off: every run after the first starts on committed memory,
   * NONE included (--decommit restores mimalloc's default). */
  if (!decommit) mi_option_disable(mi_option_allow_decommit);
  /* NONE keeps every node until its domain dies: at 1M pairs a run
   * touches 64 MB and NONE measures page faults (it fell to 6 Mpairs/s at
   * 1 thread, 8x under its warm speed), flattering every ratio to it.
   * 200k pairs (12.8 MB) fit in what the earlier runs left committed. Runs
   * this short are noisy on a shared machine, so the full run takes many
   * reps for its medians. */
  uint64_t total = 200000;
  /* a list operation walks ~keys/4 nodes: fewer of them fill a run */
  uint64_t list_total = (o.quick ? 800000 : 4000000) / keys * 16 + 16000;
  if (!bench_reps_given(argc, argv)) o.reps = o.quick ? 5 : 21;
  cc_smr_t *probe = cc_smr_new(&(cc_smr_config_t){CC_SMR_DEBRA, 0, 0});
  const char *fence = probe->asym ? "asymmetric (membarrier on the reclaimer side)"
                                  : "seq_cst stores (no membarrier)";
  cc_smr_free(probe);
  FILE *csv = bench_csv_open(o.csv, "threads,scheme,median,unit");
  if (stack) {
    printf("bench/smr: Treiber stack push+pop pairs, %d CPUs, %d reps, %" PRIu64 " pairs per run\n",
           bench_ncpu(), o.reps, total);
    print_setup(fence, decommit);
    run_table(&(cfg_t){.wl = WL_STACK, .total_pairs = total}, nvar, o.reps, only, csv,
              per_cpu ? "Mpairs per CPU-second" : "Mpairs/s");
  }
  if (list) {
    printf("%sbench/smr: sorted list, keys 0..%" PRIu64 " prefilled to half, 50%% insert 50%% remove, "
           "%d CPUs, %d reps, %" PRIu64 " operations per run\n",
           stack ? "\n" : "", keys - 1, bench_ncpu(), o.reps, list_total);
    if (!stack) print_setup(fence, decommit);
    run_table(&(cfg_t){.wl = WL_LIST, .total_pairs = list_total, .keys = keys}, nvar, o.reps, only,
              csv, per_cpu ? "Mops per CPU-second" : "Mops/s");
  }
  if (csv) fclose(csv);
  if (o.svg && o.csv) {
    char script[1024];
    snprintf(script, sizeof script,
             "set datafile separator ','\nset key left top\nset logscale x 2\n"
             "set xlabel 'threads'\nset ylabel 'Mpairs/s (stack), Mops/s (list)'\n"
             "plot for [s in 'none debra debra+ ibr list:none list:debra list:debra+ list:ibr'] "
             "'< grep ,'.s.', %s' using 1:3 with linespoints title s\n",
             o.csv);
    bench_plot_svg(o.svg, script);
  }
  return 0;
}
