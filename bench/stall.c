/* bench/stall: what one stalled thread does to each reclamation scheme.
 *
 * W workers (pinned, one per CPU by default) run push/pop pairs on a
 * Treiber stack pre-filled with N0 nodes, for 8 s. From t = 0 (after the
 * stack is populated; --stall-at S to start later) one more thread enters
 * a pop, reads the top node, and sleeps inside the operation's read phase
 * until the end. Sleeping (nanosleep, async-signal-safe) stands in for a
 * thread descheduled or stopped in a debugger; it costs no CPU, so
 * throughput compares fairly. Under DEBRA+ the sleeper is neutralised,
 * jumps back to the start of its read phase and sleeps again.
 *
 * Reported per scheme (IBR, DEBRA, DEBRA+):
 *   - pending at 2 s and at 8 s;
 *   - the share of the blocks retired between 2 s and 8 s still pending at
 *     8 s, bounded above by pending(8 s) / retired(2..8 s) (pending at 8 s
 *     also counts older blocks, so the true share is at most this);
 *   - the peak of pending in 0..2 s and in 2..8 s (flat when bounded), and
 *     for IBR the bound N0 + (W + 1) * (2 epoch_freq + 2 empty_freq) that the
 *     scheme guarantees whatever the run length;
 *   - throughput in 2..8 s with the stall, against runs without it (one
 *     just before, one just after, averaged);
 *   - neutralisations.
 * Targets: share <= 1% for IBR and DEBRA+; throughput >= 0.9x; DEBRA's
 * share is about 100% (it bounds nothing).
 *
 *   stall [--quick] [--workers W] [--stall-at S] [--csv PATH] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "ccoll.h"
#include "../tests/smr_treiber.h"

#define N0 10000

typedef struct {
  ts_stack_t s;
  const ts_ops_t *ops;
  cc_smr_kind_t kind;
  cc_atomic(int) stop;
  cc_atomic(int) stall_go;
  cc_atomic(int) stall_entries; /* read phases the sleeper began */
  cc_atomic(uint64_t) done[64]; /* per worker, published every 256 pairs */
  int workers;
} run_t;

typedef struct {
  run_t *r;
  int id;
} warg_t;

static void *worker(void *arg) {
  warg_t *a = arg;
  run_t *r = a->r;
  bench_pin(a->id);
  cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
  uint64_t n = 0, v;
  while (!cc_atomic_load_relaxed(&r->stop)) {
    for (int i = 0; i < 256; i++) {
      r->ops->push(&r->s, t, n + (uint64_t)i);
      r->ops->pop(&r->s, t, &v);
    }
    n += 256;
    cc_atomic_store_relaxed(&r->done[a->id], n);
  }
  return NULL;
}

static void nap(void) {
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

/* The stalled operation, per scheme. */
#define STALLER(S)                                                        \
  static void stall_##S(run_t *r) {                                       \
    cc__smr_thr_t *t = cc__smr_thr(r->s.smr);                             \
    CC__SMR(S, begin)(t);                                                 \
    CC__SMR_READ_PHASE(S, t);                                             \
    cc_atomic_fetch_add_relaxed(&r->stall_entries, 1);                    \
    uintptr_t top = CC__SMR(S, read)(t, &r->s.top);                       \
    (void)top;                                                            \
    while (!cc_atomic_load_acquire(&r->stop)) nap();                      \
    CC__SMR(S, write_phase)(t);                                           \
    CC__SMR(S, end)(t);                                                   \
  }
STALLER(ibr)
STALLER(debra)
STALLER(debrap)

static void *staller(void *arg) {
  run_t *r = arg;
  while (!cc_atomic_load_acquire(&r->stall_go)) {
    if (cc_atomic_load_acquire(&r->stop)) return NULL;
    nap();
  }
  switch (r->kind) {
  case CC_SMR_IBR: stall_ibr(r); break;
  case CC_SMR_DEBRA: stall_debra(r); break;
  default: stall_debrap(r); break;
  }
  return NULL;
}

static uint64_t total_ops(run_t *r) {
  uint64_t n = 0;
  for (int i = 0; i < r->workers; i++) n += cc_atomic_load_relaxed(&r->done[i]);
  return n;
}

static void sleep_until(double t) {
  for (;;) {
    double left = t - bench_now();
    if (left <= 0) return;
    struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

typedef struct {
  uint64_t pending1, pending2, retired12, peak01, peak12, neutralized;
  double mops_stall, mops_free;
  unsigned epoch_freq, empty_freq; /* the domain's defaults (larger with membarrier) */
} result_t;

/* One run of `len` seconds with a checkpoint at t1; stall from stall_at
 * (negative: no stall). Samples pending every 50 ms. */
static void run(cc_smr_kind_t kind, int workers, double t1, double len, double stall_at,
                result_t *res, bool stalled) {
  run_t *r = calloc(1, sizeof *r);
  r->kind = kind;
  r->workers = workers;
  cc_smr_config_t cfg = {kind, 0, 0};
  ts_init(&r->s, cc_smr_new(&cfg));
  res->epoch_freq = r->s.smr->epoch_freq;
  res->empty_freq = r->s.smr->empty_freq;
  r->ops = ts_ops(kind);
  cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
  for (uint64_t i = 0; i < N0; i++) r->ops->push(&r->s, t, i);
  pthread_t th[64], st;
  warg_t args[64];
  if (stalled) pthread_create(&st, NULL, staller, r);
  double t0 = bench_now();
  for (int i = 0; i < workers; i++) {
    args[i] = (warg_t){r, i};
    pthread_create(&th[i], NULL, worker, &args[i]);
  }
  cc_smr_stats_t s1 = {0}, s2;
  uint64_t ops1 = 0, peak01 = 0, peak12 = 0;
  bool at1 = false;
  for (;;) {
    double now = bench_now() - t0;
    if (stalled && !cc_atomic_load_relaxed(&r->stall_go) && now >= stall_at)
      cc_atomic_store_release(&r->stall_go, 1);
    cc_smr_stats_t s;
    cc_smr_stats(r->s.smr, &s);
    if (!at1 && now >= t1) {
      s1 = s;
      ops1 = total_ops(r);
      at1 = true;
    }
    if (!at1 && s.pending > peak01) peak01 = s.pending;
    if (at1 && s.pending > peak12) peak12 = s.pending;
    if (now >= len) break;
    sleep_until(t0 + now + 0.05);
  }
  cc_smr_stats(r->s.smr, &s2);
  uint64_t ops2 = total_ops(r);
  double secs = bench_now() - t0 - t1;
  cc_atomic_store_release(&r->stop, 1);
  for (int i = 0; i < workers; i++) pthread_join(th[i], NULL);
  if (stalled) pthread_join(st, NULL);
  double mops = (double)(ops2 - ops1) / secs / 1e6;
  if (stalled) {
    res->pending1 = s1.pending;
    res->pending2 = s2.pending;
    res->retired12 = s2.retired - s1.retired;
    res->peak01 = peak01;
    res->peak12 = peak12;
    res->neutralized = s2.neutralized;
    res->mops_stall = mops;
  } else {
    res->mops_free = mops;
  }
  ts_destroy(&r->s);
  cc_smr_free(r->s.smr);
  free(r);
}

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  int workers = bench_ncpu();
  double stall_at = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) workers = atoi(argv[++i]);
    else if (strcmp(argv[i], "--stall-at") == 0 && i + 1 < argc) stall_at = atof(argv[++i]);
  }
  if (!bench_parse_opts(argc, argv, &o, " [--workers W] [--stall-at S]")) return 0;
  if (workers < 1 || workers > 64) workers = 2;
  double t1 = o.quick ? 0.5 : 2, len = o.quick ? 2 : 8, free_len = o.quick ? 0.6 : 2;
  static const cc_smr_kind_t kinds[] = {CC_SMR_IBR, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS};
  result_t res[3];
  memset(res, 0, sizeof res);
  printf("bench/stall: %d workers (pinned), 1 thread stalled in a read phase from t=%.1f s, "
         "stack of %d nodes, checkpoints %.1f s and %.1f s\n",
         workers, stall_at, N0, t1, len);
  for (int k = 0; k < 3; k++) {
    /* the unstalled baseline runs just before and just after the stalled
     * run, and the two are averaged: a shared machine drifts */
    result_t before = {0}, after = {0};
    run(kinds[k], workers, free_len / 4, free_len, -1, &before, false);
    run(kinds[k], workers, t1, len, stall_at, &res[k], true);
    run(kinds[k], workers, free_len / 4, free_len, -1, &after, false);
    res[k].mops_free = (before.mops_free + after.mops_free) / 2;
    fprintf(stderr, "  %s done\n", cc_smr_kind_name(kinds[k]));
  }
  FILE *csv = bench_csv_open(o.csv, "scheme,pending_t1,pending_t2,retired_t1_t2,share_upper,"
                                    "peak_0_t1,peak_t1_t2,mops_stall,mops_free,ratio,neutralized");
  printf("\n%-7s %11s %11s %13s %9s %11s %11s %10s %9s %9s %6s %11s\n", "scheme", "pend@t1",
         "pend@t2", "retired t1-t2", "share<=", "peak 0-t1", "peak t1-t2", "bound", "Mops stl",
         "Mops free", "ratio", "neutralised");
  for (int k = 0; k < 3; k++) {
    result_t *x = &res[k];
    double share = x->retired12 ? (double)(x->pending2 < x->retired12 ? x->pending2 : x->retired12) /
                                      (double)x->retired12
                                : 0;
    char bound[32] = "-";
    if (kinds[k] == CC_SMR_IBR)
      snprintf(bound, sizeof bound, "%u", N0 + (unsigned)(workers + 1) * (2 * x->epoch_freq + 2 * x->empty_freq));
    double ratio = x->mops_free > 0 ? x->mops_stall / x->mops_free : 0;
    printf("%-7s %11" PRIu64 " %11" PRIu64 " %13" PRIu64 " %8.3f%% %11" PRIu64 " %11" PRIu64
           " %10s %9.2f %9.2f %6.2f %11" PRIu64 "\n",
           cc_smr_kind_name(kinds[k]), x->pending1, x->pending2, x->retired12, 100 * share, x->peak01,
           x->peak12, bound, x->mops_stall, x->mops_free, ratio, x->neutralized);
    if (csv)
      fprintf(csv, "%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f,%" PRIu64 ",%" PRIu64 ",%.3f,%.3f,%.3f,%" PRIu64 "\n",
              cc_smr_kind_name(kinds[k]), x->pending1, x->pending2, x->retired12, share, x->peak01,
              x->peak12, x->mops_stall, x->mops_free, ratio, x->neutralized);
  }
  printf("\ntargets: share <= 1%% for ibr and debra+ (debra ~100%%), throughput ratio >= 0.90\n");
  if (csv) fclose(csv);
  return 0;
}
