/* The BST kind of cc_map on every reclamation scheme: each function against
 * a sequential model, concurrent key-sum and structure checks, weakly
 * consistent range under updates, val_free accounting, pop_first against
 * inserts, bad input, allocation failure, and a Wing-Gong linearizability
 * check of small concurrent histories. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccoll/alloc.h"
#include "ccoll/map.h"
#include "ccoll/smr.h"
#include "ccoll/status.h"
#include "alloc/alloc_internal.h"
#include "containers/bst_internal.h"

static const cc_smr_kind_t kinds[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
#define NKINDS 4

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ull;
}

static cc_map_t *new_map(cc_smr_t *smr, cc_key_kind_t kk, void (*vf)(void *, void *), void *ctx) {
  cc_map_config_t cfg = {.kind = CC_MAP_BST, .key_kind = kk, .smr = smr, .val_free = vf, .val_ctx = ctx};
  cc_map_t *m = cc_map_new(&cfg);
  cr_assert_not_null(m);
  return m;
}

static void check_structure(cc_map_t *m, size_t expect) {
  size_t n = 0;
  int rc = cc__bst_check(m, &n);
  cr_assert_eq(rc, 0, "structure check failed: %d", rc);
  cr_assert_eq(n, expect, "leaves %zu, expected %zu", n, expect);
  cr_assert_eq(cc_map_size(m), expect);
}

/* ------------------------------------------------------------------ sequential model, u64 */

#define MK 48 /* model keys: 0, 3, 6, ... spaced so lower/higher have gaps */
typedef struct {
  bool in[MK];
  void *v[MK];
} model_t;

static uint64_t mkey(int i) { return (uint64_t)i * 3 + 5; }

static int model_nav(const model_t *md, uint64_t k, int dir) { /* index or -1 */
  int best = -1;
  for (int i = 0; i < MK; i++) {
    if (!md->in[i]) continue;
    uint64_t x = mkey(i);
    bool ok = dir == 0 ? x <= k : dir == 1 ? x >= k : dir == 2 ? x < k : x > k;
    if (!ok) continue;
    if (best < 0 || (dir == 0 || dir == 2 ? x > mkey(best) : x < mkey(best))) best = i;
  }
  return best;
}

struct collect {
  uint64_t keys[MK + 1];
  void *vals[MK + 1];
  int n, stop_at;
};

static int collect_u64(uint64_t k, void *v, void *arg) {
  struct collect *c = arg;
  c->keys[c->n] = k, c->vals[c->n] = v;
  if (++c->n == c->stop_at) return 7;
  return 0;
}

static void model_run_u64(cc_smr_kind_t kind, uint64_t seed, int steps) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kind});
  cr_assert_not_null(smr);
  cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
  model_t md = {0};
  size_t count = 0;
  for (int s = 0; s < steps; s++) {
    int i = (int)(rng_next(&seed) % MK);
    uint64_t k = mkey(i) - (rng_next(&seed) % 3 == 0); /* sometimes a non-key */
    bool real = k == mkey(i);
    void *nv = (void *)(uintptr_t)(rng_next(&seed) | 1);
    void *out = NULL;
    uint64_t fk = 0;
    int op = (int)(rng_next(&seed) % 13), rc;
    switch (op) {
    case 0:
      rc = cc_map_insert(m, k, nv);
      if (real && !md.in[i]) {
        cr_assert_eq(rc, CC_OK);
        md.in[i] = true, md.v[i] = nv, count++;
      } else if (real) {
        cr_assert_eq(rc, CC_EXISTS);
      } else {
        cr_assert_eq(rc, CC_OK);
        cr_assert_eq(cc_map_remove(m, k, &out), CC_OK);
        cr_assert_eq(out, nv);
      }
      break;
    case 1:
      if (!real) break;
      rc = cc_map_put(m, k, nv, &out);
      if (md.in[i]) {
        cr_assert_eq(rc, CC_EXISTS);
        cr_assert_eq(out, md.v[i]);
      } else {
        cr_assert_eq(rc, CC_OK);
        md.in[i] = true, count++;
      }
      md.v[i] = nv;
      break;
    case 2:
      rc = cc_map_get(m, k, &out);
      if (real && md.in[i]) cr_assert(rc == CC_OK && out == md.v[i]);
      else cr_assert_eq(rc, CC_NOT_FOUND);
      break;
    case 3:
      rc = cc_map_remove(m, k, &out);
      if (real && md.in[i]) {
        cr_assert(rc == CC_OK && out == md.v[i]);
        md.in[i] = false, count--;
      } else {
        cr_assert_eq(rc, CC_NOT_FOUND);
      }
      break;
    case 4: {
      void *exp = rng_next(&seed) % 2 && real ? md.v[i] : (void *)(uintptr_t)2;
      rc = cc_map_replace(m, k, exp, nv);
      if (!real || !md.in[i]) cr_assert_eq(rc, CC_NOT_FOUND);
      else if (exp != md.v[i]) cr_assert_eq(rc, CC_CHANGED);
      else { cr_assert_eq(rc, CC_OK); md.v[i] = nv; }
      break;
    }
    case 5: case 6: case 7: case 8: {
      int dir = op - 5;
      int (*f[4])(cc_map_t *, uint64_t, uint64_t *, void **) = {cc_map_floor, cc_map_ceiling,
                                                                cc_map_lower, cc_map_higher};
      rc = f[dir](m, k, &fk, &out);
      int want = model_nav(&md, k, dir);
      if (want < 0) cr_assert_eq(rc, CC_NOT_FOUND, "nav %d(%lu)", dir, (unsigned long)k);
      else cr_assert(rc == CC_OK && fk == mkey(want) && out == md.v[want],
                     "nav %d(%lu): rc %d got %lu want %lu", dir, (unsigned long)k, rc,
                     (unsigned long)fk, (unsigned long)mkey(want));
      break;
    }
    case 9: case 10: {
      int want = model_nav(&md, op == 9 ? 0 : UINT64_MAX, op == 9 ? 1 : 0);
      rc = (op == 9 ? cc_map_first : cc_map_last)(m, &fk, &out);
      if (want < 0) cr_assert_eq(rc, CC_EMPTY);
      else cr_assert(rc == CC_OK && fk == mkey(want) && out == md.v[want]);
      break;
    }
    case 11: {
      int want = model_nav(&md, 0, 1);
      rc = cc_map_pop_first(m, &fk, &out);
      if (want < 0) {
        cr_assert_eq(rc, CC_EMPTY);
      } else {
        cr_assert(rc == CC_OK && fk == mkey(want) && out == md.v[want]);
        md.in[want] = false, count--;
      }
      break;
    }
    case 12: {
      uint64_t lo = rng_next(&seed) % (MK * 3 + 10), hi = lo + rng_next(&seed) % (MK * 3);
      struct collect c = {.stop_at = (int)(rng_next(&seed) % 8)}; /* 0: never stops */
      rc = cc_map_range(m, lo, hi, collect_u64, &c);
      int n = 0;
      for (int j = 0; j < MK && (c.stop_at == 0 || n < c.stop_at); j++) {
        if (!md.in[j] || mkey(j) < lo || mkey(j) > hi) continue;
        cr_assert(n < c.n && c.keys[n] == mkey(j) && c.vals[n] == md.v[j], "range item %d", n);
        n++;
      }
      cr_assert_eq(n, c.n);
      cr_assert_eq(rc, c.stop_at && c.n == c.stop_at ? 7 : CC_OK);
      break;
    }
    }
    cr_assert_eq(cc_map_size(m), count);
  }
  check_structure(m, count);
  cc_map_free(m);
  cc_smr_free(smr);
}

Test(bst, model_u64_all_schemes) {
  for (int k = 0; k < NKINDS; k++)
    for (uint64_t seed = 1; seed <= 6; seed++) model_run_u64(kinds[k], seed * 7919, 4000);
}

/* ------------------------------------------------------------------ sequential model, bytes */

#define BK 40
static unsigned char bkeys[BK][4];
static size_t blens[BK];

static int bcmp_raw(const void *a, size_t al, const void *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return (al > bl) - (al < bl);
}

/* Distinct keys of length 0..3 over {0x00, 0x01, 'a'}, sorted. */
static void make_bkeys(void) {
  static const unsigned char alpha[3] = {0x00, 0x01, 'a'};
  int n = 0;
  for (int len = 0; len <= 3 && n < BK; len++) {
    int combos = len == 0 ? 1 : len == 1 ? 3 : len == 2 ? 9 : 27;
    for (int c = 0; c < combos && n < BK; c++) {
      int x = c;
      for (int j = 0; j < len; j++) bkeys[n][j] = alpha[x % 3], x /= 3;
      blens[n++] = (size_t)len;
    }
  }
  for (int i = 0; i < BK; i++) /* insertion sort by the map's order */
    for (int j = i; j > 0 && bcmp_raw(bkeys[j - 1], blens[j - 1], bkeys[j], blens[j]) > 0; j--) {
      unsigned char t[4];
      memcpy(t, bkeys[j], 4), memcpy(bkeys[j], bkeys[j - 1], 4), memcpy(bkeys[j - 1], t, 4);
      size_t tl = blens[j];
      blens[j] = blens[j - 1], blens[j - 1] = tl;
    }
}

struct bcollect {
  int idx[BK + 1];
  void *vals[BK + 1];
  int n;
};

static int collect_bytes(const void *k, size_t len, void *v, void *arg) {
  struct bcollect *c = arg;
  int found = -1;
  for (int i = 0; i < BK; i++)
    if (blens[i] == len && (len == 0 || memcmp(bkeys[i], k, len) == 0)) found = i;
  cr_assert(found >= 0 && c->n <= BK);
  c->idx[c->n] = found, c->vals[c->n++] = v;
  return 0;
}

static void model_run_bytes(cc_smr_kind_t kind, uint64_t seed, int steps) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kind});
  cc_map_t *m = new_map(smr, CC_KEY_BYTES, NULL, NULL);
  bool in[BK] = {0};
  void *vv[BK] = {0};
  size_t count = 0;
  for (int s = 0; s < steps; s++) {
    int i = (int)(rng_next(&seed) % BK);
    const void *k = bkeys[i];
    size_t len = blens[i];
    void *nv = (void *)(uintptr_t)(rng_next(&seed) | 1), *out = NULL;
    int rc;
    switch (rng_next(&seed) % 6) {
    case 0:
      rc = cc_map_insert_bytes(m, k, len, nv);
      if (in[i]) cr_assert_eq(rc, CC_EXISTS);
      else { cr_assert_eq(rc, CC_OK); in[i] = true, vv[i] = nv, count++; }
      break;
    case 1:
      rc = cc_map_put_bytes(m, k, len, nv, &out);
      if (in[i]) cr_assert(rc == CC_EXISTS && out == vv[i]);
      else { cr_assert_eq(rc, CC_OK); in[i] = true, count++; }
      vv[i] = nv;
      break;
    case 2:
      rc = cc_map_get_bytes(m, k, len, &out);
      if (in[i]) cr_assert(rc == CC_OK && out == vv[i]);
      else cr_assert_eq(rc, CC_NOT_FOUND);
      break;
    case 3:
      rc = cc_map_remove_bytes(m, k, len, &out);
      if (in[i]) { cr_assert(rc == CC_OK && out == vv[i]); in[i] = false, count--; }
      else cr_assert_eq(rc, CC_NOT_FOUND);
      break;
    case 4: {
      int j = (int)(rng_next(&seed) % BK);
      int a = i < j ? i : j, b = i < j ? j : i;
      struct bcollect c = {0};
      rc = cc_map_range_bytes(m, bkeys[a], blens[a], bkeys[b], blens[b], collect_bytes, &c);
      cr_assert_eq(rc, CC_OK);
      int n = 0;
      for (int x = a; x <= b; x++)
        if (in[x]) {
          cr_assert(n < c.n && c.idx[n] == x && c.vals[n] == vv[x], "bytes range item %d", n);
          n++;
        }
      cr_assert_eq(n, c.n);
      break;
    }
    case 5: /* u64 calls on a bytes map */
      cr_assert_eq(cc_map_insert(m, 1, nv), CC_EINVAL);
      cr_assert_eq(cc_map_first(m, NULL, NULL), CC_EINVAL);
      break;
    }
    cr_assert_eq(cc_map_size(m), count);
  }
  check_structure(m, count);
  cc_map_free(m);
  cc_smr_free(smr);
}

Test(bst, model_bytes_all_schemes) {
  make_bkeys();
  for (int k = 0; k < NKINDS; k++)
    for (uint64_t seed = 1; seed <= 4; seed++) model_run_bytes(kinds[k], seed * 104729, 4000);
}

Test(bst, bytes_long_keys_and_empty_key) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_IBR});
  cc_map_t *m = new_map(smr, CC_KEY_BYTES, NULL, NULL);
  static char big[3][5000];
  for (int i = 0; i < 3; i++) memset(big[i], 'x', sizeof big[i]), big[i][4999] = (char)('a' + i);
  cr_assert_eq(cc_map_insert_bytes(m, NULL, 0, (void *)1), CC_OK);
  cr_assert_eq(cc_map_insert_bytes(m, "", 0, (void *)2), CC_EXISTS);
  for (int i = 2; i >= 0; i--) cr_assert_eq(cc_map_insert_bytes(m, big[i], 5000, (void *)(uintptr_t)(10 + i)), CC_OK);
  struct bcollect c = {0};
  void *out;
  cr_assert_eq(cc_map_get_bytes(m, big[1], 5000, &out), CC_OK);
  cr_assert_eq(out, (void *)11);
  cr_assert_eq(cc_map_get_bytes(m, big[1], 4999, &out), CC_NOT_FOUND);
  (void)c;
  check_structure(m, 4);
  cc_map_free(m);
  cc_smr_free(smr);
}

/* A scan over keys longer than any inline buffer allocates nothing: with
 * every allocation failing it still reports each key once, in order, with
 * its value (it used to copy such keys and could return CC_ENOMEM). */
struct long_scan {
  size_t lens[8];
  char first[8];
  void *vals[8];
  int n;
};

static int collect_long(const void *k, size_t len, void *v, void *arg) {
  struct long_scan *c = arg;
  cr_assert_lt(c->n, 8);
  c->lens[c->n] = len, c->first[c->n] = len ? ((const char *)k)[len - 1] : 0, c->vals[c->n++] = v;
  return 0;
}

Test(bst, range_long_bytes_keys_allocates_nothing) {
  static char big[3][300];
  for (int i = 0; i < 3; i++) memset(big[i], 'x', sizeof big[i]), big[i][299] = (char)('a' + i);
  for (int kk = 0; kk < NKINDS; kk++) {
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kinds[kk]});
    cc_map_t *m = new_map(smr, CC_KEY_BYTES, NULL, NULL);
    cr_assert_eq(cc_map_insert_bytes(m, NULL, 0, (void *)1), CC_OK);
    for (int i = 2; i >= 0; i--)
      cr_assert_eq(cc_map_insert_bytes(m, big[i], sizeof big[i], (void *)(uintptr_t)(10 + i)), CC_OK);
    struct long_scan c = {0};
    cc__alloc_fail_every(1);
    int rc = cc_map_range_bytes(m, NULL, 0, big[2], sizeof big[2], collect_long, &c);
    cc__alloc_fail_every(0);
    cr_assert_eq(rc, CC_OK, "scheme %d: %d", kk, rc);
    cr_assert_eq(c.n, 4);
    cr_assert(c.lens[0] == 0 && c.vals[0] == (void *)1);
    for (int i = 0; i < 3; i++) {
      cr_assert_eq(c.lens[i + 1], sizeof big[i]);
      cr_assert_eq(c.first[i + 1], 'a' + i);
      cr_assert_eq(c.vals[i + 1], (void *)(uintptr_t)(10 + i));
    }
    cc_map_free(m);
    cc_smr_free(smr);
  }
}

/* ------------------------------------------------------------------ top of the key space */

/* Keys below UINT64_MAX take the one-compare seek, UINT64_MAX the general
 * one, and the sentinel spine carries key UINT64_MAX too: every insertion
 * order of the top keys must route each to its own leaf, next to internal
 * nodes holding a real UINT64_MAX and to sentinels. */
Test(bst, top_keys_every_order_all_schemes) {
  static const uint64_t top[4] = {UINT64_MAX - 2, UINT64_MAX - 1, UINT64_MAX, 7};
  static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (size_t s = 0; s < sizeof kinds / sizeof *kinds; s++) {
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kinds[s]});
    for (int p = 0; p < 6; p++) {
      cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
      cr_assert_eq(cc_map_insert(m, top[3], (void *)(uintptr_t)4), CC_OK);
      for (int i = 0; i < 3; i++) {
        int j = perm[p][i];
        cr_assert_eq(cc_map_insert(m, top[j], (void *)(uintptr_t)(j + 1)), CC_OK);
        cr_assert_eq(cc_map_insert(m, top[j], NULL), CC_EXISTS);
      }
      check_structure(m, 4);
      for (int j = 0; j < 4; j++) {
        void *v = NULL;
        uint64_t k = 0;
        cr_assert_eq(cc_map_get(m, top[j], &v), CC_OK, "scheme %zu perm %d key %d", s, p, j);
        cr_assert_eq((uintptr_t)v, (uintptr_t)(j + 1));
        cr_assert_eq(cc_map_ceiling(m, top[j], &k, NULL), CC_OK);
        cr_assert_eq(k, top[j]);
      }
      uint64_t k = 0;
      cr_assert_eq(cc_map_higher(m, UINT64_MAX - 2, &k, NULL), CC_OK);
      cr_assert_eq(k, UINT64_MAX - 1);
      cr_assert_eq(cc_map_lower(m, UINT64_MAX, &k, NULL), CC_OK);
      cr_assert_eq(k, UINT64_MAX - 1);
      void *absent = NULL;
      cr_assert_eq(cc_map_get(m, UINT64_MAX - 3, &absent), CC_NOT_FOUND);
      /* remove in the order of insertion: each removal re-routes the rest */
      for (int i = 0; i < 3; i++) {
        int j = perm[p][i];
        void *v = NULL;
        cr_assert_eq(cc_map_remove(m, top[j], &v), CC_OK);
        cr_assert_eq((uintptr_t)v, (uintptr_t)(j + 1));
        cr_assert_eq(cc_map_get(m, top[j], &v), CC_NOT_FOUND);
        for (int r = i + 1; r < 3; r++)
          cr_assert_eq(cc_map_get(m, top[perm[p][r]], &v), CC_OK);
      }
      cr_assert_eq(cc_map_last(m, &k, NULL), CC_OK);
      cr_assert_eq(k, top[3]);
      check_structure(m, 1);
      cc_map_free(m);
    }
    cc_smr_free(smr);
  }
}

/* ------------------------------------------------------------------ bad input */

Test(bst, bad_input) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_DEBRA});
  cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
  void *v;
  uint64_t k;
  cr_assert_eq(cc_map_insert(NULL, 1, NULL), CC_EINVAL);
  cr_assert_eq(cc_map_get(m, 1, NULL), CC_EINVAL);
  cr_assert_eq(cc_map_get(NULL, 1, &v), CC_EINVAL);
  cr_assert_eq(cc_map_floor(NULL, 1, &k, &v), CC_EINVAL);
  cr_assert_eq(cc_map_pop_first(NULL, &k, &v), CC_EINVAL);
  cr_assert_eq(cc_map_range(m, 0, 10, NULL, NULL), CC_EINVAL);
  cr_assert_eq(cc_map_insert_bytes(m, "a", 1, NULL), CC_EINVAL);
  cr_assert_eq(cc_map_first(m, &k, &v), CC_EMPTY);
  cr_assert_eq(cc_map_last(m, &k, &v), CC_EMPTY);
  cr_assert_eq(cc_map_pop_first(m, &k, &v), CC_EMPTY);
  cr_assert_eq(cc_map_floor(m, 5, &k, &v), CC_NOT_FOUND);
  cr_assert_eq(cc_map_ceiling(m, 5, &k, &v), CC_NOT_FOUND);
  cr_assert_eq(cc_map_lower(m, 0, &k, &v), CC_NOT_FOUND);
  cr_assert_eq(cc_map_higher(m, UINT64_MAX, &k, &v), CC_NOT_FOUND);
  /* extremes of the key space, NULL out-pointers */
  cr_assert_eq(cc_map_insert(m, 0, NULL), CC_OK);
  cr_assert_eq(cc_map_insert(m, UINT64_MAX, (void *)3), CC_OK);
  cr_assert_eq(cc_map_last(m, &k, NULL), CC_OK);
  cr_assert_eq(k, UINT64_MAX);
  cr_assert_eq(cc_map_higher(m, UINT64_MAX - 1, &k, NULL), CC_OK);
  cr_assert_eq(cc_map_lower(m, 1, &k, NULL), CC_OK);
  cr_assert_eq(k, 0);
  cr_assert_eq(cc_map_ceiling(m, 1, NULL, NULL), CC_OK);
  cr_assert_eq(cc_map_remove(m, 0, NULL), CC_OK);
  cr_assert_eq(cc_map_put(m, UINT64_MAX, NULL, NULL), CC_EXISTS);
  cr_assert_eq(cc_map_pop_first(m, NULL, NULL), CC_OK);
  check_structure(m, 0);
  cc_map_t *b = new_map(smr, CC_KEY_BYTES, NULL, NULL);
  cr_assert_eq(cc_map_insert_bytes(b, NULL, 3, NULL), CC_EINVAL);
  cr_assert_eq(cc_map_range_bytes(b, "a", 1, NULL, 2, collect_bytes, NULL), CC_EINVAL);
  cr_assert_eq(cc_map_get(b, 1, &v), CC_EINVAL);
  cr_assert_eq(cc_map_size(b), 0);
  cc_map_free(b);
  cc_map_free(m);
  cc_smr_free(smr);
}

/* ------------------------------------------------------------------ val_free */

#define NVALS 4096
static cc_atomic(int) freed_flag[NVALS];
static cc_atomic(int) freed_total, double_free;

static void count_free(void *v, void *ctx) {
  cr_assert_eq(ctx, (void *)&freed_total);
  uintptr_t i = (uintptr_t)v;
  if (i >= NVALS || cc_atomic_exchange_acq_rel(&freed_flag[i], 1)) cc_atomic_fetch_add_relaxed(&double_free, 1);
  cc_atomic_fetch_add_relaxed(&freed_total, 1);
}

Test(bst, val_free_exactly_once) {
  for (int kk = 0; kk < NKINDS; kk++) {
    memset(freed_flag, 0, sizeof freed_flag);
    cc_atomic_store_relaxed(&freed_total, 0);
    cc_atomic_store_relaxed(&double_free, 0);
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kinds[kk]});
    cc_map_t *m = new_map(smr, CC_KEY_U64, count_free, (void *)&freed_total);
    uint64_t seed = 99;
    uintptr_t next = 1; /* 0 stays unused: replace with expected == desired keeps it */
    for (int s = 0; s < 3000 && next < NVALS; s++) {
      uint64_t k = rng_next(&seed) % 64;
      void *out;
      switch (rng_next(&seed) % 5) {
      case 0: if (cc_map_insert(m, k, (void *)next) == CC_OK) next++; else cc_atomic_store_relaxed(&freed_flag[next], 1), next++; break;
      case 1: cc_map_put(m, k, (void *)next++, &out); break;
      case 2: cc_map_remove(m, k, NULL); break;
      case 3: cc_map_pop_first(m, NULL, NULL); break;
      case 4:
        if (cc_map_get(m, k, &out) == CC_OK) {
          if (rng_next(&seed) % 2) cc_map_replace(m, k, out, (void *)next++);
          else cc_map_replace(m, k, out, out); /* same value: nothing freed */
        }
        break;
      }
    }
    cc_map_free(m);
    cc_smr_free(smr);
    cr_assert_eq(cc_atomic_load_relaxed(&double_free), 0, "scheme %d", kk);
    int unfreed = 0;
    for (uintptr_t i = 1; i < next; i++) unfreed += !cc_atomic_load_relaxed(&freed_flag[i]);
    cr_assert_eq(unfreed, 0, "scheme %d: %d values never freed", kk, unfreed);
  }
}

/* ------------------------------------------------------------------ allocation failure */

Test(bst, enomem_leaves_tree_unchanged_and_nothing_leaks) {
  cc_alloc_stats_enable(true);
  for (int kk = 0; kk < NKINDS; kk++) {
    for (int kind = 0; kind < 2; kind++) {
      cc_alloc_stats_reset();
      cc_alloc_snapshot_t s0 = cc_alloc_stats_snapshot();
      cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kinds[kk]});
      cr_assert_not_null(smr);
      cc_map_t *m = new_map(smr, (cc_key_kind_t)kind, NULL, NULL);
      bool in[64] = {0};
      size_t count = 0;
      uint64_t seed = 5 + (uint64_t)kk;
      int enomem = 0;
      for (int s = 0; s < 2000; s++) {
        cc__alloc_fail_every(1 + rng_next(&seed) % 4);
        uint64_t k = rng_next(&seed) % 64;
        char kb[8];
        int n = snprintf(kb, sizeof kb, "k%02u", (unsigned)k);
        int op = (int)(rng_next(&seed) % 3), rc;
        if (op == 0) rc = kind ? cc_map_insert_bytes(m, kb, (size_t)n, NULL) : cc_map_insert(m, k, NULL);
        else if (op == 1) rc = kind ? cc_map_put_bytes(m, kb, (size_t)n, NULL, NULL) : cc_map_put(m, k, NULL, NULL);
        else rc = kind ? cc_map_remove_bytes(m, kb, (size_t)n, NULL) : cc_map_remove(m, k, NULL);
        cc__alloc_fail_every(0);
        if (rc == CC_ENOMEM) {
          enomem++;
          cr_assert_neq(op, 2, "remove allocates nothing");
        } else if (op < 2) {
          cr_assert(rc == (in[k] ? CC_EXISTS : CC_OK));
          if (!in[k]) in[k] = true, count++;
        } else {
          cr_assert(rc == (in[k] ? CC_OK : CC_NOT_FOUND));
          if (in[k]) in[k] = false, count--;
        }
        cr_assert_eq(cc_map_size(m), count);
      }
      cr_assert_gt(enomem, 100);
      check_structure(m, count);
      for (uint64_t k = 0; k < 64; k++) {
        char kb[8];
        int n = snprintf(kb, sizeof kb, "k%02u", (unsigned)k);
        void *v;
        int rc = kind ? cc_map_get_bytes(m, kb, (size_t)n, &v) : cc_map_get(m, k, &v);
        cr_assert_eq(rc, in[k] ? CC_OK : CC_NOT_FOUND);
      }
      cc_map_free(m);
      cc_smr_free(smr);
      cc_alloc_snapshot_t s1 = cc_alloc_stats_snapshot();
      cr_assert_eq(s1.current_allocated, s0.current_allocated, "scheme %d kind %d: %llu bytes leaked", kk,
                   kind, (unsigned long long)(s1.current_allocated - s0.current_allocated));
    }
  }
  cc_alloc_stats_enable(false);
}

/* ------------------------------------------------------------------ node sizes */

/* Checks every node of a quiescent u64 map: packed, 24 bytes asked for a
 * leaf and 32 for an internal node (the 8-byte header of a packed block,
 * then the key), and under IBR and NONE 8 more in front of each (the
 * scheme's word, where the allocation starts). The allocator's block is no larger
 * than its bin for them: mimalloc's bins below 64 bytes are 16-byte
 * multiples, glibc adds 8 and rounds to 16, so the request plus 8 rounded
 * up to 16 bounds both. A cache-line node would show 64. */
static void check_node_sizes(uintptr_t e, bool prefixed, size_t *leaves, size_t *inner) {
  const bst_node_t *n = bst_ptr(e);
  bool leaf = (e & BST_LEAF) != 0;
  uint32_t want = (uint32_t)(leaf ? 24 : 32) | CC__SMR_PACKED | (prefixed ? CC__SMR_PREFIXED : 0);
  cr_assert_eq(n->hdr.size, want, "header size word %#x, want %#x", (unsigned)n->hdr.size, (unsigned)want);
  size_t pre = prefixed ? CC__SMR_PREFIX : 0, asked = (leaf ? 24 : 32) + pre;
  size_t got = cc__alloc_usable_size((const char *)n - pre);
  cr_assert_leq(got, (asked + 8 + 15) / 16 * 16, "a %s of %zu bytes takes %zu", leaf ? "leaf" : "node", asked,
                got);
  if (leaf) {
    ++*leaves;
    return;
  }
  ++*inner;
  for (int d = 0; d < 2; d++)
    check_node_sizes(cc_atomic_load_acquire(&((bst_node_t *)n)->u.child[d]), prefixed, leaves, inner);
}

/* NONE allocates each node anew: the statistics see every byte, 8 more
 * per node than the container's (its chain word in front). */
Test(bst, u64_nodes_are_packed_24_and_32_bytes) {
  enum { N = 1000 };
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_NONE});
  cr_assert_not_null(smr);
  cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
  cc_alloc_stats_enable(true);
  cc_alloc_stats_reset();
  cc_alloc_snapshot_t s0 = cc_alloc_stats_snapshot();
  uint64_t seed = 11;
  for (int i = 0; i < N; i++) cr_assert_eq(cc_map_insert(m, rng_next(&seed) >> 1, NULL), CC_OK);
  cc_alloc_snapshot_t s1 = cc_alloc_stats_snapshot();
  cc_alloc_stats_enable(false);
  /* an insert allocates its leaf, the internal node and the neighbour's copy */
  cr_expect_eq(s1.alloc_count - s0.alloc_count, 3 * N);
  cr_expect_eq(s1.alloc_bytes - s0.alloc_bytes, (uint64_t)N * (32 + 40 + 32), "%llu bytes for %d inserts",
               (unsigned long long)(s1.alloc_bytes - s0.alloc_bytes), N);
  size_t leaves = 0, inner = 0;
  check_node_sizes((uintptr_t)m->impl, true, &leaves, &inner);
  cr_expect_eq(leaves, N + 3, "the keys and three sentinels");
  cr_expect_eq(inner, N + 2);
  check_structure(m, N);
  cc_map_free(m);
  cc_smr_free(smr);
}

/* Every scheme lays a node out alike; IBR adds its prefix (as NONE, above),
 * DEBRA and DEBRA+ nothing. */
Test(bst, u64_nodes_keep_their_layout_on_every_scheme) {
  const cc_smr_kind_t sk[] = {CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
  for (int kk = 0; kk < 3; kk++) {
    enum { N = 1000 };
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = sk[kk]});
    cr_assert_not_null(smr);
    cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
    uint64_t seed = 12;
    for (int i = 0; i < 3 * N; i++) {
      uint64_t k = rng_next(&seed) % (2 * N);
      if (i % 3 == 2) (void)cc_map_remove(m, k, NULL);
      else (void)cc_map_insert(m, k, NULL);
    }
    size_t leaves = 0, inner = 0;
    check_node_sizes((uintptr_t)m->impl, sk[kk] == CC_SMR_IBR, &leaves, &inner);
    cr_expect_eq(inner + 1, leaves, "%s: an internal node per leaf but one", cc_smr_kind_name(sk[kk]));
    cc_map_free(m);
    cc_smr_free(smr);
  }
}

/* DEBRA+ reclaimers honour a slot by the block's exact address: a packed
 * node that does not start a cache line is protected as itself. */
Test(bst, debra_plus_protects_packed_blocks_by_address) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_DEBRA_PLUS});
  cr_assert_not_null(smr);
  cc__smr_thr_t *t = cc__smr_thr(smr);
  cr_assert_not_null(t);
  void *b[16];
  int off = -1;
  for (int i = 0; i < 16; i++) {
    b[i] = CC__SMR(debrap, alloc_packed)(t, 40);
    cr_assert_not_null(b[i]);
    if (off < 0 && ((uintptr_t)b[i] & (CC__LINE - 1)) != 0) off = i;
  }
  cr_assert_geq(off, 0, "sixteen 40-byte blocks, none off a line start");
  CC__SMR(debrap, protect)(t, 0, (char *)b[off] + BST_LEAF); /* a marked edge's target */
  cr_expect_eq(cc_atomic_load_relaxed(&t->slots[0]), (uintptr_t)b[off]);
  cc_atomic_store_relaxed(&t->slots[0], 0);
  t->slots_used = 0;
  for (int i = 0; i < 16; i++) CC__SMR(debrap, dealloc)(t, b[i]);
  cc_smr_free(smr);
}

/* A domain may hold skip list and BST nodes at once: a reclaimed packed
 * block never serves a line-aligned request of the same byte count. */
#define PACKED_NEVER_SERVES_LINES(S)                                                           \
  do {                                                                                         \
    cc__smr_thr_t *t = cc__smr_thr(smr);                                                       \
    cr_assert_not_null(t);                                                                     \
    for (int i = 0; i < 20000; i++) {                                                          \
      CC__SMR(S, begin)(t);                                                                    \
      void *p = CC__SMR(S, alloc_packed)(t, 48);                                               \
      cr_assert_not_null(p);                                                                   \
      CC__SMR(S, retire)(t, p);                                                                \
      CC__SMR(S, end)(t);                                                                      \
    }                                                                                          \
    uint64_t reused = cc__smr_reused(smr);                                                     \
    for (int i = 0; i < 20000; i++) {                                                          \
      CC__SMR(S, begin)(t);                                                                    \
      cc__smr_hdr_t *h = CC__SMR(S, alloc)(t, 48);                                             \
      cr_assert_not_null(h);                                                                   \
      cr_assert_eq((uintptr_t)h & (CC__LINE - 1), 0, "a line request got %p", (void *)h);      \
      cr_assert_eq(h->size, 48);                                                               \
      CC__SMR(S, retire)(t, h);                                                                \
      CC__SMR(S, end)(t);                                                                      \
    }                                                                                          \
    cr_expect_gt(cc__smr_reused(smr), reused, "the line blocks were pooled among themselves"); \
  } while (0)

Test(bst, packed_blocks_never_serve_line_requests) {
  if (!cc__alloc_backend_is_mimalloc()) cr_skip_test("the libc backend never arms the gate");
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_DEBRA});
  cr_assert_not_null(smr);
  PACKED_NEVER_SERVES_LINES(debra);
  cc_smr_free(smr);
  smr = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_IBR});
  cr_assert_not_null(smr);
  PACKED_NEVER_SERVES_LINES(ibr);
  cc_smr_free(smr);
}

/* Churn on one thread: the reuse pool serves the BST's two node sizes at
 * once, well past the first expiry of the allocator's gate (which a pool
 * take passes and cc__alloc_packed re-arms: smr_reuse.h, alloc.c). */
Test(bst, reuse_pool_serves_both_node_sizes) {
  if (!cc__alloc_backend_is_mimalloc()) cr_skip_test("the libc backend never arms the gate");
  const cc_smr_kind_t pooled[] = {CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
  for (int kk = 0; kk < 3; kk++) {
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = pooled[kk]});
    cr_assert_not_null(smr);
    if (!smr->reuse) {
      cc_smr_free(smr);
      cr_skip_test("the reuse pool is off (CCOLL_SMR_REUSE=0, tracking or a profile)");
    }
    cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
    enum { KEYS = 512, OPS = 200000 };
    uint64_t seed = 3 + (uint64_t)kk, inserts = 0;
    for (int i = 0; i < OPS; i++) {
      uint64_t k = rng_next(&seed) % KEYS;
      if (rng_next(&seed) & 1) inserts += cc_map_insert(m, k, NULL) == CC_OK;
      else (void)cc_map_remove(m, k, NULL);
    }
    uint64_t reused = cc__smr_reused(smr);
    cc__smr_thr_t *t = cc__smr_thr(smr);
    bool leaf_class = false, inner_class = false;
    uint32_t flags = CC__SMR_PACKED | (pooled[kk] == CC_SMR_IBR ? CC__SMR_PREFIXED : 0);
    for (unsigned i = 0; i < CC__SMR_REUSE_CLASSES; i++) {
      leaf_class |= t->reuse[i].size == (24 | flags);
      inner_class |= t->reuse[i].size == (32 | flags);
    }
    cr_expect(leaf_class && inner_class, "%s: both sizes have a class", cc_smr_kind_name(pooled[kk]));
    /* 3 allocations per insert; most should come back from reclamation */
    cr_expect_gt(reused, inserts * 3 / 2, "%s: %llu of %llu allocations reused", cc_smr_kind_name(pooled[kk]),
                 (unsigned long long)reused, (unsigned long long)(inserts * 3));
    cc_map_free(m);
    cc_smr_free(smr);
  }
}

/* ------------------------------------------------------------------ concurrency */

#define NTHR 4
typedef struct {
  cc_map_t *m;
  int id;
  uint64_t range, ops;
  int64_t sum, net;
  cc_atomic(int) *stop;
  int bad;
} worker_t;

static void *keysum_worker(void *arg) {
  worker_t *w = arg;
  uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
  for (uint64_t i = 0; i < w->ops; i++) {
    uint64_t r = rng_next(&seed), k = r % w->range;
    void *v;
    switch ((r >> 32) % 8) {
    case 0: case 1: case 2:
      if (cc_map_insert(w->m, k, (void *)(uintptr_t)k) == CC_OK) w->sum += (int64_t)k, w->net++;
      break;
    case 3: case 4:
      if (cc_map_remove(w->m, k, &v) == CC_OK) {
        if ((uintptr_t)v != k) w->bad++;
        w->sum -= (int64_t)k, w->net--;
      }
      break;
    case 5:
      if (cc_map_pop_first(w->m, &k, &v) == CC_OK) {
        if ((uintptr_t)v != k) w->bad++;
        w->sum -= (int64_t)k, w->net--;
      }
      break;
    case 6: {
      int rc = cc_map_put(w->m, k, (void *)(uintptr_t)k, &v);
      if (rc == CC_OK) w->sum += (int64_t)k, w->net++;
      else if ((uintptr_t)v != k) w->bad++;
      break;
    }
    case 7: {
      uint64_t f;
      if (cc_map_get(w->m, k, &v) == CC_OK && (uintptr_t)v != k) w->bad++;
      if (cc_map_ceiling(w->m, k, &f, &v) == CC_OK && (f < k || (uintptr_t)v != f)) w->bad++;
      if (cc_map_floor(w->m, k, &f, &v) == CC_OK && (f > k || (uintptr_t)v != f)) w->bad++;
      break;
    }
    }
  }
  return NULL;
}

static int sum_visit(uint64_t k, void *v, void *arg) {
  int64_t *s = arg;
  s[0] += (int64_t)k, s[1]++;
  if ((uintptr_t)v != k) s[2]++;
  return 0;
}

static void keysum_run(cc_smr_kind_t kind, uint64_t range, uint64_t ops) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kind});
  cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
  pthread_t th[NTHR];
  worker_t w[NTHR];
  for (int i = 0; i < NTHR; i++) {
    w[i] = (worker_t){.m = m, .id = i, .range = range, .ops = ops};
    pthread_create(&th[i], NULL, keysum_worker, &w[i]);
  }
  int64_t sum = 0, net = 0;
  for (int i = 0; i < NTHR; i++) {
    pthread_join(th[i], NULL);
    sum += w[i].sum, net += w[i].net;
    cr_assert_eq(w[i].bad, 0, "worker %d saw a wrong value or navigation result", i);
  }
  int64_t s[3] = {0};
  cr_assert_eq(cc_map_range(m, 0, UINT64_MAX, sum_visit, s), CC_OK);
  cr_assert_eq(s[0], sum, "key-sum: tree %ld, threads %ld", (long)s[0], (long)sum);
  cr_assert_eq(s[1], net);
  cr_assert_eq(s[2], 0);
  check_structure(m, (size_t)net);
  cc_map_free(m);
  cc_smr_free(smr);
}

Test(bst, concurrent_keysum_all_schemes, .timeout = 120) {
  for (int k = 0; k < NKINDS; k++) {
    keysum_run(kinds[k], 64, 60000);     /* heavy contention */
    keysum_run(kinds[k], 4096, 60000);
  }
}

/* IBR with the epoch moving at every allocation of another thread: the
 * seek's epoch check keeps failing and its raise path runs at any level.
 * Every stable (even) key is found with its value, no odd key ever is,
 * and navigation lands on even keys. */
typedef struct {
  cc_smr_t *smr;
  cc_atomic(int) *stop;
} churn_t;

static void *epoch_churner(void *arg) {
  churn_t *c = arg;
  while (!cc_atomic_load_acquire(c->stop)) {
    void *b = cc_smr_alloc(c->smr, 64);
    cr_assert_not_null(b);
    cc_smr_retire(c->smr, b);
  }
  return NULL;
}

Test(bst, ibr_seek_under_a_moving_epoch, .timeout = 120) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){CC_SMR_IBR, 1, 64});
  cr_assert_not_null(smr);
  cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
  enum { N = 4096 };
  /* every even key below 2N, in a scrambled order (an odd multiplier is a
   * bijection modulo a power of two): a random tree shape */
  for (uint64_t i = 0; i < N; i++) {
    uint64_t k = (i * 2654435761u % N) * 2;
    cr_assert_eq(cc_map_insert(m, k, (void *)(uintptr_t)(k + 1)), CC_OK);
  }
  size_t n = cc_map_size(m);
  cr_assert_eq(n, (size_t)N);
  cc_atomic(int) stop = 0;
  churn_t c = {smr, &stop};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, epoch_churner, &c), 0);
  cc_smr_stats_t st0, st1;
  cc_smr_stats(smr, &st0);
  int bad = 0;
  for (int round = 0; round < 40; round++) {
    for (uint64_t k = 0; k < 2 * N; k++) {
      void *v = NULL;
      int rc = cc_map_get(m, k, &v);
      if (k % 2) bad += rc != CC_NOT_FOUND;
      else bad += rc != CC_OK || (uintptr_t)v != k + 1;
      uint64_t f;
      if (k % 2 && cc_map_floor(m, k, &f, &v) == CC_OK) bad += f % 2 != 0 || (uintptr_t)v != f + 1;
    }
  }
  cc_atomic_store_release(&stop, 1);
  pthread_join(th, NULL);
  cr_expect_eq(bad, 0);
  cc_smr_stats(smr, &st1);
  cr_expect_gt(st1.epoch, st0.epoch + 1000, "the epoch moved during the seeks");
  cr_expect_eq(cc_map_size(m), n);
  check_structure(m, n);
  cc_map_free(m);
  cc_smr_free(smr);
}

/* range while updating: ascending, never twice, and the stable keys (even,
 * never removed) always seen. */
typedef struct {
  cc_map_t *m;
  cc_atomic(int) *stop;
  int id;
} upd_t;

static void *odd_updater(void *arg) {
  upd_t *u = arg;
  uint64_t seed = 77 + (uint64_t)u->id;
  while (!cc_atomic_load_acquire(u->stop)) {
    uint64_t k = (rng_next(&seed) % 512) * 2 + 1;
    if (rng_next(&seed) % 2) cc_map_insert(u->m, k, (void *)(uintptr_t)k);
    else cc_map_remove(u->m, k, NULL);
  }
  return NULL;
}

struct scan { uint64_t last; int n, evens, bad; bool any; };

static int scan_visit(uint64_t k, void *v, void *arg) {
  struct scan *s = arg;
  if ((s->any && k <= s->last) || (uintptr_t)v != k) s->bad++;
  s->any = true, s->last = k, s->n++;
  s->evens += k % 2 == 0;
  return 0;
}

Test(bst, range_during_updates, .timeout = 120) {
  for (int kk = 0; kk < NKINDS; kk++) {
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kinds[kk]});
    cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
    for (uint64_t k = 0; k < 1024; k += 2) cc_map_insert(m, k, (void *)(uintptr_t)k);
    cc_atomic(int) stop = 0;
    pthread_t th[3];
    upd_t u[3];
    for (int i = 0; i < 3; i++) u[i] = (upd_t){m, &stop, i}, pthread_create(&th[i], NULL, odd_updater, &u[i]);
    for (int r = 0; r < 60; r++) {
      struct scan s = {0};
      cr_assert_eq(cc_map_range(m, 0, 2000, scan_visit, &s), CC_OK);
      cr_assert_eq(s.bad, 0, "range out of order or repeated");
      cr_assert_eq(s.evens, 512, "a key present throughout was missed");
    }
    cc_atomic_store_release(&stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    size_t n = 0;
    cr_assert_eq(cc__bst_check(m, &n), 0);
    cc_map_free(m);
    cc_smr_free(smr);
  }
}

/* pop_first against inserts: every key popped once, pops + leftovers =
 * inserts; a popper's keys come out ascending from a single producer. */
typedef struct {
  cc_map_t *m;
  int id;
  uint64_t n;
  cc_atomic(int) *done;
  uint8_t *seen;
  int bad;
} pq_t;

static void *pq_producer(void *arg) {
  pq_t *p = arg;
  for (uint64_t i = 0; i < p->n; i++) {
    uint64_t k = i * 2 + (uint64_t)p->id; /* two producers, disjoint keys */
    if (cc_map_insert(p->m, k, (void *)(uintptr_t)(k + 1)) != CC_OK) p->bad++;
  }
  cc_atomic_fetch_add_acq_rel(p->done, 1);
  return NULL;
}

static void *pq_consumer(void *arg) {
  pq_t *p = arg;
  for (;;) {
    uint64_t k;
    void *v;
    int rc = cc_map_pop_first(p->m, &k, &v);
    if (rc == CC_EMPTY) {
      if (cc_atomic_load_acquire(p->done) == 2) break;
      continue;
    }
    if ((uintptr_t)v != k + 1 || k >= 2 * p->n || p->seen[k]++) p->bad++;
  }
  return NULL;
}

Test(bst, pop_first_with_inserts, .timeout = 120) {
  for (int kk = 0; kk < NKINDS; kk++) {
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kinds[kk]});
    cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
    const uint64_t n = 20000;
    uint8_t *seen = calloc(2 * n, 1);
    cc_atomic(int) done = 0;
    pq_t p[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
      p[i] = (pq_t){.m = m, .id = i % 2, .n = n, .done = &done, .seen = i < 2 ? NULL : calloc(2 * n, 1)};
      pthread_create(&th[i], NULL, i < 2 ? pq_producer : pq_consumer, &p[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) cr_assert_eq(p[i].bad, 0, "thread %d", i);
    uint64_t k;
    while (cc_map_pop_first(m, &k, NULL) == CC_OK) p[2].seen[k]++;
    for (uint64_t i = 0; i < 2 * n; i++)
      cr_assert_eq(p[2].seen[i] + p[3].seen[i], 1, "key %lu popped %d times", (unsigned long)i,
                   p[2].seen[i] + p[3].seen[i]);
    check_structure(m, 0);
    free(p[2].seen), free(p[3].seen), free(seen);
    cc_map_free(m);
    cc_smr_free(smr);
  }
}

/* ------------------------------------------------------------------ linearizability (Wing-Gong) */

#define WG_THREADS 3
#define WG_OPS 6
#define WG_KEYS 4
#define WG_N (WG_THREADS * WG_OPS)

enum { W_INSERT, W_PUT, W_GET, W_REMOVE, W_REPLACE, W_CEIL, W_FLOOR, W_HIGHER, W_FIRST, W_LAST, W_POP, W_NOPS };
static const char *wg_names[] = {"insert", "put", "get", "remove", "replace", "ceiling",
                                 "floor", "higher", "first", "last", "pop_first"};

typedef struct {
  int op, key;
  uintptr_t a, b; /* value / expected, desired */
  int rc;
  uint64_t okey;
  uintptr_t oval;
  uint64_t inv, res;
} wg_op_t;

typedef struct { uintptr_t v[WG_KEYS]; } wg_state_t; /* 0 = absent; values are nonzero */

static cc_atomic(uint64_t) wg_clock;

/* Applies op to state s; true when the recorded outcome matches. */
static bool wg_apply(wg_state_t *s, const wg_op_t *o) {
  uintptr_t *v = s->v;
  int k = o->key;
  switch (o->op) {
  case W_INSERT:
    if (v[k]) return o->rc == CC_EXISTS;
    if (o->rc != CC_OK) return false;
    v[k] = o->a;
    return true;
  case W_PUT:
    if (v[k] ? (o->rc != CC_EXISTS || o->oval != v[k]) : o->rc != CC_OK) return false;
    v[k] = o->a;
    return true;
  case W_GET:
    return v[k] ? (o->rc == CC_OK && o->oval == v[k]) : o->rc == CC_NOT_FOUND;
  case W_REMOVE:
    if (!v[k]) return o->rc == CC_NOT_FOUND;
    if (o->rc != CC_OK || o->oval != v[k]) return false;
    v[k] = 0;
    return true;
  case W_REPLACE:
    if (!v[k]) return o->rc == CC_NOT_FOUND;
    if (v[k] != o->a) return o->rc == CC_CHANGED;
    if (o->rc != CC_OK) return false;
    v[k] = o->b;
    return true;
  default: {
    int found = -1;
    for (int i = 0; i < WG_KEYS; i++) {
      if (!v[i]) continue;
      bool ok = o->op == W_CEIL ? i >= k : o->op == W_FLOOR ? i <= k : o->op == W_HIGHER ? i > k : true;
      if (!ok) continue;
      bool better = found < 0 || (o->op == W_FLOOR || o->op == W_LAST ? i > found : i < found);
      if (better) found = i;
    }
    int none = o->op == W_FIRST || o->op == W_LAST || o->op == W_POP ? CC_EMPTY : CC_NOT_FOUND;
    if (found < 0) return o->rc == none;
    if (o->rc != CC_OK || o->okey != (uint64_t)found || o->oval != v[found]) return false;
    if (o->op == W_POP) v[found] = 0;
    return true;
  }
  }
}

/* Visited (done-set, state) configurations: a failed one fails again. */
#define WG_MEMO (1u << 15)
static uint64_t wg_memo[WG_MEMO];

static uint64_t wg_code(uintptr_t v) { /* values: 0, 0x1000+k, 0x100+i, 0x200+i, anything else */
  if (v == 0) return 0;
  if (v >= 0x1000) return 1 + (v - 0x1000);
  if (v >= 0x200) return 8 + (v - 0x200);
  if (v >= 0x100) return 32 + (v - 0x100);
  return 63;
}

static bool wg_seen(unsigned done, const wg_state_t *s) {
  uint64_t key = done;
  for (int i = 0; i < WG_KEYS; i++) key = key << 6 | wg_code(s->v[i]);
  key++; /* 0 marks an empty slot */
  for (uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 49;; h = (h + 1) % WG_MEMO) {
    if (wg_memo[h] == key) return true;
    if (wg_memo[h] == 0) {
      wg_memo[h] = key;
      return false;
    }
  }
}

static bool wg_search(const wg_op_t *ops, int n, unsigned done, wg_state_t s) {
  if (done == (1u << n) - 1) return true;
  if (wg_seen(done, &s)) return false;
  /* an op can go next if no pending op responded before it was invoked */
  uint64_t min_res = UINT64_MAX;
  for (int i = 0; i < n; i++)
    if (!(done & (1u << i)) && ops[i].res < min_res) min_res = ops[i].res;
  for (int i = 0; i < n; i++) {
    if ((done & (1u << i)) || ops[i].inv > min_res) continue;
    wg_state_t t = s;
    if (wg_apply(&t, &ops[i]) && wg_search(ops, n, done | (1u << i), t)) return true;
  }
  return false;
}

typedef struct {
  cc_map_t *m;
  wg_op_t *ops;
  pthread_barrier_t *bar;
} wg_thr_t;

static void *wg_thread(void *arg) {
  wg_thr_t *w = arg;
  pthread_barrier_wait(w->bar);
  for (int i = 0; i < WG_OPS; i++) {
    wg_op_t *o = &w->ops[i];
    void *ov = NULL;
    uint64_t ok = 0;
    o->inv = cc_atomic_fetch_add_seq_cst(&wg_clock, 1);
    switch (o->op) {
    case W_INSERT: o->rc = cc_map_insert(w->m, (uint64_t)o->key, (void *)o->a); break;
    case W_PUT: o->rc = cc_map_put(w->m, (uint64_t)o->key, (void *)o->a, &ov); break;
    case W_GET: o->rc = cc_map_get(w->m, (uint64_t)o->key, &ov); break;
    case W_REMOVE: o->rc = cc_map_remove(w->m, (uint64_t)o->key, &ov); break;
    case W_REPLACE: o->rc = cc_map_replace(w->m, (uint64_t)o->key, (void *)o->a, (void *)o->b); break;
    case W_CEIL: o->rc = cc_map_ceiling(w->m, (uint64_t)o->key, &ok, &ov); break;
    case W_FLOOR: o->rc = cc_map_floor(w->m, (uint64_t)o->key, &ok, &ov); break;
    case W_HIGHER: o->rc = cc_map_higher(w->m, (uint64_t)o->key, &ok, &ov); break;
    case W_FIRST: o->rc = cc_map_first(w->m, &ok, &ov); break;
    case W_LAST: o->rc = cc_map_last(w->m, &ok, &ov); break;
    case W_POP: o->rc = cc_map_pop_first(w->m, &ok, &ov); break;
    }
    o->res = cc_atomic_fetch_add_seq_cst(&wg_clock, 1);
    o->okey = ok, o->oval = (uintptr_t)ov;
  }
  return NULL;
}

static void wg_print(const wg_op_t *ops, int n, const wg_state_t *init) {
  fprintf(stderr, "non-linearizable history; initial state:");
  for (int i = 0; i < WG_KEYS; i++) fprintf(stderr, " %d=%lx", i, (unsigned long)init->v[i]);
  fprintf(stderr, "\n");
  for (int i = 0; i < n; i++)
    fprintf(stderr, "  T%d [%3lu,%3lu] %-9s k=%d a=%lx b=%lx -> rc=%d key=%lu val=%lx\n", i / WG_OPS,
            (unsigned long)ops[i].inv, (unsigned long)ops[i].res, wg_names[ops[i].op], ops[i].key,
            (unsigned long)ops[i].a, (unsigned long)ops[i].b, ops[i].rc, (unsigned long)ops[i].okey,
            (unsigned long)ops[i].oval);
}

static void wg_run(cc_smr_kind_t kind, int bursts, uint64_t seed) {
  cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kind});
  for (int b = 0; b < bursts; b++) {
    cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
    wg_state_t init = {{0}};
    for (int k = 0; k < WG_KEYS; k++)
      if (rng_next(&seed) % 2) {
        init.v[k] = 0x1000 + (uintptr_t)k;
        cc_map_insert(m, (uint64_t)k, (void *)init.v[k]);
      }
    wg_op_t ops[WG_N];
    for (int i = 0; i < WG_N; i++) {
      wg_op_t *o = &ops[i];
      memset(o, 0, sizeof *o);
      o->op = (int)(rng_next(&seed) % W_NOPS);
      o->key = (int)(rng_next(&seed) % WG_KEYS);
      o->a = 0x100 + (uintptr_t)i; /* unique value per op */
      if (o->op == W_REPLACE) { /* expect a value that may well be there */
        int pick = (int)(rng_next(&seed) % 3);
        o->a = pick == 0 ? init.v[o->key] : pick == 1 ? 0x100 + (uintptr_t)(rng_next(&seed) % WG_N) : 7;
        o->b = 0x200 + (uintptr_t)i;
      }
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, WG_THREADS);
    pthread_t th[WG_THREADS];
    wg_thr_t w[WG_THREADS];
    for (int t = 0; t < WG_THREADS; t++) {
      w[t] = (wg_thr_t){m, &ops[t * WG_OPS], &bar};
      pthread_create(&th[t], NULL, wg_thread, &w[t]);
    }
    for (int t = 0; t < WG_THREADS; t++) pthread_join(th[t], NULL);
    pthread_barrier_destroy(&bar);
    memset(wg_memo, 0, sizeof wg_memo);
    bool ok = wg_search(ops, WG_N, 0, init);
    if (!ok) wg_print(ops, WG_N, &init);
    cr_assert(ok, "burst %d (scheme %d): history not linearizable (printed above)", b, (int)kind);
    cc_map_free(m);
  }
  cc_smr_free(smr);
}

Test(bst, linearizable_small_histories, .timeout = 300) {
  for (int k = 0; k < NKINDS; k++) wg_run(kinds[k], 400, 0xabcdef + (uint64_t)k);
}

/* ------------------------------------------------------------------ navigation under a two-key invariant */

/* A toggler keeps at least one of {10, 20} present at every instant (30 is
 * always there, 1 too): a linearizable ceiling(5)/higher(5)/first-above-1
 * answers 10 or 20, never 30; floor(25)/lower(25) never 1. Catches a
 * navigation that combines two moments of the tree. */
typedef struct {
  cc_map_t *m;
  cc_atomic(int) *stop;
  int bad;
  uint64_t queries;
} inv_t;

static void *inv_toggler(void *arg) {
  inv_t *w = arg;
  uint64_t seed = 4242;
  while (!cc_atomic_load_acquire(w->stop)) {
    /* the pair's order varies so the keys land next to different leaves */
    uint64_t a = rng_next(&seed) % 2 ? 10 : 20, b = 30 - a;
    cc_map_insert(w->m, b, (void *)b);
    cc_map_remove(w->m, a, NULL);
    cc_map_insert(w->m, a, (void *)a);
    if (rng_next(&seed) % 2) cc_map_remove(w->m, b, NULL);
    /* noise outside the probed gaps reshapes the routing keys, and a key
     * inserted then removed next to a probe's leaf gives edge ABA */
    uint64_t n = rng_next(&seed) % 2 ? 2 + rng_next(&seed) % 3 : 26 + rng_next(&seed) % 4;
    if (rng_next(&seed) % 2) cc_map_insert(w->m, n, (void *)n);
    else cc_map_remove(w->m, n, NULL);
  }
  return NULL;
}

static void *inv_prober(void *arg) {
  inv_t *w = arg;
  while (!cc_atomic_load_acquire(w->stop)) {
    uint64_t k;
    void *v;
    if (cc_map_ceiling(w->m, 5, &k, &v) != CC_OK || (k != 10 && k != 20) || (uintptr_t)v != k) w->bad++;
    if (cc_map_higher(w->m, 5, &k, &v) != CC_OK || (k != 10 && k != 20)) w->bad++;
    if (cc_map_floor(w->m, 25, &k, &v) != CC_OK || (k != 10 && k != 20) || (uintptr_t)v != k) w->bad++;
    if (cc_map_lower(w->m, 25, &k, &v) != CC_OK || (k != 10 && k != 20)) w->bad++;
    w->queries += 4;
  }
  return NULL;
}

Test(bst, navigation_linearizable_two_key_invariant, .timeout = 120) {
  for (int kk = 0; kk < NKINDS; kk++) {
    cc_smr_t *smr = cc_smr_new(&(cc_smr_config_t){.kind = kinds[kk]});
    cc_map_t *m = new_map(smr, CC_KEY_U64, NULL, NULL);
    /* this order routes 10 into the range of leaf 1 (under routing key 20):
     * a probe's first seek and an insert of 10 then meet on one edge */
    cc_map_insert(m, 1, (void *)1);
    cc_map_insert(m, 20, (void *)20);
    cc_map_insert(m, 30, (void *)30);
    cc_map_insert(m, 10, (void *)10);
    cc_atomic(int) stop = 0;
    /* oversubscribed: probers get preempted inside their two seeks */
    enum { NINV = 8 };
    inv_t w[NINV];
    pthread_t th[NINV];
    for (int i = 0; i < NINV; i++) {
      w[i] = (inv_t){.m = m, .stop = &stop};
      pthread_create(&th[i], NULL, i == 0 ? inv_toggler : inv_prober, &w[i]);
    }
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cc_atomic_store_release(&stop, 1);
    for (int i = 0; i < NINV; i++) pthread_join(th[i], NULL);
    for (int i = 1; i < NINV; i++)
      cr_assert_eq(w[i].bad, 0, "scheme %d: %d of %lu answers broke the invariant", kk, w[i].bad,
                   (unsigned long)w[i].queries);
    check_structure(m, cc_map_size(m));
    cc_map_free(m);
    cc_smr_free(smr);
  }
}

/* The checker itself must reject what no order explains. */
Test(bst, wing_gong_checker_rejects_bad_histories) {
  wg_state_t empty = {{0}};
  /* insert(1) returns before get(1) starts, yet get misses it */
  wg_op_t h1[2] = {
    {.op = W_INSERT, .key = 1, .a = 0x100, .rc = CC_OK, .inv = 0, .res = 1},
    {.op = W_GET, .key = 1, .rc = CC_NOT_FOUND, .inv = 2, .res = 3},
  };
  memset(wg_memo, 0, sizeof wg_memo);
  cr_assert_not(wg_search(h1, 2, 0, empty));
  /* overlapping, the same outcome is fine */
  h1[1].inv = 0;
  memset(wg_memo, 0, sizeof wg_memo);
  cr_assert(wg_search(h1, 2, 0, empty));
  /* a put that replaced a value a concurrent remove also returned */
  wg_state_t one = {{0, 0x1001, 0, 0}};
  wg_op_t h2[2] = {
    {.op = W_REMOVE, .key = 1, .rc = CC_OK, .oval = 0x1001, .inv = 0, .res = 3},
    {.op = W_PUT, .key = 1, .a = 0x101, .rc = CC_EXISTS, .oval = 0x1001, .inv = 1, .res = 2},
  };
  memset(wg_memo, 0, sizeof wg_memo);
  cr_assert_not(wg_search(h2, 2, 0, one));
  /* ceiling skipping a key present throughout */
  wg_state_t two = {{0, 0x1001, 0x1002, 0}};
  wg_op_t h3[1] = {{.op = W_CEIL, .key = 0, .rc = CC_OK, .okey = 2, .oval = 0x1002, .inv = 0, .res = 1}};
  memset(wg_memo, 0, sizeof wg_memo);
  cr_assert_not(wg_search(h3, 1, 0, two));
}
