/* cc_map: the public API. Validates arguments and key kinds, then makes one
 * indirect call into the kind x scheme instantiation picked at creation. */
#include <stdlib.h>
#include <string.h>

#include "ccoll/alloc.h"
#include "containers/map_internal.h"

static const cc__map_ops_t *map_ops_for(cc_map_kind_t kind, cc_smr_kind_t smr) {
  static const cc__map_ops_t *const table[2][5] = {
    [CC_MAP_SKIPLIST] = {
      [CC_SMR_NONE] = &cc__skiplist_none_ops, [CC_SMR_DEBRA] = &cc__skiplist_debra_ops,
      [CC_SMR_DEBRA_PLUS] = &cc__skiplist_debrap_ops, [CC_SMR_IBR] = &cc__skiplist_ibr_ops },
    [CC_MAP_BST] = {
      [CC_SMR_NONE] = &cc__bst_none_ops, [CC_SMR_DEBRA] = &cc__bst_debra_ops,
      [CC_SMR_DEBRA_PLUS] = &cc__bst_debrap_ops, [CC_SMR_IBR] = &cc__bst_ibr_ops },
  };
  if ((unsigned)kind > CC_MAP_BST || smr <= CC_SMR_DEFAULT || smr > CC_SMR_IBR) return NULL;
  return table[kind][smr];
}

cc_map_t *cc_map_new(const cc_map_config_t *cfg) {
  cc_map_config_t def = {0};
  if (!cfg) cfg = &def;
  if ((unsigned)cfg->kind > CC_MAP_BST || (unsigned)cfg->key_kind > CC_KEY_BYTES) return NULL;
  cc_smr_t *smr = cfg->smr ? cfg->smr : cc_smr_default();
  if (!smr) return NULL;
  cc_smr_kind_t sk = cc_smr_kind(smr);
  const cc__map_ops_t *ops = map_ops_for(cfg->kind, sk);
  if (!ops) return NULL;
  cc_map_t *m = cc_alloc_aligned(sizeof *m, CC__LINE);
  if (!m) return NULL;
  memset(m, 0, sizeof *m);
  m->ops = ops;
  m->smr = smr;
  m->smr_kind = sk;
  m->kind = cfg->kind;
  m->key_kind = cfg->key_kind;
  m->val_free = cfg->val_free;
  m->val_ctx = cfg->val_ctx;
  if (ops->init(m) != CC_OK) {
    cc_free(m, sizeof *m);
    return NULL;
  }
  return m;
}

void cc_map_free(cc_map_t *m) {
  if (!m) return;
  m->ops->destroy(m);
  cc_free(m, sizeof *m);
}

/* ------------------------------------------------------------------ size */

/* Threads take stripes round robin on first use: neighbours in time land on
 * different lines, and a thread always returns to the same one. */
static unsigned map_stripe(void) {
  static cc_atomic(unsigned) next;
  static cc_thread_local unsigned mine;  /* stripe + 1; 0 = not chosen yet */
  if (cc_unlikely(mine == 0))
    mine = cc_atomic_fetch_add_relaxed(&next, 1) % CC__MAP_STRIPES + 1;
  return mine - 1;
}

void cc__map_count_add(cc_map_t *m, int64_t delta) {
  /* relaxed: the size is a statistic, exact only once updates have stopped
   * (and then the joins that stopped them order these adds). */
  cc_atomic_fetch_add_relaxed(&m->count[map_stripe()].n, delta);
}

size_t cc_map_size(const cc_map_t *m) {
  if (!m) return 0;
  int64_t n = 0;
  for (unsigned i = 0; i < CC__MAP_STRIPES; i++)
    n += cc_atomic_load_relaxed(&((cc_map_t *)m)->count[i].n);
  return n > 0 ? (size_t)n : 0;
}

/* ------------------------------------------------------------------ u64 API */

#define U64_MAP_OR_EINVAL(m) \
  do { if (!(m) || (m)->key_kind != CC_KEY_U64) return CC_EINVAL; } while (0)

int cc_map_insert(cc_map_t *m, uint64_t key, void *val) {
  U64_MAP_OR_EINVAL(m);
  cc__mkey_t k = {.u = key};
  return m->ops->insert(m, &k, val, false, NULL);
}

int cc_map_put(cc_map_t *m, uint64_t key, void *val, void **old) {
  U64_MAP_OR_EINVAL(m);
  cc__mkey_t k = {.u = key};
  return m->ops->insert(m, &k, val, true, old);
}

int cc_map_get(cc_map_t *m, uint64_t key, void **val) {
  U64_MAP_OR_EINVAL(m);
  if (!val) return CC_EINVAL;
  cc__mkey_t k = {.u = key};
  return m->ops->get(m, &k, val);
}

int cc_map_remove(cc_map_t *m, uint64_t key, void **val) {
  U64_MAP_OR_EINVAL(m);
  cc__mkey_t k = {.u = key};
  return m->ops->remove(m, &k, val);
}

int cc_map_replace(cc_map_t *m, uint64_t key, void *expected, void *desired) {
  U64_MAP_OR_EINVAL(m);
  cc__mkey_t k = {.u = key};
  return m->ops->replace(m, &k, expected, desired);
}

static int map_nav(cc_map_t *m, uint64_t key, cc__nav_t dir, uint64_t *found, void **val) {
  U64_MAP_OR_EINVAL(m);
  return m->ops->nav(m, key, dir, found, val);
}

int cc_map_floor(cc_map_t *m, uint64_t key, uint64_t *found, void **val) {
  return map_nav(m, key, CC__NAV_FLOOR, found, val);
}
int cc_map_ceiling(cc_map_t *m, uint64_t key, uint64_t *found, void **val) {
  return map_nav(m, key, CC__NAV_CEILING, found, val);
}
int cc_map_lower(cc_map_t *m, uint64_t key, uint64_t *found, void **val) {
  return map_nav(m, key, CC__NAV_LOWER, found, val);
}
int cc_map_higher(cc_map_t *m, uint64_t key, uint64_t *found, void **val) {
  return map_nav(m, key, CC__NAV_HIGHER, found, val);
}

int cc_map_first(cc_map_t *m, uint64_t *key, void **val) {
  U64_MAP_OR_EINVAL(m);
  return m->ops->first(m, false, key, val);
}

int cc_map_last(cc_map_t *m, uint64_t *key, void **val) {
  U64_MAP_OR_EINVAL(m);
  return m->ops->first(m, true, key, val);
}

int cc_map_pop_first(cc_map_t *m, uint64_t *key, void **val) {
  U64_MAP_OR_EINVAL(m);
  return m->ops->pop_first(m, key, val);
}

struct u64_visit { int (*fn)(uint64_t, void *, void *); void *arg; };

static int visit_u64(const cc__mkey_t *k, void *val, void *arg) {
  struct u64_visit *v = arg;
  return v->fn(k->u, val, v->arg);
}

int cc_map_range(cc_map_t *m, uint64_t lo, uint64_t hi,
                 int (*fn)(uint64_t key, void *val, void *arg), void *arg) {
  U64_MAP_OR_EINVAL(m);
  if (!fn) return CC_EINVAL;
  if (lo > hi) return CC_OK;
  cc__mkey_t klo = {.u = lo}, khi = {.u = hi};
  struct u64_visit v = {fn, arg};
  return m->ops->range(m, &klo, &khi, visit_u64, &v);
}

/* ------------------------------------------------------------------ bytes API */

/* A bytes call needs a bytes map and a readable key (NULL only when empty). */
#define BYTES_KEY_OR_EINVAL(m, key, len) \
  do { \
    if (!(m) || (m)->key_kind != CC_KEY_BYTES || (!(key) && (len))) return CC_EINVAL; \
  } while (0)

int cc_map_insert_bytes(cc_map_t *m, const void *key, size_t len, void *val) {
  BYTES_KEY_OR_EINVAL(m, key, len);
  cc__mkey_t k = {.p = key, .len = len};
  return m->ops->insert(m, &k, val, false, NULL);
}

int cc_map_put_bytes(cc_map_t *m, const void *key, size_t len, void *val, void **old) {
  BYTES_KEY_OR_EINVAL(m, key, len);
  cc__mkey_t k = {.p = key, .len = len};
  return m->ops->insert(m, &k, val, true, old);
}

int cc_map_get_bytes(cc_map_t *m, const void *key, size_t len, void **val) {
  BYTES_KEY_OR_EINVAL(m, key, len);
  if (!val) return CC_EINVAL;
  cc__mkey_t k = {.p = key, .len = len};
  return m->ops->get(m, &k, val);
}

int cc_map_remove_bytes(cc_map_t *m, const void *key, size_t len, void **val) {
  BYTES_KEY_OR_EINVAL(m, key, len);
  cc__mkey_t k = {.p = key, .len = len};
  return m->ops->remove(m, &k, val);
}

struct bytes_visit { int (*fn)(const void *, size_t, void *, void *); void *arg; };

static int visit_bytes(const cc__mkey_t *k, void *val, void *arg) {
  struct bytes_visit *v = arg;
  return v->fn(k->p, k->len, val, v->arg);
}

int cc_map_range_bytes(cc_map_t *m, const void *lo, size_t lo_len, const void *hi, size_t hi_len,
                       int (*fn)(const void *key, size_t len, void *val, void *arg), void *arg) {
  BYTES_KEY_OR_EINVAL(m, lo, lo_len);
  if ((!hi && hi_len) || !fn) return CC_EINVAL;
  cc__mkey_t klo = {.p = lo, .len = lo_len}, khi = {.p = hi, .len = hi_len};
  if (cc__map_key_cmp(m, &klo, &khi) > 0) return CC_OK;
  struct bytes_visit v = {fn, arg};
  return m->ops->range(m, &klo, &khi, visit_bytes, &v);
}
