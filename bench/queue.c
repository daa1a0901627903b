/* bench/queue: MPMC queue throughput against what a user would pick instead.
 *
 * Workloads, at 1, 2, 4, 8, 16 threads pinned round-robin to the CPUs:
 *   pairs  every thread enqueues then dequeues, repeatedly (near-empty queue)
 *   split  half the threads enqueue, the other half dequeue until all is taken
 * Variants, measured in the same run, interleaved (A B C ... A B C ...):
 *   segment            cc_queue CC_QUEUE_SEGMENT (default domain's scheme, in a
 *                      domain with epoch_freq 4, empty_freq 8: see seg_domain)
 *   ms                 cc_queue CC_QUEUE_MS
 *   ck_fifo_mpmc+epoch ck_fifo_mpmc, a node per enqueue, dequeued entries
 *                      retired with ck_epoch_call, ck_epoch_poll every 32 ops
 *   ck_fifo_mpmc+reuse ck_fifo_mpmc, the dequeued (garbage) entry reused by
 *                      the same thread's next enqueue, as ck's own tests do;
 *                      never freed during the run (pairs only: a consumer has
 *                      no enqueue to recycle into)
 *   urcu_wfcq          liburcu wfcqueue, cds_wfcq_dequeue_blocking (its
 *                      dequeue lock), node freed at once (safe for wfcq)
 *   urcu_rculfq        liburcu rculfqueue inside rcu_read_lock, nodes freed
 *                      with call_rcu (default flavour, liburcu-memb)
 *   mutex_list         pthread_mutex around a singly linked list
 *   faa_ceiling        every thread does fetch-and-add on one shared word:
 *                      the hardware's bound for any one-FAA-per-op queue
 * Baseline nodes come from mimalloc (mi_malloc), the allocator ccoll uses,
 * so the comparison is between queues, not allocators. Result: median Mops/s
 * (enqueues + dequeues per second; FAAs for the ceiling). Ratios last. */
#define _LGPL_SOURCE 1
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <ck_epoch.h>
#include <ck_fifo.h>
#include <mimalloc.h>
#include <urcu.h>
#include <urcu/rculfqueue.h>
#include <urcu/wfcqueue.h>

#include "atomic.h"
#include "benchutil.h"
#include "compiler.h"
#include "ccoll/config.h"
#include "ccoll/queue.h"
#include "ccoll/smr.h"

#define MAXT 16

enum { V_SEG, V_MS, V_CK_EPOCH, V_CK_REUSE, V_WFCQ, V_RCULFQ, V_MUTEX, V_FAA, NVAR };
static const char *const var_name[NVAR] = {"segment",   "ms",          "ck_fifo_mpmc+epoch",
                                           "ck_fifo_mpmc+reuse", "urcu_wfcq", "urcu_rculfq",
                                           "mutex_list", "faa_ceiling"};
static const int thread_counts[] = {1, 2, 4, 8, 16};
#define NTC 5

/* ---------------------------------------------------------------- baselines */

typedef struct {
  ck_fifo_mpmc_entry_t fe;
  ck_epoch_entry_t ee;
} ck_node_t;
CK_EPOCH_CONTAINER(ck_node_t, ee, ck_node_of)
static void ck_node_free(ck_epoch_entry_t *e) { mi_free(ck_node_of(e)); }

typedef struct {
  struct cds_wfcq_node n;
  void *val;
} wf_node_t;

typedef struct {
  struct cds_lfq_node_rcu n;
  struct rcu_head rcu;
  void *val;
} lf_node_t;
static void lf_node_free(struct rcu_head *h) { mi_free(caa_container_of(h, lf_node_t, rcu)); }

typedef struct ml_node {
  struct ml_node *next;
  void *val;
} ml_node_t;

/* Everything one run needs; one instance per run, queues fresh and empty. */
typedef struct {
  int variant, threads;
  bool split;
  uint64_t per_thread; /* pairs per thread, or enqueues per producer */
  cc_queue_t *cq;
  ck_fifo_mpmc_t ck cc_cache_aligned;
  struct {
    struct cds_wfcq_head h cc_cache_aligned; /* with the dequeue lock */
    struct cds_wfcq_tail t cc_cache_aligned;
  } wf;
  struct cds_lfq_queue_rcu lf cc_cache_aligned;
  struct {
    pthread_mutex_t mu;
    ml_node_t *head, *tail;
  } ml cc_cache_aligned;
  cc_atomic(uint64_t) faa cc_cache_aligned;
  cc_atomic(uint64_t) consumed cc_cache_aligned;
  ck_node_t *spare[MAXT]; /* ck reuse: each thread's entry for its next enqueue */
  /* Each thread's own start and end: the run lasts from the first start to
   * the last end (the spawning thread may be descheduled at the release, so
   * its clock is not used). */
  double t_start[MAXT], t_end[MAXT];
} run_t;

/* The segment queue's domain: same scheme as the default domain, with IBR's
 * epoch_freq / empty_freq scaled for blocks of 16 KiB. IBR advances its
 * epoch every epoch_freq allocations, a count tuned for 64-byte nodes; a
 * segment queue allocates once per 1024 enqueues, so with the defaults its
 * retired segments wait for ~128 segment allocations per thread (2 MiB)
 * before the epoch moves and they can be freed, and a short run keeps
 * touching fresh pages. The MS queue uses the default domain unchanged. */
static cc_smr_t *seg_domain;

static ck_epoch_t ck_ep;
static ck_epoch_record_t ck_rec[MAXT];

static inline bool enq(run_t *r, int tid, uint64_t *opcount, void *val) {
  (void)opcount;
  switch (r->variant) {
  case V_SEG:
  case V_MS:
    return cc_queue_enqueue(r->cq, val) == CC_OK;
  case V_CK_EPOCH: {
    ck_node_t *n = mi_malloc(sizeof *n);
    ck_epoch_begin(&ck_rec[tid], NULL);
    ck_fifo_mpmc_enqueue(&r->ck, &n->fe, val);
    ck_epoch_end(&ck_rec[tid], NULL);
    return true;
  }
  case V_CK_REUSE: {
    ck_node_t *n = r->spare[tid];
    r->spare[tid] = NULL;
    if (!n) n = mi_malloc(sizeof *n);
    ck_fifo_mpmc_enqueue(&r->ck, &n->fe, val);
    return true;
  }
  case V_WFCQ: {
    wf_node_t *n = mi_malloc(sizeof *n);
    cds_wfcq_node_init(&n->n);
    n->val = val;
    cds_wfcq_enqueue(&r->wf.h, &r->wf.t, &n->n);
    return true;
  }
  case V_RCULFQ: {
    lf_node_t *n = mi_malloc(sizeof *n);
    cds_lfq_node_init_rcu(&n->n);
    n->val = val;
    rcu_read_lock();
    cds_lfq_enqueue_rcu(&r->lf, &n->n);
    rcu_read_unlock();
    return true;
  }
  case V_MUTEX: {
    ml_node_t *n = mi_malloc(sizeof *n);
    n->next = NULL;
    n->val = val;
    pthread_mutex_lock(&r->ml.mu);
    if (r->ml.tail) r->ml.tail->next = n;
    else r->ml.head = n;
    r->ml.tail = n;
    pthread_mutex_unlock(&r->ml.mu);
    return true;
  }
  default:
    cc_atomic_fetch_add_acq_rel(&r->faa, (uint64_t)1);
    return true;
  }
}

static inline bool deq(run_t *r, int tid, uint64_t *opcount, void **val) {
  switch (r->variant) {
  case V_SEG:
  case V_MS:
    return cc_queue_dequeue(r->cq, val) == CC_OK;
  case V_CK_EPOCH: {
    ck_fifo_mpmc_entry_t *garbage;
    ck_epoch_begin(&ck_rec[tid], NULL);
    bool ok = ck_fifo_mpmc_dequeue(&r->ck, val, &garbage);
    ck_epoch_end(&ck_rec[tid], NULL);
    if (ok) ck_epoch_call(&ck_rec[tid], &((ck_node_t *)(void *)garbage)->ee, ck_node_free);
    if (++*opcount % 32 == 0) ck_epoch_poll(&ck_rec[tid]);
    return ok;
  }
  case V_CK_REUSE: {
    ck_fifo_mpmc_entry_t *garbage;
    bool ok = ck_fifo_mpmc_dequeue(&r->ck, val, &garbage);
    if (ok) r->spare[tid] = (ck_node_t *)(void *)garbage;
    return ok;
  }
  case V_WFCQ: {
    struct cds_wfcq_node *n = cds_wfcq_dequeue_blocking(&r->wf.h, &r->wf.t);
    if (!n) return false;
    wf_node_t *w = caa_container_of(n, wf_node_t, n);
    *val = w->val;
    mi_free(w);
    return true;
  }
  case V_RCULFQ: {
    rcu_read_lock();
    struct cds_lfq_node_rcu *n = cds_lfq_dequeue_rcu(&r->lf);
    rcu_read_unlock();
    if (!n) return false;
    lf_node_t *l = caa_container_of(n, lf_node_t, n);
    *val = l->val;
    call_rcu(&l->rcu, lf_node_free);
    return true;
  }
  case V_MUTEX: {
    pthread_mutex_lock(&r->ml.mu);
    ml_node_t *n = r->ml.head;
    if (n) {
      r->ml.head = n->next;
      if (!r->ml.head) r->ml.tail = NULL;
    }
    pthread_mutex_unlock(&r->ml.mu);
    if (!n) return false;
    *val = n->val;
    mi_free(n);
    return true;
  }
  default:
    cc_atomic_fetch_add_acq_rel(&r->faa, (uint64_t)1);
    *val = NULL;
    return true;
  }
}

/* ---------------------------------------------------------------- bodies */

static void body(int tid, void *ctx) {
  run_t *r = ctx;
  uint64_t opc = 0;
  if (r->variant == V_RCULFQ) rcu_register_thread();
  void *v;
  r->t_start[tid] = bench_now();
  if (!r->split || r->variant == V_FAA) {
    /* pairs (the FAA ceiling does two FAAs per "pair" in both modes) */
    for (uint64_t i = 0; i < r->per_thread; i++) {
      enq(r, tid, &opc, (void *)(uintptr_t)(i + 1));
      while (!deq(r, tid, &opc, &v)) {
      }
    }
  } else if (tid < r->threads / 2) {
    for (uint64_t i = 0; i < r->per_thread; i++) enq(r, tid, &opc, (void *)(uintptr_t)(i + 1));
  } else {
    uint64_t total = r->per_thread * (uint64_t)(r->threads / 2), mine = 0;
    for (;;) {
      if (deq(r, tid, &opc, &v)) {
        if (++mine == 64) {
          cc_atomic_fetch_add_relaxed(&r->consumed, mine);
          mine = 0;
        }
        continue;
      }
      /* empty: publish the batch and stop once everything is taken */
      if (mine) cc_atomic_fetch_add_relaxed(&r->consumed, mine), mine = 0;
      if (cc_atomic_load_relaxed(&r->consumed) >= total) break;
    }
  }
  r->t_end[tid] = bench_now();
  if (r->variant == V_RCULFQ) rcu_unregister_thread();
}

static void setup(run_t *r) {
  switch (r->variant) {
  case V_SEG:
  case V_MS:
    r->cq = r->variant == V_SEG
                ? cc_queue_new(&(cc_queue_config_t){.kind = CC_QUEUE_SEGMENT, .smr = seg_domain})
                : cc_queue_new(&(cc_queue_config_t){.kind = CC_QUEUE_MS});
    if (!r->cq) {
      fprintf(stderr, "cc_queue_new failed\n");
      exit(1);
    }
    break;
  case V_CK_EPOCH:
  case V_CK_REUSE:
    ck_fifo_mpmc_init(&r->ck, &((ck_node_t *)mi_malloc(sizeof(ck_node_t)))->fe);
    break;
  case V_WFCQ:
    cds_wfcq_init(&r->wf.h, &r->wf.t);
    break;
  case V_RCULFQ:
    cds_lfq_init_rcu(&r->lf, call_rcu);
    break;
  case V_MUTEX:
    pthread_mutex_init(&r->ml.mu, NULL);
    break;
  default:
    break;
  }
}

static void teardown(run_t *r) {
  void *v;
  uint64_t opc = 0;
  switch (r->variant) {
  case V_SEG:
  case V_MS:
    cc_queue_free(r->cq);
    break;
  case V_CK_EPOCH:
  case V_CK_REUSE: {
    while (deq(r, 0, &opc, &v)) {
    }
    ck_fifo_mpmc_entry_t *stub;
    ck_fifo_mpmc_deinit(&r->ck, &stub);
    mi_free(stub);
    for (int i = 0; i < MAXT; i++) {
      mi_free(r->spare[i]);
      ck_epoch_barrier(&ck_rec[i]);
    }
    break;
  }
  case V_RCULFQ:
    while (deq(r, 0, &opc, &v)) {
    }
    cds_lfq_destroy_rcu(&r->lf);
    rcu_barrier();
    break;
  case V_MUTEX:
  case V_WFCQ:
    while (deq(r, 0, &opc, &v)) {
    }
    if (r->variant == V_MUTEX) pthread_mutex_destroy(&r->ml.mu);
    else cds_wfcq_destroy(&r->wf.h, &r->wf.t);
    break;
  default:
    break;
  }
}

typedef struct {
  int threads;
  bool split;
  uint64_t total_pairs;
} point_t;

/* Mops/s of one run; NAN for combinations that do not exist. */
static double run_variant(int v, void *ctx) {
  const point_t *pt = ctx;
  if (pt->split && (v == V_CK_REUSE || pt->threads < 2)) return NAN;
  run_t *r = mi_zalloc_aligned(sizeof *r, 64);
  r->variant = v;
  r->threads = pt->threads;
  r->split = pt->split;
  int workers = pt->split && v != V_FAA ? pt->threads / 2 : pt->threads;
  r->per_thread = pt->total_pairs / (uint64_t)workers;
  setup(r);
  bench_threads(pt->threads, body, r);
  double t0 = r->t_start[0], t1 = r->t_end[0];
  for (int i = 1; i < pt->threads; i++) {
    t0 = fmin(t0, r->t_start[i]);
    t1 = fmax(t1, r->t_end[i]);
  }
  double secs = t1 - t0;
  teardown(r);
  double ops = 2.0 * (double)r->per_thread * (double)workers;
  mi_free(r);
  return ops / secs / 1e6;
}

static double med_of(double *v, int reps) {
  for (int i = 0; i < reps; i++)
    if (isnan(v[i])) return NAN;
  return bench_median(v, (size_t)reps);
}

static double best_baseline(const double *m) {
  double b = 0;
  for (int v = V_CK_EPOCH; v <= V_MUTEX; v++)
    if (!isnan(m[v]) && m[v] > b) b = m[v];
  return b;
}

static void target_line(const char *what, int threads, double ratio, double target) {
  printf("  %-24s at %2d threads: %6.2f  (target >= %.2f: %s)\n", what, threads, ratio, target,
         isnan(ratio) ? "no data" : ratio >= target ? "met" : "NOT met");
}

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  if (!bench_parse_opts(argc, argv, &o, " [--smr ibr|debra|debra+|none]")) return 0;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--smr")) {
      cc_smr_kind_t k;
      if (cc_smr_kind_parse(argv[i + 1], &k) != CC_OK || cc_option_set(CC_OPT_SMR, k) != CC_OK) {
        fprintf(stderr, "--smr: ibr, debra, debra+ or none\n");
        return 2;
      }
    }
  uint64_t total_pairs = o.quick ? 60000 : 300000;
  seg_domain = cc_smr_new(&(cc_smr_config_t){.kind = cc_smr_kind(cc_smr_default()), .epoch_freq = 4,
                                             .empty_freq = 8});
  if (!seg_domain) return 1;
  rcu_register_thread(); /* the main thread tears rculfqueue down */
  ck_epoch_init(&ck_ep);
  for (int i = 0; i < MAXT; i++) ck_epoch_register(&ck_ep, &ck_rec[i], NULL);
  FILE *csv = bench_csv_open(o.csv, "mode,threads,variant,median_mops");

  printf("bench/queue: %d CPUs, scheme %s, %" PRIu64 " pairs per point, %d interleaved reps, "
         "median Mops/s (enqueues+dequeues)\n",
         bench_ncpu(), cc_smr_kind_name(cc_smr_kind(cc_smr_default())), total_pairs, o.reps);
  double med[2][NTC][NVAR];
  double *res = calloc((size_t)NVAR * (size_t)o.reps, sizeof *res);
  for (int mode = 0; mode < 2; mode++) {
    printf("\n%-6s %3s", mode ? "split" : "pairs", "thr");
    for (int v = 0; v < NVAR; v++) printf(" %*s", v == V_CK_EPOCH || v == V_CK_REUSE ? 18 : 11, var_name[v]);
    printf("\n");
    for (int ti = 0; ti < NTC; ti++) {
      point_t pt = {thread_counts[ti], mode == 1, total_pairs};
      bench_interleave(NVAR, o.reps, run_variant, &pt, res);
      printf("%-6s %3d", mode ? "split" : "pairs", pt.threads);
      for (int v = 0; v < NVAR; v++) {
        double m = med_of(res + v * o.reps, o.reps);
        med[mode][ti][v] = m;
        int w = v == V_CK_EPOCH || v == V_CK_REUSE ? 18 : 11;
        if (isnan(m)) printf(" %*s", w, "-");
        else printf(" %*.2f", w, m);
        if (csv && !isnan(m))
          fprintf(csv, "%s,%d,%s,%.4f\n", mode ? "split" : "pairs", pt.threads, var_name[v], m);
      }
      printf("\n");
      fflush(stdout);
    }
  }
  free(res);
  if (csv) fclose(csv);
  if (o.svg && o.csv) {
    char script[2048];
    snprintf(script, sizeof script,
             "set datafile separator ','\n"
             "set title 'ccoll queue, pairs workload (median Mops/s, threads pinned round-robin)'\n"
             "set xlabel 'threads'\nset ylabel 'Mops/s'\nset logscale x 2\nset key outside right\n"
             "set grid\nplot for [v in 'segment ms ck_fifo_mpmc+epoch ck_fifo_mpmc+reuse urcu_wfcq "
             "urcu_rculfq mutex_list faa_ceiling'] '%s' using (strcol(1) eq 'pairs' && strcol(3) eq v ? "
             "$2 : 1/0):4 smooth unique with linespoints title v",
             o.csv);
    if (!bench_plot_svg(o.svg, script)) fprintf(stderr, "no SVG: gnuplot missing or failed\n");
  }

  printf("\nratios (medians; targets: segment >= 2x best baseline at 2, 8, 16 threads; "
         ">= 0.40 of the FAA ceiling at 2; ms >= 1/1.2 of ck_fifo_mpmc)\n");
  printf("%-6s %3s %16s %14s %18s %18s\n", "mode", "thr", "segment/best", "segment/faa",
         "ms/ck+epoch", "ms/ck+reuse");
  for (int mode = 0; mode < 2; mode++)
    for (int ti = 0; ti < NTC; ti++) {
      const double *m = med[mode][ti];
      if (isnan(m[V_SEG])) continue;
      double best = best_baseline(m);
      printf("%-6s %3d %15.2fx %13.2fx %17.2fx ", mode ? "split" : "pairs", thread_counts[ti],
             best > 0 ? m[V_SEG] / best : NAN, m[V_SEG] / m[V_FAA], m[V_MS] / m[V_CK_EPOCH]);
      if (isnan(m[V_CK_REUSE])) printf("%18s\n", "-");
      else printf("%17.2fx\n", m[V_MS] / m[V_CK_REUSE]);
    }
  const double *p2 = med[0][1];
  printf("\ntargets (pairs, this run)\n");
  static const int at[] = {1, 3, 4}; /* indices of 2, 8 and 16 threads */
  for (int k = 0; k < 3; k++)
    target_line("segment / best baseline", thread_counts[at[k]],
                med[0][at[k]][V_SEG] / best_baseline(med[0][at[k]]), 2.0);
  target_line("segment / FAA ceiling", 2, p2[V_SEG] / p2[V_FAA], 0.40);
  target_line("ms / ck_fifo_mpmc+epoch", 2, p2[V_MS] / p2[V_CK_EPOCH], 1 / 1.2);
  target_line("ms / ck_fifo_mpmc+reuse", 2, p2[V_MS] / p2[V_CK_REUSE], 1 / 1.2);
  rcu_unregister_thread();
  cc_smr_free(seg_domain);
  return 0;
}
