/* bench/map: ordered-map throughput, both kinds x every reclamation scheme,
 * against what a user would pick instead, measured in the same run:
 *   rwlock+tsearch   a pthread_rwlock around glibc's tsearch/tfind/tdelete
 *   mutex+skiplist   a pthread_mutex around a sequential skip list
 *   tsearch          glibc's tree without any lock, at 1 thread only (the
 *                    only count where it is correct): the price of lock
 *                    freedom on one thread
 * Workloads: 90% get / 5% insert / 5% remove, and 50% insert / 50% remove;
 * key ranges 1,000 and 1,000,000, prefilled to half (both workloads keep
 * the size there). 1, 2, 4, 8, 16 threads, thread i pinned to CPU i mod
 * ncpu. Repetitions interleave the variants, each timed run preceded by an
 * untimed warm-up of the same variant (with 1M keys the structures exceed
 * the caches; a cold run would mostly measure refilling them). Medians are
 * printed, then the ratio of each ccoll variant to the best locked
 * baseline, then the targets of issue 5 as ratios. */
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "ccoll.h"
#include "ccoll/map.h"
#include "containers/map_internal.h"
#include "seq_skiplist.h"

/* ------------------------------------------------------------------ variants */

enum { MAXVAR = 16 };
static const cc_smr_kind_t schemes[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};

typedef enum { IMPL_CCOLL, IMPL_TSEARCH, IMPL_TSEARCH_BARE, IMPL_SEQSL } impl_t;

typedef struct {
  char name[32];
  impl_t impl;
  bool baseline;
  bool one_thread; /* correct only single-threaded: not run, nor compared, at more */
  cc_map_kind_t kind;
  cc_smr_kind_t scheme;
  /* the structure for the current key range */
  cc_smr_t *smr;
  cc_map_t *map;
  void *troot;
  pthread_rwlock_t rw;
  seq_sl_t *sl;
  pthread_mutex_t mu;
} variant_t;

static variant_t var[MAXVAR];
static int nvar;

static int cmp_key(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return (x > y) - (x < y);
}

/* Keys are stored +1 so that key 0 is not a NULL pointer for tsearch. */
static bool v_get(variant_t *v, uint64_t k) {
  void *out;
  switch (v->impl) {
    case IMPL_CCOLL: return cc_map_get(v->map, k, &out) == CC_OK;
    case IMPL_TSEARCH_BARE: return tfind((void *)(uintptr_t)(k + 1), &v->troot, cmp_key) != NULL;
    case IMPL_TSEARCH: {
      pthread_rwlock_rdlock(&v->rw);
      bool f = tfind((void *)(uintptr_t)(k + 1), &v->troot, cmp_key) != NULL;
      pthread_rwlock_unlock(&v->rw);
      return f;
    }
    default: {
      pthread_mutex_lock(&v->mu);
      bool f = seq_sl_get(v->sl, k, &out);
      pthread_mutex_unlock(&v->mu);
      return f;
    }
  }
}

static bool v_insert(variant_t *v, uint64_t k) {
  switch (v->impl) {
    case IMPL_CCOLL: return cc_map_insert(v->map, k, (void *)(uintptr_t)k) == CC_OK;
    case IMPL_TSEARCH_BARE: return tsearch((void *)(uintptr_t)(k + 1), &v->troot, cmp_key) != NULL;
    case IMPL_TSEARCH: {
      void *key = (void *)(uintptr_t)(k + 1);
      pthread_rwlock_wrlock(&v->rw);
      void **r = tsearch(key, &v->troot, cmp_key);
      pthread_rwlock_unlock(&v->rw);
      return r != NULL; /* also when the key was there: the benchmark does not need to know */
    }
    default: {
      pthread_mutex_lock(&v->mu);
      bool ok = seq_sl_insert(v->sl, k, (void *)(uintptr_t)k);
      pthread_mutex_unlock(&v->mu);
      return ok;
    }
  }
}

static bool v_remove(variant_t *v, uint64_t k) {
  switch (v->impl) {
    case IMPL_CCOLL: return cc_map_remove(v->map, k, NULL) == CC_OK;
    case IMPL_TSEARCH_BARE: return tdelete((void *)(uintptr_t)(k + 1), &v->troot, cmp_key) != NULL;
    case IMPL_TSEARCH: {
      void *key = (void *)(uintptr_t)(k + 1);
      pthread_rwlock_wrlock(&v->rw);
      bool ok = tdelete(key, &v->troot, cmp_key) != NULL;
      pthread_rwlock_unlock(&v->rw);
      return ok;
    }
    default: {
      pthread_mutex_lock(&v->mu);
      bool ok = seq_sl_remove(v->sl, k);
      pthread_mutex_unlock(&v->mu);
      return ok;
    }
  }
}

static void noop_free(void *p) { (void)p; }

/* A random permutation of [0, range) (fixed seed): its first half is the
 * prefill, inserted once each, no lookup needed to skip duplicates. */
static uint64_t *prefill_keys;

static bool make_prefill(uint64_t range) {
  free(prefill_keys);
  prefill_keys = malloc(range * sizeof *prefill_keys);
  if (!prefill_keys) return false;
  for (uint64_t i = 0; i < range; i++) prefill_keys[i] = i;
  uint64_t s = 0x853c49e6748fea9bull;
  for (uint64_t i = range - 1; i > 0; i--) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint64_t j = s % (i + 1), t = prefill_keys[i];
    prefill_keys[i] = prefill_keys[j];
    prefill_keys[j] = t;
  }
  return true;
}

static void v_build(variant_t *v, uint64_t range) {
  switch (v->impl) {
    case IMPL_CCOLL:
      v->smr = cc_smr_new(&(cc_smr_config_t){.kind = v->scheme});
      v->map = cc_map_new(&(cc_map_config_t){.kind = v->kind, .smr = v->smr});
      break;
    case IMPL_TSEARCH:
      pthread_rwlock_init(&v->rw, NULL);
      /* fall through */
    case IMPL_TSEARCH_BARE:
      v->troot = NULL;
      break;
    default:
      v->sl = seq_sl_new();
      pthread_mutex_init(&v->mu, NULL);
  }
  /* prefill to half: the same keys in the same random order for every variant */
  for (uint64_t i = 0; i < range / 2; i++) v_insert(v, prefill_keys[i]);
}

static void v_destroy(variant_t *v) {
  switch (v->impl) {
    case IMPL_CCOLL:
      cc_map_free(v->map);
      cc_smr_free(v->smr);
      v->map = NULL;
      break;
    case IMPL_TSEARCH:
      pthread_rwlock_destroy(&v->rw);
      /* fall through */
    case IMPL_TSEARCH_BARE:
      tdestroy(v->troot, noop_free);
      break;
    default:
      seq_sl_free(v->sl);
      pthread_mutex_destroy(&v->mu);
  }
}

static const char *kind_name(cc_map_kind_t k) { return k == CC_MAP_BST ? "bst" : "skiplist"; }

static void add_variants(void) {
  for (int k = 0; k < 2; k++) {
    /* A kind appears once it exists in this build (cc_map_new non-NULL). */
    cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_NONE});
    cc_map_t *probe = cc_map_new(&(cc_map_config_t){.kind = (cc_map_kind_t)k, .smr = d});
    bool present = probe != NULL;
    cc_map_free(probe);
    cc_smr_free(d);
    if (!present) {
      printf("(%s kind absent in this build: no rows for it)\n", kind_name((cc_map_kind_t)k));
      continue;
    }
    for (int s = 0; s < 4; s++) {
      variant_t *v = &var[nvar++];
      snprintf(v->name, sizeof v->name, "%s/%s", kind_name((cc_map_kind_t)k), cc_smr_kind_name(schemes[s]));
      v->impl = IMPL_CCOLL;
      v->kind = (cc_map_kind_t)k;
      v->scheme = schemes[s];
    }
  }
  var[nvar] = (variant_t){.name = "rwlock+tsearch", .impl = IMPL_TSEARCH, .baseline = true};
  nvar++;
  var[nvar] = (variant_t){.name = "mutex+skiplist", .impl = IMPL_SEQSL, .baseline = true};
  nvar++;
  var[nvar] = (variant_t){.name = "tsearch", .impl = IMPL_TSEARCH_BARE, .one_thread = true};
  nvar++;
}

/* --only SUBSTR: ccoll variants whose name lacks SUBSTR are neither built
 * nor run (baselines always are); --range N: only that key range;
 * --threads LIST (e.g. 1,2): only those thread counts. */
static const char *only;
static uint64_t only_range;
static int only_threads[5], n_only_threads;

static void parse_threads(const char *list) {
  char *end;
  for (const char *p = list; n_only_threads < 5; p = end + 1) {
    long n = strtol(p, &end, 10);
    if (end == p || n <= 0 || n > 64) break;
    only_threads[n_only_threads++] = (int)n;
    if (*end != ',') break;
  }
}

static bool skipped(const variant_t *v) {
  return only && v->impl == IMPL_CCOLL && !strstr(v->name, only);
}

static int find_variant(const char *name) {
  for (int v = 0; v < nvar; v++)
    if (strcmp(var[v].name, name) == 0) return v;
  return -1;
}

/* ------------------------------------------------------------------ one timed run */

typedef struct {
  int get_pct, ins_pct; /* remove: the rest */
  const char *name;
} workload_t;

static const workload_t workloads[] = {{90, 5, "90get/5ins/5rem"}, {0, 50, "50ins/50rem"}};

typedef struct {
  const workload_t *w;
  uint64_t range;
  int threads;
  double secs, warm;
  double secs_now; /* of the current call of body: warm or secs */
  variant_t *v;
  uint64_t ops[64];
} run_t;

static void body(int tid, void *ctx) {
  run_t *r = ctx;
  variant_t *v = r->v;
  uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(tid + 1) ^ (uint64_t)(bench_now() * 1e9), n = 0;
  double end = bench_now() + r->secs_now;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      uint64_t k = (s >> 7) % r->range;
      int p = (int)(s >> 57) * 100 / 128; /* 0..99 from the top bits */
      if (p < r->w->get_pct) v_get(v, k);
      else if (p < r->w->get_pct + r->w->ins_pct) v_insert(v, k);
      else v_remove(v, k);
    }
    n += 64;
    if (bench_now() >= end) break;
  }
  r->ops[tid] = n;
}

static double run_variant(int variant, void *ctx) {
  run_t *r = ctx;
  r->v = &var[variant];
  if ((r->v->one_thread && r->threads > 1) || skipped(r->v)) return 0; /* not run: shown as "-" */
  r->secs_now = r->warm;
  bench_threads(r->threads, body, r);
  r->secs_now = r->secs;
  memset(r->ops, 0, sizeof r->ops);
  double secs = bench_threads(r->threads, body, r);
  uint64_t total = 0;
  for (int i = 0; i < r->threads; i++) total += r->ops[i];
  return (double)total / secs / 1e6; /* Mops/s */
}

/* ------------------------------------------------------------------ targets */

enum { MAXPT = 2 * 2 * 5 };
static double med[MAXPT][MAXVAR];
static const int all_threads[] = {1, 2, 4, 8, 16}, quick_threads[] = {1, 2, 8};
static const uint64_t ranges[] = {1000, 1000000};
static const int *threads;
static int nthreads;

/* Median of variant v at (range index, workload index, thread count); < 0 when not measured. */
static double point(int v, int ri, int wi, int nthr) {
  if (v < 0) return -1;
  for (int ti = 0; ti < nthreads; ti++)
    if (threads[ti] == nthr) return med[(ri * 2 + wi) * nthreads + ti][v];
  return -1;
}

static void print_ratio(double num, double den, double target) {
  if (num <= 0 || den <= 0) {
    printf(" %13s", "-");
    return;
  }
  double x = num / den;
  printf(" %11.2fx%s", x, x >= target ? " " : "!");
}

/* The targets of issue 5 (docs in doc/map.md), per kind and scheme, as
 * ratios of medians measured in this run; "!" marks a ratio under its target. */
static void print_targets(void) {
  int rw = find_variant("rwlock+tsearch"), bare = find_variant("tsearch");
  printf("\ntargets of issue 5 (1M keys; ! = under target)\n");
  printf("%-16s %13s %13s %13s %13s %13s\n", "variant", "50/50 2t/rw", "50/50 8t/rw", "90get 1t/ts",
         "90get 2t/none", "50/50 2t/none");
  printf("%-16s %13s %13s %13s %13s %13s\n", "target", ">= 1.5", ">= 2", "sl .7, bst .8",
         "db .95 ibr .9", "db .95 ibr .9");
  for (int v = 0; v < nvar; v++) {
    if (var[v].impl != IMPL_CCOLL || skipped(&var[v])) continue;
    char none_name[32];
    snprintf(none_name, sizeof none_name, "%s/%s", kind_name(var[v].kind), cc_smr_kind_name(CC_SMR_NONE));
    int none = find_variant(none_name);
    double smr_target = var[v].scheme == CC_SMR_IBR ? 0.90 : 0.95;
    printf("%-16s", var[v].name);
    print_ratio(point(v, 1, 1, 2), point(rw, 1, 1, 2), 1.5);
    print_ratio(point(v, 1, 1, 8), point(rw, 1, 1, 8), 2.0);
    print_ratio(point(v, 1, 0, 1), point(bare, 1, 0, 1), var[v].kind == CC_MAP_BST ? 0.8 : 0.7);
    if (var[v].scheme == CC_SMR_NONE) {
      printf(" %13s %13s\n", "(ref)", "(ref)");
      continue;
    }
    print_ratio(point(v, 1, 0, 2), point(none, 1, 0, 2), smr_target);
    print_ratio(point(v, 1, 1, 2), point(none, 1, 1, 2), smr_target);
    printf("\n");
  }
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  bench_opts_t o = {0};
  if (!bench_parse_opts(argc, argv, &o, " [--only SUBSTR] [--range 1000|1000000] [--threads 1,2,...]"))
    return 0;
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--only") == 0) only = argv[++i];
    else if (strcmp(argv[i], "--range") == 0) only_range = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--threads") == 0) parse_threads(argv[++i]);
  }
  add_variants();
  threads = o.quick ? quick_threads : all_threads;
  nthreads = o.quick ? 3 : 5;
  if (n_only_threads) threads = only_threads, nthreads = n_only_threads;
  /* per key range: timed and warm-up seconds of one repetition */
  const double secs[2] = {o.quick ? 0.02 : 0.2, o.quick ? 0.04 : 0.3};
  const double warm[2] = {o.quick ? 0.01 : 0.05, o.quick ? 0.02 : 0.1};
  FILE *csv = bench_csv_open(o.csv, "workload,range,threads,variant,mops_median,ratio_to_best_baseline");

  printf("bench/map: %d CPUs, %d interleaved repetitions of %.2f s (1k keys) / %.2f s (1M keys), "
         "each after a warm-up; median Mops/s\n",
         bench_ncpu(), o.reps, secs[0], secs[1]);
  double best_base[MAXPT] = {0};
  int npt = 0;
  double *res = calloc((size_t)MAXVAR * (size_t)o.reps, sizeof *res);
  for (int ri = 0; ri < 2; ri++) {
    if (only_range && ranges[ri] != only_range) {
      npt += 2 * nthreads;
      continue;
    }
    if (!make_prefill(ranges[ri])) {
      fprintf(stderr, "bench/map: out of memory\n");
      return 1;
    }
    for (int v = 0; v < nvar; v++)
      if (!skipped(&var[v])) v_build(&var[v], ranges[ri]);
    for (int wi = 0; wi < 2; wi++) {
      printf("\n%s, %llu keys\n%7s", workloads[wi].name, (unsigned long long)ranges[ri], "threads");
      for (int v = 0; v < nvar; v++) printf(" %16s", var[v].name);
      printf("\n");
      for (int ti = 0; ti < nthreads; ti++) {
        run_t r = {.w = &workloads[wi], .range = ranges[ri], .threads = threads[ti],
                   .secs = secs[ri], .warm = warm[ri]};
        bench_interleave(nvar, o.reps, run_variant, &r, res);
        best_base[npt] = 0;
        printf("%7d", threads[ti]);
        for (int v = 0; v < nvar; v++) {
          med[npt][v] = bench_median(res + v * o.reps, (size_t)o.reps);
          if (var[v].baseline && med[npt][v] > best_base[npt]) best_base[npt] = med[npt][v];
          if (med[npt][v] > 0) printf(" %16.3f", med[npt][v]);
          else printf(" %16s", "-");
        }
        printf("\n");
        for (int v = 0; v < nvar; v++)
          if (csv && med[npt][v] > 0)
            fprintf(csv, "%s,%llu,%d,%s,%.4f,%.4f\n", workloads[wi].name, (unsigned long long)ranges[ri],
                    threads[ti], var[v].name, med[npt][v], med[npt][v] / best_base[npt]);
        npt++;
      }
    }
    for (int v = 0; v < nvar; v++)
      if (!skipped(&var[v])) v_destroy(&var[v]);
  }
  free(res);
  free(prefill_keys);
  if (csv) fclose(csv);
  if (o.svg && o.csv) {
    char script[2048];
    snprintf(script, sizeof script,
             "set datafile separator ','\n"
             "set title 'cc_map, 50%% insert / 50%% remove, 1M keys (median Mops/s)'\n"
             "set xlabel 'threads'\nset ylabel 'Mops/s'\nset logscale x 2\nset key outside right\n"
             "names = system(\"awk -F, 'NR>1 && !s[$4]++ {printf \\\"%%s \\\", $4}' %s\")\n"
             "plot for [n in names] '%s' using ((strcol(1) eq '50ins/50rem' && $2 == 1000000 && "
             "strcol(4) eq n) ? $3 : 1/0):5 with linespoints title n",
             o.csv, o.csv);
    if (!bench_plot_svg(o.svg, script)) printf("(no SVG: gnuplot missing or failed)\n");
  }

  printf("\nratio to the best locked baseline (median Mops/s of the variant / best of "
         "rwlock+tsearch, mutex+skiplist)\n%-16s %-8s %7s", "workload", "keys", "threads");
  for (int v = 0; v < nvar; v++)
    if (var[v].impl == IMPL_CCOLL) printf(" %16s", var[v].name);
  printf("\n");
  npt = 0;
  for (int ri = 0; ri < 2; ri++)
    for (int wi = 0; wi < 2; wi++)
      for (int ti = 0; ti < nthreads; ti++, npt++) {
        if (best_base[npt] <= 0) continue; /* range not run */
        printf("%-16s %-8llu %7d", workloads[wi].name, (unsigned long long)ranges[ri], threads[ti]);
        for (int v = 0; v < nvar; v++) {
          if (var[v].impl != IMPL_CCOLL) continue;
          if (med[npt][v] > 0) printf(" %15.2fx", med[npt][v] / best_base[npt]);
          else printf(" %16s", "-");
        }
        printf("\n");
      }
  print_targets();
  return 0;
}
