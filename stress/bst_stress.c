/* Stress for the BST map on every reclamation scheme, u64 and bytes keys:
 * oversubscribed threads run every operation; each keeps the key-sum of
 * what it inserted minus what it removed. Afterwards the tree's key-sum,
 * size, order and marks are checked, every value must have gone to
 * val_free exactly once, and concurrent range scans must have been
 * ascending without repeats. Runs under ASan and TSan.
 *
 *   bst_stress [--short | --long] [--threads N]
 * Prints one line per configuration and "N passed, N failed" last. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccoll/map.h"
#include "ccoll/smr.h"
#include "ccoll/status.h"
#include "containers/bst_internal.h"

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ull;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Values are heap cells holding their key: val_free checks and counts. */
typedef struct { uint64_t key; cc_atomic(int) freed; } cell_t;
static cc_atomic(int64_t) cells_made, cells_freed, cells_bad;

static cell_t *cell_new(uint64_t k) {
  cell_t *c = malloc(sizeof *c);
  if (!c) abort();
  c->key = k;
  cc_atomic_store_relaxed(&c->freed, 0);
  cc_atomic_fetch_add_relaxed(&cells_made, 1);
  return c;
}

static void cell_free(void *v, void *ctx) {
  (void)ctx;
  cell_t *c = v;
  if (cc_atomic_exchange_acq_rel(&c->freed, 1)) cc_atomic_fetch_add_relaxed(&cells_bad, 1);
  cc_atomic_fetch_add_relaxed(&cells_freed, 1);
  free(c);
}

typedef struct {
  cc_map_t *m;
  cc_smr_t *smr;
  bool bytes;
  int id;
  uint64_t range;
  cc_atomic(int) *stop;
  int64_t sum, net;
  uint64_t ops, bad;
} worker_t;

static size_t key_bytes(uint64_t k, char *buf) { /* distinct lengths, shared prefixes */
  return (size_t)snprintf(buf, 24, "k%lu", (unsigned long)k) + (k % 3);
}

static void *worker(void *arg) {
  worker_t *w = arg;
  uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 11);
  char kb[32] = {0};
  while (!cc_atomic_load_acquire(w->stop)) {
    uint64_t r = rng_next(&seed), k = r % w->range;
    size_t kl = key_bytes(k, kb);
    void *v = NULL;
    int rc;
    w->ops++;
    switch ((r >> 40) % 10) {
    case 0: case 1: case 2: {
      cell_t *c = cell_new(k);
      rc = w->bytes ? cc_map_insert_bytes(w->m, kb, kl, c) : cc_map_insert(w->m, k, c);
      if (rc == CC_OK) w->sum += (int64_t)k, w->net++;
      else cell_free(c, NULL); /* never handed over */
      break;
    }
    case 3: case 4:
      rc = w->bytes ? cc_map_remove_bytes(w->m, kb, kl, &v) : cc_map_remove(w->m, k, &v);
      if (rc == CC_OK) w->sum -= (int64_t)k, w->net--;
      break;
    case 5: {
      cell_t *c = cell_new(k);
      rc = w->bytes ? cc_map_put_bytes(w->m, kb, kl, c, &v) : cc_map_put(w->m, k, c, &v);
      if (rc == CC_OK) w->sum += (int64_t)k, w->net++;
      break;
    }
    case 6:
      if (w->bytes) { /* a section keeps the value alive while it is read */
        cc_smr_enter(w->smr);
        rc = cc_map_get_bytes(w->m, kb, kl, &v);
        if (rc == CC_OK && ((cell_t *)v)->key != k) w->bad++;
        cc_smr_leave(w->smr);
      } else if (cc_map_pop_first(w->m, &k, &v) == CC_OK) {
        w->sum -= (int64_t)k, w->net--;
      }
      break;
    case 7:
      if (!w->bytes) {
        uint64_t f;
        if (cc_map_ceiling(w->m, k, &f, NULL) == CC_OK && f < k) w->bad++;
        if (cc_map_lower(w->m, k, &f, NULL) == CC_OK && f >= k) w->bad++;
      }
      break;
    case 8: { /* replace: compares the value word only */
      rc = w->bytes ? cc_map_get_bytes(w->m, kb, kl, &v) : cc_map_get(w->m, k, &v);
      if (rc == CC_OK) {
        cell_t *c = cell_new(k);
        rc = w->bytes ? CC_CHANGED : cc_map_replace(w->m, k, v, c);
        if (rc != CC_OK) cell_free(c, NULL);
      }
      break;
    }
    case 9: break;
    }
  }
  return NULL;
}

typedef struct {
  cc_map_t *m;
  bool bytes;
  cc_atomic(int) *stop;
  uint64_t scans, bad;
} scanner_t;

struct scan_state { bool any; uint64_t last; char lastb[32]; size_t lastl; uint64_t bad; };

static int scan_u64(uint64_t k, void *v, void *arg) {
  struct scan_state *s = arg;
  (void)v;
  if (s->any && k <= s->last) s->bad++;
  s->any = true, s->last = k;
  return 0;
}

static int scan_bytes(const void *k, size_t len, void *v, void *arg) {
  struct scan_state *s = arg;
  (void)v;
  if (len > sizeof s->lastb) return s->bad++, 1;
  size_t n = len < s->lastl ? len : s->lastl;
  int c = n ? memcmp(k, s->lastb, n) : 0;
  if (s->any && (c < 0 || (c == 0 && len <= s->lastl))) s->bad++;
  s->any = true;
  memcpy(s->lastb, k, len), s->lastl = len;
  return 0;
}

static void *scanner(void *arg) {
  scanner_t *sc = arg;
  while (!cc_atomic_load_acquire(sc->stop)) {
    struct scan_state s = {0};
    if (sc->bytes) cc_map_range_bytes(sc->m, "", 0, "\xff", 1, scan_bytes, &s);
    else cc_map_range(sc->m, 0, UINT64_MAX, scan_u64, &s);
    sc->bad += s.bad, sc->scans++;
  }
  return NULL;
}

struct total { int64_t sum, n; };

static int total_u64(uint64_t k, void *v, void *arg) {
  struct total *t = arg;
  if (((cell_t *)v)->key != k) t->n = INT64_MIN / 2;
  t->sum += (int64_t)k, t->n++;
  return 0;
}

static int total_bytes(const void *k, size_t len, void *v, void *arg) {
  (void)k, (void)len;
  struct total *t = arg;
  t->sum += (int64_t)((cell_t *)v)->key, t->n++;
  return 0;
}

static bool run(cc_smr_kind_t kind, bool bytes, uint64_t range, int nthreads, double secs) {
  cc_atomic_store_relaxed(&cells_made, 0);
  cc_atomic_store_relaxed(&cells_freed, 0);
  cc_atomic_store_relaxed(&cells_bad, 0);
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kind});
  cc_map_config_t cfg = {.kind = CC_MAP_BST, .key_kind = bytes ? CC_KEY_BYTES : CC_KEY_U64, .smr = smr,
                         .val_free = cell_free};
  cc_map_t *m = cc_map_new(&cfg);
  if (!smr || !m) return false;
  cc_atomic(int) stop = 0;
  worker_t *w = calloc((size_t)nthreads, sizeof *w);
  pthread_t *th = calloc((size_t)nthreads + 1, sizeof *th);
  scanner_t sc = {.m = m, .bytes = bytes, .stop = &stop};
  for (int i = 0; i < nthreads; i++) {
    w[i] = (worker_t){.m = m, .smr = smr, .bytes = bytes, .id = i, .range = range, .stop = &stop};
    pthread_create(&th[i], NULL, worker, &w[i]);
  }
  pthread_create(&th[nthreads], NULL, scanner, &sc);
  double t0 = now_s();
  struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
  nanosleep(&ts, NULL);
  cc_atomic_store_release(&stop, 1);
  int64_t sum = 0, net = 0;
  uint64_t ops = 0, bad = 0;
  for (int i = 0; i <= nthreads; i++) pthread_join(th[i], NULL);
  double el = now_s() - t0;
  for (int i = 0; i < nthreads; i++) sum += w[i].sum, net += w[i].net, ops += w[i].ops, bad += w[i].bad;
  struct total tot = {0};
  if (bytes) cc_map_range_bytes(m, "", 0, "\xff\xff", 2, total_bytes, &tot);
  else cc_map_range(m, 0, UINT64_MAX, total_u64, &tot);
  size_t leaves = 0;
  int shape = cc__bst_check(m, &leaves);
  bool ok = tot.sum == sum && tot.n == net && (int64_t)leaves == net &&
            (int64_t)cc_map_size(m) == net && shape == 0 && bad == 0 && sc.bad == 0;
  cc_map_free(m);
  cc_smr_free(smr);
  int64_t made = cc_atomic_load_relaxed(&cells_made), freed = cc_atomic_load_relaxed(&cells_freed);
  ok = ok && made == freed && cc_atomic_load_relaxed(&cells_bad) == 0;
  printf("%-6s %-5s keys=%-6lu threads=%d  %8.2f Mops/s  scans=%lu  sum %s  shape %d  values %ld/%ld  %s\n",
         cc_smr_kind_name(kind), bytes ? "bytes" : "u64", (unsigned long)range, nthreads,
         (double)ops / el / 1e6, (unsigned long)sc.scans, tot.sum == sum ? "ok" : "BAD", shape,
         (long)freed, (long)made, ok ? "ok" : "FAILED");
  fflush(stdout);
  free(w);
  free(th);
  return ok;
}

int main(int argc, char **argv) {
  double secs = 0.25;
  int nthreads = 6;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--short")) secs = 0.25;
    else if (!strcmp(argv[i], "--long")) secs = 5;
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--short | --long] [--threads N]\n", argv[0]);
      return 2;
    }
  }
  if (nthreads < 1) nthreads = 1;
  const cc_smr_kind_t kinds[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
  int passed = 0, failed = 0;
  for (int k = 0; k < 4; k++)
    for (int b = 0; b < 2; b++)
      for (int r = 0; r < 2; r++) {
        if (run(kinds[k], b, r ? 10000 : 64, nthreads, secs)) passed++;
        else failed++;
      }
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
