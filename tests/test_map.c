/* cc_map: every function of both kinds on every reclamation scheme, against
 * a sequential model; concurrent key sums; range order under updates;
 * val_free counts; bad input; allocation failure. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccoll.h"
#include "ccoll/map.h"
#include "alloc/alloc_internal.h"
#include "containers/map_internal.h"

static const cc_smr_kind_t schemes[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
#define NSCHEMES 4
static const cc_map_kind_t kinds[] = {CC_MAP_SKIPLIST, CC_MAP_BST};
#define NKINDS 2
static const char *const kind_names[] = {"skiplist", "bst"};

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static cc_smr_t *new_domain(cc_smr_kind_t k) {
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = k});
  cr_assert_not_null(d);
  return d;
}

static cc_map_t *new_map_or_skip(cc_map_kind_t kind, cc_key_kind_t kk, cc_smr_t *d,
                                 void (*vf)(void *, void *), void *ctx) {
  cc_map_t *m = cc_map_new(&(cc_map_config_t){kind, kk, d, vf, ctx});
  cr_assert_not_null(m, "cc_map_new(%s)", kind_names[kind]);
  return m;
}

/* ------------------------------------------------------------------ sequential model, u64 */

#define MK 48 /* model keys 0..MK-1, plus the extremes mapped below */
static uint64_t model_key(unsigned i) {
  if (i == 0) return 0;
  if (i == MK - 1) return UINT64_MAX;
  return i * 3;
}

typedef struct {
  bool in[MK];
  void *v[MK];
  size_t n;
} model_t;

typedef enum { NAV_FLOOR, NAV_CEILING, NAV_LOWER, NAV_HIGHER } nav_dir;

static int model_nav_(const model_t *md, uint64_t key, nav_dir dir, unsigned *out) {
  int best = -1;
  for (unsigned i = 0; i < MK; i++) {
    if (!md->in[i]) continue;
    uint64_t k = model_key(i);
    bool ok = dir == NAV_FLOOR ? k <= key : dir == NAV_CEILING ? k >= key
            : dir == NAV_LOWER ? k < key : k > key;
    if (!ok) continue;
    if (best < 0) best = (int)i;
    else if ((dir == NAV_FLOOR || dir == NAV_LOWER) ? k > model_key((unsigned)best)
                                                    : k < model_key((unsigned)best))
      best = (int)i;
  }
  if (best < 0) return CC_NOT_FOUND;
  *out = (unsigned)best;
  return CC_OK;
}

static int (*const map_nav_fn[4])(cc_map_t *, uint64_t, uint64_t *, void **) = {
  cc_map_floor, cc_map_ceiling, cc_map_lower, cc_map_higher};

struct collect {
  uint64_t keys[MK + 4];
  void *vals[MK + 4];
  unsigned n;
  unsigned stop_at;
};

static int collect_u64(uint64_t key, void *val, void *arg) {
  struct collect *c = arg;
  cr_assert_lt(c->n, MK + 1, "range reported too many keys");
  c->keys[c->n] = key;
  c->vals[c->n] = val;
  c->n++;
  return c->n == c->stop_at ? 7 : 0;
}

static void check_range_u64(cc_map_t *m, const model_t *md, uint64_t lo, uint64_t hi, unsigned stop) {
  struct collect c = {.stop_at = stop};
  int r = cc_map_range(m, lo, hi, collect_u64, &c);
  unsigned want = 0;
  for (unsigned i = 0; i < MK; i++) {
    uint64_t k = model_key(i);
    if (!md->in[i] || k < lo || k > hi) continue;
    if (stop && want == stop) break;
    cr_assert_lt(want, c.n, "range [%llu,%llu] missed key %llu", (unsigned long long)lo,
                 (unsigned long long)hi, (unsigned long long)k);
    cr_assert_eq(c.keys[want], k, "range order/key at %u", want);
    cr_assert_eq(c.vals[want], md->v[i]);
    want++;
  }
  cr_assert_eq(c.n, want, "range [%llu,%llu] reported %u keys, model %u", (unsigned long long)lo,
               (unsigned long long)hi, c.n, want);
  cr_assert_eq(r, (stop && want == stop) ? 7 : CC_OK);
}

static void *tok(uint64_t x) { return (void *)(uintptr_t)(x * 16 + 8); }

/* One random operation on map and model, results compared. */
static void model_step_u64(cc_map_t *m, model_t *md, unsigned step) {
  unsigned i = (unsigned)(rnd() % MK);
  uint64_t key = model_key(i);
  void *v = tok(rnd() % 1000 + step), *got = NULL, *old = NULL;
  uint64_t fk = 0;
  int r;
  switch (rnd() % 14) {
    case 0: case 1:
      r = cc_map_insert(m, key, v);
      cr_assert_eq(r, md->in[i] ? CC_EXISTS : CC_OK, "insert %llu", (unsigned long long)key);
      if (!md->in[i]) { md->in[i] = true; md->v[i] = v; md->n++; }
      break;
    case 2:
      r = cc_map_put(m, key, v, &old);
      cr_assert_eq(r, md->in[i] ? CC_EXISTS : CC_OK);
      if (md->in[i]) cr_assert_eq(old, md->v[i]);
      else md->n++;
      md->in[i] = true;
      md->v[i] = v;
      break;
    case 3: case 4:
      r = cc_map_get(m, key, &got);
      cr_assert_eq(r, md->in[i] ? CC_OK : CC_NOT_FOUND, "get %llu", (unsigned long long)key);
      if (md->in[i]) cr_assert_eq(got, md->v[i]);
      break;
    case 5: case 6:
      r = cc_map_remove(m, key, (rnd() & 1) ? &got : NULL);
      cr_assert_eq(r, md->in[i] ? CC_OK : CC_NOT_FOUND, "remove %llu", (unsigned long long)key);
      if (md->in[i]) { md->in[i] = false; md->n--; }
      break;
    case 7: {
      void *exp = (md->in[i] && (rnd() & 1)) ? md->v[i] : tok(5000);
      r = cc_map_replace(m, key, exp, v);
      int want = !md->in[i] ? CC_NOT_FOUND : exp == md->v[i] ? CC_OK : CC_CHANGED;
      cr_assert_eq(r, want, "replace %llu", (unsigned long long)key);
      if (want == CC_OK) md->v[i] = v;
      break;
    }
    case 8: case 9: {
      nav_dir d = (nav_dir)(rnd() % 4);
      uint64_t q = (rnd() & 1) ? key : key + (rnd() % 3) - 1; /* between and on keys */
      unsigned at = 0;
      int want = model_nav_(md, q, d, &at);
      r = map_nav_fn[d](m, q, &fk, &got);
      cr_assert_eq(r, want, "nav %d of %llu", (int)d, (unsigned long long)q);
      if (want == CC_OK) {
        cr_assert_eq(fk, model_key(at));
        cr_assert_eq(got, md->v[at]);
      }
      break;
    }
    case 10: {
      bool last = rnd() & 1;
      unsigned at = 0;
      int want = model_nav_(md, last ? UINT64_MAX : 0, last ? NAV_FLOOR : NAV_CEILING, &at);
      r = last ? cc_map_last(m, &fk, &got) : cc_map_first(m, &fk, &got);
      cr_assert_eq(r, want == CC_OK ? CC_OK : CC_EMPTY);
      if (want == CC_OK) { cr_assert_eq(fk, model_key(at)); cr_assert_eq(got, md->v[at]); }
      break;
    }
    case 11: {
      unsigned at = 0;
      int want = model_nav_(md, 0, NAV_CEILING, &at);
      r = cc_map_pop_first(m, &fk, &got);
      cr_assert_eq(r, want == CC_OK ? CC_OK : CC_EMPTY);
      if (want == CC_OK) {
        cr_assert_eq(fk, model_key(at));
        cr_assert_eq(got, md->v[at]);
        md->in[at] = false;
        md->n--;
      }
      break;
    }
    case 12: {
      uint64_t a = model_key((unsigned)(rnd() % MK)), b = model_key((unsigned)(rnd() % MK));
      if (rnd() & 1) a++;
      check_range_u64(m, md, a < b ? a : b, a < b ? b : a, (rnd() % 4 == 0) ? 2 : 0);
      break;
    }
    default:
      cr_assert_eq(cc_map_size(m), md->n);
      break;
  }
}

static void run_model_u64(cc_map_kind_t kind, cc_smr_kind_t sk, unsigned steps) {
  cc_smr_t *d = new_domain(sk);
  cc_map_t *m = new_map_or_skip(kind, CC_KEY_U64, d, NULL, NULL);
  if (!m) { cc_smr_free(d); return; }
  model_t md = {0};
  for (unsigned s = 0; s < steps; s++) model_step_u64(m, &md, s);
  check_range_u64(m, &md, 0, UINT64_MAX, 0);
  cr_assert_eq(cc_map_size(m), md.n);
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map, model_u64_every_kind_and_scheme) {
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) run_model_u64(kinds[k], schemes[s], 20000);
}

/* ------------------------------------------------------------------ sequential model, bytes */

#define MB 24
static unsigned char bkeys[MB][8];
static size_t blens[MB];

static void make_bkeys(void) {
  /* includes the empty key, prefixes of each other, NUL bytes and 0xff */
  static const char *const lit[] = {"", "a", "ab", "abc", "b", "ba", "\xff", "\xff\xff", "zz", "m"};
  unsigned n = 0;
  for (; n < sizeof lit / sizeof lit[0]; n++) {
    blens[n] = strlen(lit[n]);
    memcpy(bkeys[n], lit[n], blens[n]);
  }
  bkeys[n][0] = 0, blens[n++] = 1;
  bkeys[n][0] = 0, bkeys[n][1] = 0, blens[n++] = 2;
  bkeys[n][0] = 0, bkeys[n][1] = 1, blens[n++] = 2;
  for (; n < MB; n++) {
    blens[n] = 1 + n % 7;
    for (size_t j = 0; j < blens[n]; j++) bkeys[n][j] = (unsigned char)('c' + (n * 7 + j * 3) % 9);
  }
  /* distinct keys only */
  for (unsigned a = 0; a < MB; a++)
    for (unsigned b = 0; b < a; b++)
      if (blens[a] == blens[b] && !memcmp(bkeys[a], bkeys[b], blens[a])) blens[a] = 7, bkeys[a][6] = (unsigned char)a;
}

static int bcmp_keys(const void *a, size_t al, const void *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return (al > bl) - (al < bl);
}

struct bcollect {
  unsigned idx[MB + 2];
  void *vals[MB + 2];
  unsigned n;
};

static int collect_bytes(const void *key, size_t len, void *val, void *arg) {
  struct bcollect *c = arg;
  cr_assert_lt(c->n, MB + 1);
  unsigned i = 0;
  while (i < MB && !(blens[i] == len && (len == 0 || !memcmp(bkeys[i], key, len)))) i++;
  cr_assert_lt(i, MB, "range_bytes reported an unknown key");
  c->idx[c->n] = i;
  c->vals[c->n++] = val;
  return 0;
}

static void check_range_bytes(cc_map_t *m, const model_t *md, unsigned lo, unsigned hi) {
  struct bcollect c = {.n = 0};
  cr_assert_eq(cc_map_range_bytes(m, bkeys[lo], blens[lo], bkeys[hi], blens[hi], collect_bytes, &c), CC_OK);
  unsigned want = 0;
  for (unsigned i = 0; i < MB; i++) {
    if (!md->in[i]) continue;
    if (bcmp_keys(bkeys[i], blens[i], bkeys[lo], blens[lo]) < 0) continue;
    if (bcmp_keys(bkeys[i], blens[i], bkeys[hi], blens[hi]) > 0) continue;
    want++;
    bool seen = false;
    for (unsigned j = 0; j < c.n; j++)
      if (c.idx[j] == i) { seen = true; cr_assert_eq(c.vals[j], md->v[i]); }
    cr_assert(seen, "range_bytes missed key %u", i);
  }
  cr_assert_eq(c.n, want);
  for (unsigned j = 1; j < c.n; j++)
    cr_assert_lt(bcmp_keys(bkeys[c.idx[j - 1]], blens[c.idx[j - 1]], bkeys[c.idx[j]], blens[c.idx[j]]), 0,
                 "range_bytes out of order");
}

static void run_model_bytes(cc_map_kind_t kind, cc_smr_kind_t sk, unsigned steps) {
  cc_smr_t *d = new_domain(sk);
  cc_map_t *m = new_map_or_skip(kind, CC_KEY_BYTES, d, NULL, NULL);
  if (!m) { cc_smr_free(d); return; }
  model_t md = {0};
  for (unsigned s = 0; s < steps; s++) {
    unsigned i = (unsigned)(rnd() % MB);
    void *v = tok(s), *got = NULL, *old = NULL;
    int r;
    switch (rnd() % 6) {
      case 0:
        r = cc_map_insert_bytes(m, bkeys[i], blens[i], v);
        cr_assert_eq(r, md.in[i] ? CC_EXISTS : CC_OK);
        if (!md.in[i]) { md.in[i] = true; md.v[i] = v; md.n++; }
        break;
      case 1:
        r = cc_map_put_bytes(m, bkeys[i], blens[i], v, &old);
        cr_assert_eq(r, md.in[i] ? CC_EXISTS : CC_OK);
        if (md.in[i]) cr_assert_eq(old, md.v[i]);
        else md.n++;
        md.in[i] = true;
        md.v[i] = v;
        break;
      case 2:
        r = cc_map_get_bytes(m, bkeys[i], blens[i], &got);
        cr_assert_eq(r, md.in[i] ? CC_OK : CC_NOT_FOUND, "get_bytes key %u", i);
        if (md.in[i]) cr_assert_eq(got, md.v[i]);
        break;
      case 3:
        r = cc_map_remove_bytes(m, bkeys[i], blens[i], &got);
        cr_assert_eq(r, md.in[i] ? CC_OK : CC_NOT_FOUND);
        if (md.in[i]) { cr_assert_eq(got, md.v[i]); md.in[i] = false; md.n--; }
        break;
      case 4: {
        unsigned a = (unsigned)(rnd() % MB), b = (unsigned)(rnd() % MB);
        if (bcmp_keys(bkeys[a], blens[a], bkeys[b], blens[b]) > 0) { unsigned x = a; a = b; b = x; }
        check_range_bytes(m, &md, a, b);
        break;
      }
      default:
        cr_assert_eq(cc_map_size(m), md.n);
    }
  }
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map, model_bytes_every_kind_and_scheme) {
  make_bkeys();
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) run_model_bytes(kinds[k], schemes[s], 10000);
}

/* ------------------------------------------------------------------ concurrent key sums */

#define KS_THREADS 4
#define KS_RANGE 512
#define KS_OPS 40000

struct ks_ctx {
  cc_map_t *m;
  pthread_barrier_t go;
  int64_t sum[KS_THREADS];
  int64_t cnt[KS_THREADS];
  _Atomic int next_id;
};

static void *ks_worker(void *arg) {
  struct ks_ctx *c = arg;
  int id = atomic_fetch_add(&c->next_id, 1);
  uint64_t s = 0x1234567ull * (uint64_t)(id + 1);
  int64_t sum = 0, cnt = 0;
  pthread_barrier_wait(&c->go);
  for (int i = 0; i < KS_OPS; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint64_t k = 1 + (s >> 8) % KS_RANGE, fk;
    void *v;
    switch ((s >> 40) % 10) {
      case 0: case 1: case 2:
        if (cc_map_insert(c->m, k, tok(k)) == CC_OK) sum += (int64_t)k, cnt++;
        break;
      case 3:
        if (cc_map_put(c->m, k, tok(k), NULL) == CC_OK) sum += (int64_t)k, cnt++;
        break;
      case 4: case 5: case 6:
        if (cc_map_remove(c->m, k, &v) == CC_OK) {
          cr_assert_eq(v, tok(k));
          sum -= (int64_t)k, cnt--;
        }
        break;
      case 7:
        if (cc_map_pop_first(c->m, &fk, &v) == CC_OK) {
          cr_assert_eq(v, tok(fk));
          sum -= (int64_t)fk, cnt--;
        }
        break;
      case 8:
        if (cc_map_ceiling(c->m, k, &fk, &v) == CC_OK) cr_assert(fk >= k && v == tok(fk));
        if (cc_map_lower(c->m, k, &fk, &v) == CC_OK) cr_assert(fk < k && v == tok(fk));
        break;
      default:
        cc_map_replace(c->m, k, tok(k), tok(k));
        if (cc_map_get(c->m, k, &v) == CC_OK) cr_assert_eq(v, tok(k));
        break;
    }
  }
  c->sum[id] = sum;
  c->cnt[id] = cnt;
  return NULL;
}

struct sum_acc { int64_t sum, cnt; uint64_t last; };
static int sum_keys(uint64_t key, void *val, void *arg) {
  struct sum_acc *a = arg;
  cr_assert(a->cnt == 0 || key > a->last);
  cr_assert_eq(val, tok(key));
  a->sum += (int64_t)key, a->cnt++, a->last = key;
  return 0;
}

static void run_keysum(cc_map_kind_t kind, cc_smr_kind_t sk) {
  cc_smr_t *d = new_domain(sk);
  cc_map_t *m = new_map_or_skip(kind, CC_KEY_U64, d, NULL, NULL);
  if (!m) { cc_smr_free(d); return; }
  struct ks_ctx c = {.m = m};
  pthread_barrier_init(&c.go, NULL, KS_THREADS);
  pthread_t th[KS_THREADS];
  for (int i = 0; i < KS_THREADS; i++) pthread_create(&th[i], NULL, ks_worker, &c);
  for (int i = 0; i < KS_THREADS; i++) pthread_join(th[i], NULL);
  int64_t sum = 0, cnt = 0;
  for (int i = 0; i < KS_THREADS; i++) sum += c.sum[i], cnt += c.cnt[i];
  struct sum_acc a = {0, 0, 0};
  cr_assert_eq(cc_map_range(m, 0, UINT64_MAX, sum_keys, &a), CC_OK);
  cr_assert_eq(a.sum, sum, "%s/%s: key sum %lld, threads say %lld", kind_names[kind],
               cc_smr_kind_name(sk), (long long)a.sum, (long long)sum);
  cr_assert_eq(a.cnt, cnt);
  cr_assert_eq((int64_t)cc_map_size(m), cnt);
  pthread_barrier_destroy(&c.go);
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map, concurrent_key_sum_every_kind_and_scheme) {
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) run_keysum(kinds[k], schemes[s]);
}

/* ------------------------------------------------------------------ range under updates */

#define RU_KEYS 2000
struct ru_ctx {
  cc_map_t *m;
  _Atomic int stop;
  _Atomic int id;
};

static void *ru_updater(void *arg) {
  struct ru_ctx *c = arg;
  uint64_t s = 77 + (uint64_t)atomic_fetch_add(&c->id, 1);
  while (!atomic_load(&c->stop)) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint64_t k = 2 * ((s >> 4) % RU_KEYS) + 1; /* odd keys only */
    if (s & 1) cc_map_insert(c->m, k, tok(k));
    else cc_map_remove(c->m, k, NULL);
  }
  return NULL;
}

struct ru_scan { uint64_t last; unsigned n, evens; };
static int ru_visit(uint64_t key, void *val, void *arg) {
  struct ru_scan *a = arg;
  cr_assert(a->n == 0 || key > a->last, "range out of order or repeated: %llu after %llu",
            (unsigned long long)key, (unsigned long long)a->last);
  cr_assert_eq(val, tok(key));
  a->last = key;
  a->n++;
  if (key % 2 == 0) a->evens++;
  return 0;
}

static void run_range_updates(cc_map_kind_t kind, cc_smr_kind_t sk) {
  cc_smr_t *d = new_domain(sk);
  cc_map_t *m = new_map_or_skip(kind, CC_KEY_U64, d, NULL, NULL);
  if (!m) { cc_smr_free(d); return; }
  for (uint64_t k = 0; k < 2 * RU_KEYS; k += 2) cr_assert_eq(cc_map_insert(m, k, tok(k)), CC_OK);
  struct ru_ctx c = {.m = m};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, ru_updater, &c);
  for (int scan = 0; scan < 60; scan++) {
    struct ru_scan a = {0, 0, 0};
    cr_assert_eq(cc_map_range(m, 0, UINT64_MAX, ru_visit, &a), CC_OK);
    cr_assert_eq(a.evens, RU_KEYS, "a key present for the whole scan was missed");
  }
  atomic_store(&c.stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map, range_ordered_and_complete_under_updates) {
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) run_range_updates(kinds[k], schemes[s]);
}

/* ------------------------------------------------------------------ val_free */

#define VF_MAGIC 0x5eedf00dull
typedef struct { _Atomic uint64_t magic; uint64_t key; } vtok_t;
static _Atomic uint64_t vf_made, vf_freed_map, vf_freed_caller;

static vtok_t *vnew(uint64_t k) {
  vtok_t *t = malloc(sizeof *t);
  cr_assert_not_null(t);
  atomic_store(&t->magic, VF_MAGIC);
  t->key = k;
  atomic_fetch_add(&vf_made, 1);
  return t;
}

static void vdrop(vtok_t *t, _Atomic uint64_t *counter) {
  uint64_t was = atomic_exchange(&t->magic, 0);
  cr_assert_eq(was, VF_MAGIC, "value freed twice");
  free(t);
  atomic_fetch_add(counter, 1);
}

static void val_free_cb(void *v, void *ctx) {
  cr_assert_eq(ctx, (void *)&vf_made);
  vdrop(v, &vf_freed_map);
}

static void *vf_worker(void *arg) {
  cc_map_t *m = arg;
  uint64_t s = (uint64_t)(uintptr_t)&s | 1;
  for (int i = 0; i < 20000; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint64_t k = (s >> 5) % 64;
    vtok_t *t = vnew(k);
    void *old;
    switch ((s >> 50) % 5) {
      case 0:
        if (cc_map_insert(m, k, t) != CC_OK) vdrop(t, &vf_freed_caller);
        break;
      case 1: cc_map_put(m, k, t, &old); break;
      case 2:
        cc_map_remove(m, k, NULL);
        vdrop(t, &vf_freed_caller);
        break;
      case 3:
        if (cc_map_replace(m, k, (void *)1, t) != CC_OK) vdrop(t, &vf_freed_caller);
        break;
      default:
        cc_map_pop_first(m, NULL, NULL);
        vdrop(t, &vf_freed_caller);
        break;
    }
  }
  return NULL;
}

static void run_val_free(cc_map_kind_t kind, cc_smr_kind_t sk) {
  atomic_store(&vf_made, 0), atomic_store(&vf_freed_map, 0), atomic_store(&vf_freed_caller, 0);
  cc_smr_t *d = new_domain(sk);
  cc_map_t *m = new_map_or_skip(kind, CC_KEY_U64, d, val_free_cb, (void *)&vf_made);
  if (!m) { cc_smr_free(d); return; }
  /* replace with the current value as expected: exercise the success path */
  vtok_t *a = vnew(1), *b = vnew(1);
  cr_assert_eq(cc_map_insert(m, 1, a), CC_OK);
  cr_assert_eq(cc_map_replace(m, 1, a, b), CC_OK);
  pthread_t th[3];
  for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, vf_worker, m);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  cc_map_free(m);
  cc_smr_free(d);
  cr_assert_eq(atomic_load(&vf_freed_map) + atomic_load(&vf_freed_caller), atomic_load(&vf_made),
               "%s/%s: %llu values made, %llu freed by the map, %llu by the caller", kind_names[kind],
               cc_smr_kind_name(sk), (unsigned long long)vf_made, (unsigned long long)vf_freed_map,
               (unsigned long long)vf_freed_caller);
}

Test(map, val_free_called_once_per_value) {
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) run_val_free(kinds[k], schemes[s]);
}

/* ------------------------------------------------------------------ bad input */

static int never(uint64_t k, void *v, void *a) { (void)k, (void)v, (void)a; return 0; }
static int neverb(const void *k, size_t l, void *v, void *a) { (void)k, (void)l, (void)v, (void)a; return 0; }

static void run_bad_input(cc_map_kind_t kind) {
  cc_smr_t *d = new_domain(CC_SMR_IBR);
  cc_map_t *mu = new_map_or_skip(kind, CC_KEY_U64, d, NULL, NULL);
  if (!mu) { cc_smr_free(d); return; }
  cc_map_t *mb = new_map_or_skip(kind, CC_KEY_BYTES, d, NULL, NULL);
  void *v;
  uint64_t k;
  /* NULL map */
  cr_expect_eq(cc_map_insert(NULL, 1, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_put(NULL, 1, NULL, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_get(NULL, 1, &v), CC_EINVAL);
  cr_expect_eq(cc_map_remove(NULL, 1, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_replace(NULL, 1, NULL, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_floor(NULL, 1, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_ceiling(NULL, 1, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_lower(NULL, 1, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_higher(NULL, 1, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_first(NULL, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_last(NULL, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_pop_first(NULL, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_range(NULL, 0, 1, never, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_size(NULL), 0);
  cc_map_free(NULL);
  cr_expect_eq(cc_map_insert_bytes(NULL, "a", 1, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_get_bytes(NULL, "a", 1, &v), CC_EINVAL);
  cr_expect_eq(cc_map_range_bytes(NULL, "a", 1, "b", 1, neverb, NULL), CC_EINVAL);
  /* bad config */
  cr_expect_null(cc_map_new(&(cc_map_config_t){.kind = (cc_map_kind_t)7}));
  cr_expect_null(cc_map_new(&(cc_map_config_t){.key_kind = (cc_key_kind_t)7}));
  /* required out-pointer, NULL callbacks */
  cr_expect_eq(cc_map_get(mu, 1, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_range(mu, 0, 1, NULL, NULL), CC_EINVAL);
  /* optional out-pointers */
  cr_expect_eq(cc_map_insert(mu, 5, tok(5)), CC_OK);
  cr_expect_eq(cc_map_put(mu, 5, tok(6), NULL), CC_EXISTS);
  cr_expect_eq(cc_map_floor(mu, 9, NULL, NULL), CC_OK);
  cr_expect_eq(cc_map_first(mu, NULL, NULL), CC_OK);
  cr_expect_eq(cc_map_pop_first(mu, NULL, NULL), CC_OK);
  cr_expect_eq(cc_map_pop_first(mu, NULL, NULL), CC_EMPTY);
  cr_expect_eq(cc_map_first(mu, &k, &v), CC_EMPTY);
  cr_expect_eq(cc_map_last(mu, &k, &v), CC_EMPTY);
  cr_expect_eq(cc_map_ceiling(mu, 0, &k, &v), CC_NOT_FOUND);
  cr_expect_eq(cc_map_range(mu, 9, 1, never, NULL), CC_OK, "lo > hi is an empty range");
  /* wrong key kind, both ways */
  cr_expect_eq(cc_map_insert(mb, 1, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_get(mb, 1, &v), CC_EINVAL);
  cr_expect_eq(cc_map_pop_first(mb, &k, &v), CC_EINVAL);
  cr_expect_eq(cc_map_range(mb, 0, 1, never, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_insert_bytes(mu, "a", 1, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_remove_bytes(mu, "a", 1, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_range_bytes(mu, "a", 1, "b", 1, neverb, NULL), CC_EINVAL);
  cr_expect_eq(cc_map_insert_bytes(mb, NULL, 3, NULL), CC_EINVAL, "NULL key with a length");
  /* length-0 keys are valid, NULL or not */
  cr_expect_eq(cc_map_insert_bytes(mb, NULL, 0, tok(1)), CC_OK);
  cr_expect_eq(cc_map_insert_bytes(mb, "", 0, tok(2)), CC_EXISTS);
  cr_expect_eq(cc_map_get_bytes(mb, "x", 0, &v), CC_OK);
  cr_expect_eq(v, tok(1));
  cr_expect_eq(cc_map_insert_bytes(mb, "\0", 1, tok(3)), CC_OK, "\"\\0\" differs from \"\"");
  cr_expect_eq(cc_map_size(mb), 2);
  /* huge keys: CC_ENOMEM (the allocation fails before the key is read) */
  static const char small[8] = "huge";
  cr_expect_eq(cc_map_insert_bytes(mb, small, SIZE_MAX / 2 + 1, NULL), CC_ENOMEM);
  cr_expect_eq(cc_map_put_bytes(mb, small, (size_t)1 << 60, NULL, NULL), CC_ENOMEM);
  cr_expect_eq(cc_map_size(mb), 2);
  cr_expect_eq(cc_map_remove_bytes(mb, NULL, 0, &v), CC_OK);
  cr_expect_eq(cc_map_get_bytes(mb, "", 0, &v), CC_NOT_FOUND);
  cc_map_free(mu);
  cc_map_free(mb);
  cc_smr_free(d);
}

Test(map, bad_input_gives_status_never_crash) {
  for (int k = 0; k < NKINDS; k++) run_bad_input(kinds[k]);
}

Test(map, null_config_is_skiplist_u64_default_domain) {
  cc_map_t *m = cc_map_new(NULL);
  cr_assert_not_null(m);
  cr_expect_eq(cc_map_insert(m, 3, NULL), CC_OK);
  void *v = tok(1);
  cr_expect_eq(cc_map_get(m, 3, &v), CC_OK);
  cr_expect_null(v, "NULL values are allowed");
  cc_map_free(m);
}

/* ------------------------------------------------------------------ allocation failure */

static void run_alloc_failure(cc_map_kind_t kind, cc_smr_kind_t sk, cc_key_kind_t kk) {
  cc_alloc_stats_enable(true);
  cc_alloc_snapshot_t s0 = cc_alloc_stats_snapshot();
  cc_smr_t *d = new_domain(sk);
  cc_map_t *m = new_map_or_skip(kind, kk, d, NULL, NULL);
  if (!m) { cc_smr_free(d); return; }
  model_t md = {0};
  unsigned enomem = 0;
  for (unsigned every = 2; every < 9; every++) {
    cc__alloc_fail_every(every);
    for (unsigned s = 0; s < 3000; s++) {
      unsigned i = (unsigned)(rnd() % MK);
      uint64_t key = model_key(i);
      unsigned char kb[8];
      memcpy(kb, &key, 8);
      void *v = tok(s), *got;
      int r, op = (int)(rnd() % 5);
      if (kk == CC_KEY_BYTES && op > 2) op = op % 3;
      switch (op) {
        case 0:
          r = kk == CC_KEY_U64 ? cc_map_insert(m, key, v) : cc_map_insert_bytes(m, kb, 8, v);
          if (r == CC_ENOMEM) { enomem++; break; }
          cr_assert_eq(r, md.in[i] ? CC_EXISTS : CC_OK);
          if (!md.in[i]) { md.in[i] = true; md.v[i] = v; md.n++; }
          break;
        case 1:
          r = kk == CC_KEY_U64 ? cc_map_put(m, key, v, NULL) : cc_map_put_bytes(m, kb, 8, v, NULL);
          if (r == CC_ENOMEM) { enomem++; break; }
          cr_assert_eq(r, md.in[i] ? CC_EXISTS : CC_OK);
          if (!md.in[i]) md.n++;
          md.in[i] = true, md.v[i] = v;
          break;
        case 2:
          r = kk == CC_KEY_U64 ? cc_map_remove(m, key, NULL) : cc_map_remove_bytes(m, kb, 8, NULL);
          if (r == CC_ENOMEM) { enomem++; break; }
          cr_assert_eq(r, md.in[i] ? CC_OK : CC_NOT_FOUND);
          if (md.in[i]) md.in[i] = false, md.n--;
          break;
        case 3:
          r = cc_map_replace(m, key, md.v[i], v);
          if (r == CC_ENOMEM) { enomem++; break; }
          cr_assert_eq(r, md.in[i] ? CC_OK : CC_NOT_FOUND);
          if (md.in[i]) md.v[i] = v;
          break;
        default: {
          unsigned at = 0;
          int want = model_nav_(&md, 0, NAV_CEILING, &at);
          uint64_t fk;
          r = cc_map_pop_first(m, &fk, &got);
          if (r == CC_ENOMEM) { enomem++; break; }
          cr_assert_eq(r, want == CC_OK ? CC_OK : CC_EMPTY);
          if (want == CC_OK) { cr_assert_eq(fk, model_key(at)); md.in[at] = false; md.n--; }
        }
      }
      /* the map is unchanged by a failure: it still agrees with the model */
      cr_assert_eq(cc_map_size(m), md.n);
    }
  }
  cc__alloc_fail_every(0);
  cr_assert_gt(enomem, 0, "fault injection never hit");
  for (unsigned i = 0; i < MK; i++) {
    uint64_t key = model_key(i);
    void *got;
    int r = kk == CC_KEY_U64 ? cc_map_get(m, key, &got) : cc_map_get_bytes(m, &key, 8, &got);
    cr_assert_eq(r, md.in[i] ? CC_OK : CC_NOT_FOUND);
    if (md.in[i]) cr_assert_eq(got, md.v[i]);
  }
  cc_map_free(m);
  cc_smr_free(d);
  cc_alloc_snapshot_t s1 = cc_alloc_stats_snapshot();
  cr_assert_eq(s1.current_allocated, s0.current_allocated, "%s/%s: %lld bytes leaked",
               kind_names[kind], cc_smr_kind_name(sk),
               (long long)(s1.current_allocated - s0.current_allocated));
}

Test(map, allocation_failure_leaves_map_unchanged_and_leaks_nothing) {
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) {
      run_alloc_failure(kinds[k], schemes[s], CC_KEY_U64);
      run_alloc_failure(kinds[k], schemes[s], CC_KEY_BYTES);
    }
}

/* pop_first reports only CC_OK or CC_EMPTY, also when allocations fail
 * while several threads pop and insert at once (its descriptors come from
 * spares; without one it waits for a spare or for memory). */
struct pf_ctx { cc_map_t *m; _Atomic int bad, popped; };

static void *pf_worker(void *arg) {
  struct pf_ctx *c = arg;
  uint64_t s = (uint64_t)(uintptr_t)&s | 1;
  for (int i = 0; i < 3000; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    if (s & 1) {
      cc_map_insert(c->m, (s >> 8) % 4096, NULL); /* may fail with CC_ENOMEM: fine */
    } else {
      int r = cc_map_pop_first(c->m, NULL, NULL);
      if (r == CC_OK) atomic_fetch_add(&c->popped, 1);
      else if (r != CC_EMPTY) atomic_fetch_add(&c->bad, 1);
    }
  }
  return NULL;
}

static void run_pop_under_failure(cc_map_kind_t kind, cc_smr_kind_t sk) {
  cc_smr_t *d = new_domain(sk);
  cc_map_t *m = new_map_or_skip(kind, CC_KEY_U64, d, NULL, NULL);
  if (!m) { cc_smr_free(d); return; }
  for (uint64_t k = 0; k < 200; k++) cr_assert_eq(cc_map_insert(m, k, NULL), CC_OK);
  struct pf_ctx c = {.m = m};
  cc__alloc_fail_every(3);
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, pf_worker, &c);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  cc__alloc_fail_every(0);
  cr_assert_eq(atomic_load(&c.bad), 0, "%s/%s: pop_first returned neither CC_OK nor CC_EMPTY %d times",
               kind_names[kind], cc_smr_kind_name(sk), atomic_load(&c.bad));
  /* every prefilled key is popped (inserts may all fail: the BST needs up
   * to three blocks per insert, one in three allocations fails here) */
  cr_assert_geq(atomic_load(&c.popped), 200, "%s/%s: only %d pops", kind_names[kind],
                cc_smr_kind_name(sk), atomic_load(&c.popped));
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map, pop_first_never_enomem_under_concurrent_allocation_failure) {
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) run_pop_under_failure(kinds[k], schemes[s]);
}
