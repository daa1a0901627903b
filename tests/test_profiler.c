/* The profiler: exact figures at sample rate 1 on a deterministic workload,
 * the cross-thread matrix of a known producer/consumer pattern, percentiles
 * within a bucket of the truth, sampling estimates, lifecycle, and every
 * export parsed (a JSON parser below; CSV columns; Prometheus lines, and
 * promtool when installed; HTML structure, and headless Chromium when
 * installed). Each test runs in a fresh process (Criterion). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc/alloc_internal.h"
#include "alloc/profiler_internal.h"
#include "alloc/track_internal.h"
#include "ccoll.h"
#include "ccoll/profiler.h"

/* leaks (or stacks): every sampled block remembered until its free;
 * without, the default tally profiler (no block memory). */
static cc_profiler_t *start_profiler(double rate, bool leaks, bool stacks) {
  cc_profiler_options_t o = cc_profiler_default_options();
  o.sample_rate = rate;
  o.leaks = leaks;
  o.stacks = stacks;
  cc_profiler_t *p = cc_profiler_new(&o);
  cr_assert_not_null(p);
  cr_assert_eq(cc_profiler_start(p), CC_OK);
  return p;
}

static const cc_profile_thread_t *thread_of(const cc_profile_t *s, uint32_t tid, size_t *index) {
  for (size_t i = 0; i < s->nthreads; i++) {
    if (s->threads[i].tid != tid) continue;
    if (index) *index = i;
    return &s->threads[i];
  }
  return NULL;
}

/* ------------------------------------------------------------ exact counts */

enum { N = 1000, FREED = 600 };

static size_t size_of(int i) { return (size_t)(i % 100) + 1; }

Test(profiler, exact_counts_deterministic_workload) {
  cc__prof_set_detail_every(1); /* time every operation, to count them */
  cc_profiler_t *p = start_profiler(1.0, true, false);
  static void *blk[N];
  uint64_t bytes = 0, freed_bytes = 0, hist[CC_PROFILE_SIZE_BUCKETS] = {0};
  for (int i = 0; i < N; i++) {
    size_t n = size_of(i);
    blk[i] = i % 3 == 0 ? cc_alloc(n) : i % 3 == 1 ? cc_alloc_node(n) : cc_calloc(1, n);
    cr_assert_not_null(blk[i]);
    bytes += n;
    hist[63 - __builtin_clzll(n)]++;
  }
  for (int i = 0; i < FREED; i++) {
    freed_bytes += size_of(i);
    if (i % 2) cc_free(blk[i], size_of(i));
    else cc_free_unsized(blk[i]);
  }
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_assert_not_null(s);
  cr_expect_eq(s->allocs, N);
  cr_expect_eq(s->frees, FREED);
  cr_expect_eq(s->alloc_bytes, bytes);
  cr_expect_eq(s->free_bytes, freed_bytes, "frees count the requested size, also unsized ones");
  cr_expect_eq(s->live_blocks, N - FREED);
  cr_expect_eq(s->live_bytes, bytes - freed_bytes);
  /* everything was live before the first free; the peak is kept to within
   * 16 KiB per thread (threads publish live bytes in batches) */
  cr_expect(s->peak_bytes <= bytes && s->peak_bytes + 16384 >= bytes, "peak %llu, truth %llu",
            (unsigned long long)s->peak_bytes, (unsigned long long)bytes);
  cr_expect_eq(s->cross_frees, 0);
  cr_expect_eq(s->leak_blocks, N - FREED);
  cr_expect_eq(s->leak_bytes, bytes - freed_bytes);
  cr_expect_eq(s->nleaks, 32);
  cr_expect_eq(s->leaks[0].bytes, 100, "largest first");
  for (unsigned b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++) cr_expect_eq(s->size_hist[b], hist[b], "size bucket %u", b);
  cr_expect_eq(s->requested_bytes, bytes);
  cr_expect_geq(s->usable_bytes, bytes);
  cr_expect(s->fragmentation >= 0 && s->fragmentation < 1);
  uint64_t lat = 0, flat = 0;
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) {
    lat += s->alloc_lat[b];
    flat += s->free_lat[b];
  }
  cr_expect_eq(lat, N, "every sampled allocation timed");
  cr_expect_eq(flat, FREED);
  cr_expect_gt(s->alloc_ns[0], 0);
  cr_expect_leq(s->alloc_ns[0], s->alloc_ns[1]);
  cr_expect_leq(s->alloc_ns[1], s->alloc_ns[2]);
  cr_expect_leq(s->alloc_ns[2], s->alloc_ns[3]);
  size_t me;
  const cc_profile_thread_t *t = thread_of(s, cc__thread_id(), &me);
  cr_assert_not_null(t);
  cr_expect_eq(t->allocs, N);
  cr_expect_eq(t->frees, FREED);
  cr_expect(t->alive);
  cr_expect_geq(s->ntimeline, 1);
  cr_expect_eq(s->timeline[s->ntimeline - 1].live_bytes, bytes - freed_bytes);
  cc_profile_free(s);
  for (int i = FREED; i < N; i++) cc_free(blk[i], size_of(i));
  s = cc_profiler_snapshot(p);
  cr_expect_eq(s->leak_blocks, 0);
  cr_expect_eq(s->live_bytes, 0);
  cc_profile_free(s);
  cc_profiler_free(p);
}

Test(profiler, stacks_of_leaks_when_asked) {
  cc_profiler_t *p = start_profiler(1.0, false, true);
  void *a = cc_alloc(300);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_assert_eq(s->nleaks, 1);
  cr_expect_eq(s->leaks[0].ptr, a);
  cr_expect_gt(s->leaks[0].nframes, 0);
  cc_profile_free(s);
  cc_free(a, 300);
  cc_profiler_free(p);
}

/* ------------------------------------------------------------ cross-thread matrix */

enum { ITEMS = 5000 };
static void *items[ITEMS];
static uint32_t prod_tid, cons_tid;

static void *producer(void *arg) {
  (void)arg;
  prod_tid = cc__thread_id();
  for (int i = 0; i < ITEMS; i++) items[i] = cc_alloc_node(48);
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  cons_tid = cc__thread_id();
  for (int i = 0; i < ITEMS; i++) cc_free(items[i], 48);
  return NULL;
}

/* Default options: the tally profiler, owners from the region table
 * (mimalloc) or from the sampled-block table (libc backend). With leaks:
 * owners from the sampled-block table. Both exact at rate 1. */
static void check_producer_consumer_matrix(bool leaks) {
  cc_profiler_t *p = start_profiler(1.0, leaks, false);
  for (int i = 0; i < 100; i++) cc_free(cc_alloc(32), 32); /* main: local frees only */
  pthread_t t;
  pthread_create(&t, NULL, producer, NULL);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, consumer, NULL);
  pthread_join(t, NULL);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_assert_not_null(s);
  size_t pi = 0, ci = 0, mi = 0;
  const cc_profile_thread_t *pt = thread_of(s, prod_tid, &pi), *ct = thread_of(s, cons_tid, &ci),
                            *mt = thread_of(s, cc__thread_id(), &mi);
  cr_assert(pt && ct && mt, "threads missing from the snapshot");
  cr_expect(!pt->alive && !ct->alive, "exited threads are kept and marked");
  cr_expect_eq(pt->allocs, ITEMS);
  cr_expect_eq(pt->frees, 0);
  cr_expect_eq(pt->cross_received, ITEMS);
  cr_expect_eq(pt->cross_sent, 0);
  cr_expect_eq(ct->frees, ITEMS);
  cr_expect_eq(ct->cross_sent, ITEMS);
  cr_expect_eq(ct->cross_received, 0);
  cr_expect_eq(mt->cross_sent + mt->cross_received, 0);
  size_t n = s->matrix_dim;
  cr_assert_eq(n, s->nthreads);
  for (size_t a = 0; a < n; a++)
    for (size_t f = 0; f < n; f++)
      cr_expect_eq(s->matrix[a * n + f], (a == pi && f == ci) ? ITEMS : 0, "matrix[%zu][%zu]", a, f);
  cr_expect_eq(s->cross_frees, ITEMS);
  cr_expect_float_eq(s->cross_share, (double)ITEMS / (ITEMS + 100), 1e-9);
  cc_profile_free(s);
  cc_profiler_free(p);
}

Test(profiler, cross_thread_matrix_producer_consumer) { check_producer_consumer_matrix(false); }

Test(profiler, cross_thread_matrix_producer_consumer_with_leaks) { check_producer_consumer_matrix(true); }

/* Several producers, one consumer, blocks interleaved: every cell exact. */
enum { PRODUCERS = 3, PER = 3000 };
static void *mixed[PRODUCERS * PER];
static uint32_t mixed_tid[PRODUCERS];
static pthread_barrier_t all_allocated;

static void *mixed_producer(void *arg) {
  int k = (int)(intptr_t)arg;
  mixed_tid[k] = cc__thread_id();
  for (int i = 0; i < PER; i++) mixed[i * PRODUCERS + k] = cc_alloc_node(24 + 40 * (size_t)k);
  /* no producer exits (abandoning its pages, which another producer's
   * heap could take over) before all have allocated */
  pthread_barrier_wait(&all_allocated);
  return NULL;
}

Test(profiler, cross_thread_matrix_several_producers_alive) {
  cc_profiler_t *p = start_profiler(1.0, false, false);
  pthread_t t[PRODUCERS];
  pthread_barrier_init(&all_allocated, NULL, PRODUCERS);
  for (int k = 0; k < PRODUCERS; k++) pthread_create(&t[k], NULL, mixed_producer, (void *)(intptr_t)k);
  for (int k = 0; k < PRODUCERS; k++) pthread_join(t[k], NULL);
  pthread_barrier_destroy(&all_allocated);
  for (int i = 0; i < PRODUCERS * PER; i++) cc_free(mixed[i], 24 + 40 * (size_t)(i % PRODUCERS));
  cc_profile_t *s = cc_profiler_snapshot(p);
  size_t me = 0, n = s->matrix_dim;
  cr_assert_not_null(thread_of(s, cc__thread_id(), &me));
  for (int k = 0; k < PRODUCERS; k++) {
    size_t pk = 0;
    cr_assert_not_null(thread_of(s, mixed_tid[k], &pk));
    cr_expect_eq(s->matrix[pk * n + me], PER, "producer %d -> main", k);
    cr_expect_eq(s->threads[pk].cross_received, PER);
  }
  cr_expect_eq(s->cross_frees, PRODUCERS * PER);
  cc_profile_free(s);
  cc_profiler_free(p);
}

/* ------------------------------------------------------------ percentiles */

Test(profiler, bucket_bounds) {
  for (uint64_t v = 0; v < 5000000; v = v < 64 ? v + 1 : v + v / 7) {
    unsigned b = cc__prof_lat_bucket(v);
    cr_assert_lt(b, CC_PROFILE_LAT_BUCKETS);
    cr_assert_leq(cc_profile_lat_bucket_ns(b), (double)v, "v=%llu", (unsigned long long)v);
    if (b + 1 < CC_PROFILE_LAT_BUCKETS)
      cr_assert_gt(cc_profile_lat_bucket_ns(b + 1), (double)v, "v=%llu", (unsigned long long)v);
  }
  cr_expect_eq(cc__prof_lat_bucket(UINT64_MAX), CC_PROFILE_LAT_BUCKETS - 1);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

Test(profiler, percentiles_within_a_bucket) {
  cc_profiler_t *p = start_profiler(1.0, false, false);
  enum { M = 20000 };
  static uint64_t v[M];
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < M; i++) { /* log-uniform-ish, 10 ns .. ~1 ms, with a heavy tail */
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v[i] = 10 + (x % 1000) * ((x >> 20) % 7 == 0 ? 1000 : (x >> 30) % 3 == 0 ? 10 : 1);
    cc__prof_record_latency(0, v[i]);
  }
  cc_profile_t *s = cc_profiler_snapshot(p);
  qsort(v, M, sizeof v[0], cmp_u64);
  static const double q[4] = {0.5, 0.95, 0.99, 0.999};
  for (int i = 0; i < 4; i++) {
    size_t rank = (size_t)(q[i] * M + 0.999999);
    uint64_t truth = v[rank - 1];
    int bt = (int)cc__prof_lat_bucket(truth), br = (int)cc__prof_lat_bucket((uint64_t)s->alloc_ns[i]);
    cr_expect(abs(bt - br) <= 1, "q=%g truth %llu (bucket %d), reported %.0f (bucket %d)", q[i],
              (unsigned long long)truth, bt, s->alloc_ns[i], br);
  }
  cc_profile_free(s);
  cc_profiler_free(p);
}

/* ------------------------------------------------------------ sampling */

Test(profiler, sampled_estimates) {
  cc_profiler_t *p = start_profiler(0.05, true, false);
  enum { K = 200000 };
  for (int i = 0; i < K; i++) cc_free(cc_alloc_node(64), 64);
  void *keep[2000];
  for (int i = 0; i < 2000; i++) keep[i] = cc_alloc(128);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_expect(s->allocs > (K + 2000) * 0.93 && s->allocs < (K + 2000) * 1.07, "allocs estimate %llu",
            (unsigned long long)s->allocs);
  cr_expect(s->frees > K * 0.93 && s->frees < K * 1.07, "frees estimate %llu", (unsigned long long)s->frees);
  cr_expect(s->leak_blocks > 1000 && s->leak_blocks < 3000, "live estimate %llu", (unsigned long long)s->leak_blocks);
  cr_expect_float_eq(s->sample_rate, 0.05, 1e-12);
  cc_profile_free(s);
  for (int i = 0; i < 2000; i++) cc_free(keep[i], 128);
  cc_profiler_free(p);
}

/* The default sampled profiler remembers no block: allocations and frees
 * are sampled independently, and so are cross-thread frees. */
Test(profiler, sampled_estimates_without_block_memory) {
  cc_profiler_t *p = start_profiler(0.05, false, false);
  enum { K = 200000 };
  for (int i = 0; i < K; i++) cc_free(cc_alloc_node(64), 64);
  pthread_t t;
  for (int round = 0; round < 10; round++) { /* 50000 cross-thread frees */
    pthread_create(&t, NULL, producer, NULL);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, consumer, NULL);
    pthread_join(t, NULL);
  }
  cc_profile_t *s = cc_profiler_snapshot(p);
  double total = K + 10.0 * ITEMS;
  cr_expect(s->allocs > total * 0.93 && s->allocs < total * 1.07, "allocs estimate %llu",
            (unsigned long long)s->allocs);
  cr_expect(s->frees > total * 0.93 && s->frees < total * 1.07, "frees estimate %llu", (unsigned long long)s->frees);
  /* 2500 sampled cross frees: a standard deviation of 2% */
  cr_expect(s->cross_frees > 10 * ITEMS * 0.9 && s->cross_frees < 10 * ITEMS * 1.1, "cross estimate %llu",
            (unsigned long long)s->cross_frees);
  uint64_t timed = 0;
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) timed += s->alloc_lat[b];
  cr_expect_gt(timed, 0, "some sampled allocations timed");
  cc_profile_free(s);
  cc_profiler_free(p);
}

/* At rate 1, one operation in CC__PROF_DETAIL_EVERY is timed (a random
 * interval of that mean), not every one: the histogram counts show it. */
Test(profiler, latency_subsampled_at_rate_one) {
  cc_profiler_t *p = start_profiler(1.0, false, false);
  enum { K = 128000 };
  for (int i = 0; i < K; i++) cc_free(cc_alloc_node(64), 64);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_expect_eq(s->allocs, K);
  cr_expect_eq(s->frees, K);
  uint64_t timed = 0;
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) timed += s->alloc_lat[b] + s->free_lat[b];
  double expect = 2.0 * K / CC__PROF_DETAIL_EVERY; /* 4000: alloc and free share the countdown */
  cr_expect(timed > expect * 0.9 && timed < expect * 1.1, "%llu operations timed, expected about %.0f",
            (unsigned long long)timed, expect);
  cr_expect_gt(s->alloc_ns[0], 0);
  cr_expect_gt(s->free_ns[0], 0);
  cr_expect(s->usable_bytes >= s->requested_bytes && s->requested_bytes == 64ull * K,
            "fragmentation from the detail subsample, scaled to every allocation");
  cc_profile_free(s);
  cc_profiler_free(p);
}

/* ------------------------------------------------------------ lifecycle */

Test(profiler, start_stop_reset_and_one_at_a_time) {
  cr_expect_null(cc_profiler_new(&(cc_profiler_options_t){.sample_rate = 0}));
  cr_expect_null(cc_profiler_new(&(cc_profiler_options_t){.sample_rate = 1.5}));
  cc_profiler_t *p = start_profiler(1.0, false, false), *q = cc_profiler_new(NULL);
  cr_expect_eq(cc_profiler_start(q), CC_EXISTS);
  cr_expect_eq(cc_profiler_start(NULL), CC_EINVAL);
  for (int i = 0; i < 10; i++) cc_free(cc_alloc(10), 10);
  cr_expect_eq(cc_profiler_stop(p), CC_OK);
  cr_expect_eq(cc_profiler_stop(p), CC_EINVAL);
  for (int i = 0; i < 10; i++) cc_free(cc_alloc(10), 10); /* not seen */
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_expect_eq(s->allocs, 10);
  cr_expect_eq(s->frees, 10);
  cc_profile_free(s);
  cr_expect_eq(cc_profiler_start(p), CC_OK); /* continues */
  cc_free(cc_alloc(10), 10);
  s = cc_profiler_snapshot(p);
  cr_expect_eq(s->allocs, 11);
  cc_profile_free(s);
  cc_profiler_reset(p);
  s = cc_profiler_snapshot(p);
  cr_expect_eq(s->allocs, 0);
  cr_expect_eq(s->frees, 0);
  cr_expect_eq(s->peak_bytes, 0);
  cc_profile_free(s);
  cc_free(cc_alloc(10), 10);
  s = cc_profiler_snapshot(p);
  cr_expect_eq(s->allocs, 1);
  cc_profile_free(s);
  cc_profiler_free(p); /* stops it */
  cr_expect_eq(cc_profiler_start(q), CC_OK, "free stopped the first one");
  cc_profiler_free(q);
}

/* ------------------------------------------------------------ exports */

/* A strict JSON checker (RFC 8259 grammar, values skipped). */
typedef struct {
  const char *s;
  int depth;
} jp_t;

static void jws(jp_t *j) { while (*j->s == ' ' || *j->s == '\n' || *j->s == '\r' || *j->s == '\t') j->s++; }
static bool jvalue(jp_t *j);

static bool jstring(jp_t *j) {
  if (*j->s != '"') return false;
  for (j->s++; *j->s != '"'; j->s++) {
    unsigned char c = (unsigned char)*j->s;
    if (c < 0x20 || c == 0) return false;
    if (c == '\\') {
      j->s++;
      if (*j->s == 'u') {
        for (int i = 1; i <= 4; i++) if (!isxdigit((unsigned char)j->s[i])) return false;
        j->s += 4;
      } else if (!strchr("\"\\/bfnrt", *j->s) || *j->s == 0) {
        return false;
      }
    }
  }
  j->s++;
  return true;
}

static bool jnumber(jp_t *j) {
  const char *s = j->s;
  if (*s == '-') s++;
  if (*s == '0') s++;
  else if (isdigit((unsigned char)*s)) while (isdigit((unsigned char)*s)) s++;
  else return false;
  if (*s == '.') {
    s++;
    if (!isdigit((unsigned char)*s)) return false;
    while (isdigit((unsigned char)*s)) s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return false;
    while (isdigit((unsigned char)*s)) s++;
  }
  j->s = s;
  return true;
}

static bool jseq(jp_t *j, char close, bool keyed) {
  j->s++;
  if (++j->depth > 64) return false;
  jws(j);
  if (*j->s == close) { j->s++; j->depth--; return true; }
  for (;;) {
    jws(j);
    if (keyed) {
      if (!jstring(j)) return false;
      jws(j);
      if (*j->s++ != ':') return false;
    }
    if (!jvalue(j)) return false;
    jws(j);
    if (*j->s == ',') { j->s++; continue; }
    if (*j->s++ != close) return false;
    j->depth--;
    return true;
  }
}

static bool jvalue(jp_t *j) {
  jws(j);
  switch (*j->s) {
  case '{': return jseq(j, '}', true);
  case '[': return jseq(j, ']', false);
  case '"': return jstring(j);
  case 't': if (strncmp(j->s, "true", 4)) return false; j->s += 4; return true;
  case 'f': if (strncmp(j->s, "false", 5)) return false; j->s += 5; return true;
  case 'n': if (strncmp(j->s, "null", 4)) return false; j->s += 4; return true;
  default: return jnumber(j);
  }
}

static bool json_valid(const char *text) {
  jp_t j = {text, 0};
  if (!jvalue(&j)) return false;
  jws(&j);
  return *j.s == 0;
}

Test(profiler, json_checker_rejects_bad_json) {
  cr_expect(json_valid("{\"a\": [1, 2.5e3, -0, \"x\\n\", true, null, {}]}"));
  cr_expect(!json_valid("{\"a\": [1, 2,]}"));
  cr_expect(!json_valid("{\"a\" 1}"));
  cr_expect(!json_valid("[nan]"));
  cr_expect(!json_valid("{\"a\": 01}"));
  cr_expect(!json_valid("[1] x"));
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* A rich profile: threads, cross frees, leaks with stacks, a fake domain. */
static cc_profiler_t *rich_profile(void) {
  cc_profiler_t *p = start_profiler(1.0, true, true);
  pthread_t t;
  pthread_create(&t, NULL, producer, NULL);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, consumer, NULL);
  pthread_join(t, NULL);
  for (int i = 1; i < 3000; i += 7) cc_free(cc_alloc((size_t)i), (size_t)i);
  for (int i = 0; i < 3; i++) cr_assert_not_null(cc_alloc(1000 + (size_t)i)); /* leaks */
  return p;
}

static void write_all(cc_profiler_t *p, const char *dir) {
  static const char *const ext[] = {"json", "csv", "prom", "html"};
  for (int i = 0; i < 4; i++) {
    char path[256];
    snprintf(path, sizeof path, "%s/profile.%s", dir, ext[i]);
    cr_assert_eq(cc_profiler_report(p, path, CC_PROFILE_AUTO), CC_OK, "%s", path);
  }
}

static void remove_dir(const char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

static bool have(const char *cmd) {
  char buf[256];
  snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
  return system(buf) == 0;
}

Test(profiler, every_export_parses) {
  cc_profiler_t *p = rich_profile();
  char dir[] = "/tmp/ccoll-profile-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  write_all(p, dir);
  char path[256];

  snprintf(path, sizeof path, "%s/profile.json", dir);
  char *json = slurp(path);
  cr_expect(json_valid(json), "profile.json is not valid JSON");
  cr_expect_not_null(strstr(json, "\"allocs\": 5432"), "totals: 5000 + 429 + 3");
  cr_expect_not_null(strstr(json, "\"recommendations\""));
  free(json);
  if (have("python3")) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
             "assert d[\"totals\"][\"cross_frees\"]==5000 and len(d[\"leaks\"][\"largest\"])==3' %s", path);
    cr_expect_eq(system(cmd), 0, "python3's json module disagrees");
  }

  snprintf(path, sizeof path, "%s/profile.csv", dir);
  char *csv = slurp(path);
  int lines = 0;
  for (char *line = strtok(csv, "\n"); line; line = strtok(NULL, "\n"), lines++) {
    int commas = 0;
    for (char *c = line; *c; c++) commas += *c == ',';
    cr_assert_eq(commas, 5, "CSV line %d has %d columns: %s", lines + 1, commas + 1, line);
  }
  cr_expect_gt(lines, 30);
  free(csv);

  snprintf(path, sizeof path, "%s/profile.prom", dir);
  char *prom = slurp(path);
  int samples = 0;
  for (char *line = strtok(prom, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') {
      cr_assert(strncmp(line, "# HELP ccoll_", 13) == 0 || strncmp(line, "# TYPE ccoll_", 13) == 0, "%s", line);
      continue;
    }
    char name[128];
    double v;
    cr_assert(sscanf(line, "%127[a-z_]", name) == 1 && strncmp(name, "ccoll_", 6) == 0, "%s", line);
    const char *val = strrchr(line, ' ');
    cr_assert(val && sscanf(val, "%lf", &v) == 1, "no value: %s", line);
    samples++;
  }
  cr_expect_gt(samples, 20);
  free(prom);
  if (have("promtool")) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    cr_expect_eq(system(cmd), 0, "promtool check metrics failed");
  } else {
    cr_log_info("promtool not installed: Prometheus lint skipped");
  }

  snprintf(path, sizeof path, "%s/profile.html", dir);
  char *html = slurp(path);
  cr_expect_not_null(strstr(html, "<!DOCTYPE html>"));
  cr_expect_not_null(strstr(html, "</html>"));
  int open_svg = 0, close_svg = 0;
  for (char *c = html; (c = strstr(c, "<svg")); c++) open_svg++;
  for (char *c = html; (c = strstr(c, "</svg>")); c++) close_svg++;
  cr_expect_eq(open_svg, close_svg);
  cr_expect_geq(open_svg, 5, "timeline, sizes, latency, threads, matrix");
  cr_expect_null(strstr(html, "<script"), "self-contained: no script");
  cr_expect_null(strstr(html, "src=\"http"), "self-contained: no network");
  cr_expect_not_null(strstr(html, "Recommendations"));
  cr_expect_not_null(strstr(html, "Cross-thread frees"));
  free(html);
  if (access("/usr/bin/chromium", X_OK) == 0) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --dump-dom file://%s "
             "2>/dev/null | grep -q 'ccoll allocation profile'", path);
    cr_expect_eq(system(cmd), 0, "headless chromium did not render the dashboard");
  } else {
    cr_log_info("chromium not installed: rendering check skipped");
  }
  cc_profiler_free(p);
  remove_dir(dir);
}

Test(profiler, whole_run_profile_from_environment) {
  char dir[] = "/tmp/ccoll-envprofile-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/run.html", dir);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("CCOLL_PROFILE", path, 1);
    for (int i = 0; i < 100; i++) cc_free(cc_alloc(24), 24);
    (void)cc_alloc(99); /* a leak */
    if (!freopen("/dev/null", "w", stderr)) exit(3); /* quiet the report's stderr line */
    exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *html = slurp(path);
  cr_expect_not_null(strstr(html, "<b>101</b><span>allocations</span>"), "whole run counted");
  cr_expect_not_null(strstr(html, "1 blocks"), "the leak is reported");
  free(html);
  remove_dir(dir);
}

/* ------------------------------------------------------------ reclamation */

static const cc_profile_domain_t *domain_of(const cc_profile_t *s, cc_smr_kind_t kind) {
  for (size_t i = 0; i < s->ndomains; i++)
    if (s->domains[i].kind == kind) return &s->domains[i];
  return NULL;
}

Test(profiler, reclamation_figures_of_live_domains) {
  cr_assert_eq(cc_option_set(CC_OPT_SMR, CC_SMR_IBR), CC_OK);
  cc_profiler_t *p = start_profiler(1.0, false, false);
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_DEBRA});
  cr_assert_not_null(d);
  cc__track_domain_register(d);
  cc__track_domain_register(d); /* idempotent */
  for (int i = 0; i < 1000; i++) {
    void *b = cc_smr_alloc(d, 40);
    cr_assert_not_null(b);
    cc_smr_retire(d, b);
  }
  cc_smr_drain(d);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_assert_eq(s->ndomains, 2, "the default domain and ours");
  cr_expect_eq(s->domains[0].kind, CC_SMR_IBR, "the default domain comes first");
  const cc_profile_domain_t *dom = domain_of(s, CC_SMR_DEBRA);
  cr_assert_not_null(dom);
  cr_expect_eq(dom->stats.retired, 1000);
  cr_expect_eq(dom->stats.freed + dom->stats.pending, 1000);
  /* blocks pending reclamation are still allocated (and so are the
   * domain's own thread records) */
  cr_expect_geq(s->leak_blocks, dom->stats.pending);
  cr_expect_geq(s->frees, dom->stats.freed, "reclaimed blocks are frees the profiler saw");
  char path[] = "/tmp/ccoll-smrprofile-XXXXXX.prom";
  int fd = mkstemps(path, 5);
  cr_assert(fd >= 0);
  close(fd);
  cr_assert_eq(cc_profiler_report(p, path, CC_PROFILE_AUTO), CC_OK);
  char *prom = slurp(path);
  cr_expect_not_null(strstr(prom, "ccoll_smr_retired_total{domain=\"1\",kind=\"debra\"} 1000"), "%s", prom);
  free(prom);
  unlink(path);
  cc_profile_free(s);
  cc__track_domain_unregister(d);
  cc_smr_free(d);
  s = cc_profiler_snapshot(p);
  cr_expect_eq(s->ndomains, 1);
  cr_expect_null(domain_of(s, CC_SMR_DEBRA));
  cc_profile_free(s);
  cc_profiler_free(p);
}

/* A sampling run with `alloc` leaves a long countdown behind (in the
 * thread's record, and for nodes in its gates too); a rate-1 profiler
 * started next must still see every allocation. */
static void check_rate_one_after_sampling(void *(*alloc)(size_t), const char *why) {
  cc_profiler_t *p = start_profiler(0.001, false, false);
  for (int i = 0; i < 10; i++) cc_free(alloc(8), 8);
  cc_profiler_free(p);
  p = start_profiler(1.0, false, false);
  for (int i = 0; i < 10; i++) cc_free(cc_alloc_node(8), 8);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_expect_eq(s->allocs, 10, "%s", why);
  cr_expect_eq(s->frees, 10);
  cc_profile_free(s);
  cc_profiler_free(p);
}

Test(profiler, rate_one_is_exact_after_a_sampling_run) {
  check_rate_one_after_sampling(cc_alloc, "every allocation sampled at rate 1, whatever came before");
}

Test(profiler, counting_profiler_without_block_memory) {
  cc_profiler_options_t o = cc_profiler_default_options();
  o.cross_thread = o.leaks = o.latency = false; /* nothing needs a block's owner */
  cc_profiler_t *p = cc_profiler_new(&o);
  cr_assert_eq(cc_profiler_start(p), CC_OK);
  for (int i = 0; i < 1000; i++) cc_free(cc_alloc_node((size_t)(i % 100) + 1), (size_t)(i % 100) + 1);
  void *keep = cc_alloc(500);
  pthread_t t;
  pthread_create(&t, NULL, producer, NULL);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, consumer, NULL);
  pthread_join(t, NULL);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_expect_eq(s->allocs, 1001 + ITEMS);
  cr_expect_eq(s->frees, 1000 + ITEMS);
  cr_expect_eq(s->live_bytes, 500);
  cr_expect_eq(s->leak_blocks, 1, "live blocks are the leak figure");
  cr_expect_eq(s->nleaks, 0, "no block list without the leaks option");
  cr_expect_eq(s->cross_frees, 0, "not measured without the cross-thread option");
  uint64_t n = 0;
  for (unsigned b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++) n += s->size_hist[b];
  cr_expect_eq(n, 1001 + ITEMS);
  cc_profile_free(s);
  cc_free_unsized(keep); /* unsized: counted with the usable size */
  s = cc_profiler_snapshot(p);
  cr_expect_eq(s->frees, 1001 + ITEMS);
  cc_profile_free(s);
  cc_profiler_free(p);
}

/* ------------------------------------------------------------ per-thread gates */

Test(profiler, rate_one_is_exact_after_sampling_nodes_on_this_thread) {
  check_rate_one_after_sampling(cc_alloc_node, "the starting thread's gates expire at the start");
}

enum { GATED_AFTER = 100 };
static pthread_barrier_t gated_phase;

static void *gated_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 10; i++) cc_free(cc_alloc_node(32), 32); /* gates armed, no profiler */
  pthread_barrier_wait(&gated_phase);
  pthread_barrier_wait(&gated_phase);
  for (int i = 0; i < CC__ALLOC_GATE_SPAN + GATED_AFTER; i++) cc_free(cc_alloc_node(32), 32);
  return NULL;
}

Test(profiler, running_thread_is_profiled_within_a_gate_span) {
  pthread_t t;
  pthread_barrier_init(&gated_phase, NULL, 2);
  pthread_create(&t, NULL, gated_thread, NULL);
  pthread_barrier_wait(&gated_phase);
  cc_profiler_t *p = start_profiler(1.0, false, false);
  pthread_barrier_wait(&gated_phase);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&gated_phase);
  cc_profile_t *s = cc_profiler_snapshot(p);
  cr_expect_geq(s->allocs, GATED_AFTER, "every allocation past the gate span counted");
  cr_expect_leq(s->allocs, CC__ALLOC_GATE_SPAN + GATED_AFTER);
  cr_expect_geq(s->frees, GATED_AFTER);
  cr_expect_leq(s->frees, CC__ALLOC_GATE_SPAN + GATED_AFTER);
  cc_profile_free(s);
  cc_profiler_free(p);
}
