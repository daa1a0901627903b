/* Internal: the contract between map.c (public API, argument checks, key
 * copying, size counters) and the map kinds (skiplist_impl.h, bst_impl.h),
 * each instantiated once per reclamation scheme. Never installed.
 *
 * map.c validates every argument and key kind, then makes exactly one
 * indirect call through m->ops. An impl never sees a NULL map, and sees a
 * key whose kind matches m->key_kind.
 *
 * Keys: an impl stores a u64 key inline and copies a bytes key into its
 * node (allocated before the operation's read phase, freed with the node).
 * Order: cc__map_key_cmp. Out-pointers passed to the ops may be NULL (the
 * caller does not want that output). */
#ifndef CCOLL_MAP_INTERNAL_H
#define CCOLL_MAP_INTERNAL_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atomic.h"
#include "compiler.h"
#include "ccoll/map.h"
#include "ccoll/status.h"
#include "smr/smr_internal.h"

/* A hint that the line at p will be read soon, so that its miss overlaps
 * the one the traversal is waiting on. Only ever given addresses read
 * from links: a prefetch never faults, even on memory freed meanwhile, and
 * nothing reached this way is dereferenced without the scheme's protected
 * read. CC__MAP_NO_PREFETCH turns it off (A/B measurements). */
#if defined(CC__MAP_NO_PREFETCH)
#define CC__MAP_PREFETCH(p) ((void)(p))
#else
#define CC__MAP_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#endif

/* A key as passed in: u64, or bytes (p, len). */
typedef struct {
  uint64_t u;
  const void *p;
  size_t len;
} cc__mkey_t;

/* Navigation directions for ops->nav. */
typedef enum { CC__NAV_FLOOR, CC__NAV_CEILING, CC__NAV_LOWER, CC__NAV_HIGHER } cc__nav_t;

/* Range callback adapter: the impl calls it with the stored key. */
typedef int (*cc__map_visit_fn)(const cc__mkey_t *key, void *val, void *arg);

typedef struct cc__map_ops {
  /* put: replace when present (*old receives the old value, CC_EXISTS);
   * else insert (CC_OK). !put: CC_EXISTS without change when present. */
  int  (*insert)(cc_map_t *m, const cc__mkey_t *k, void *val, bool put, void **old);
  int  (*get)(cc_map_t *m, const cc__mkey_t *k, void **val);
  int  (*remove)(cc_map_t *m, const cc__mkey_t *k, void **val);
  int  (*replace)(cc_map_t *m, const cc__mkey_t *k, void *expected, void *desired);
  int  (*nav)(cc_map_t *m, uint64_t key, cc__nav_t dir, uint64_t *found, void **val);
  int  (*first)(cc_map_t *m, bool last, uint64_t *key, void **val);
  int  (*pop_first)(cc_map_t *m, uint64_t *key, void **val);
  int  (*range)(cc_map_t *m, const cc__mkey_t *lo, const cc__mkey_t *hi,
                cc__map_visit_fn fn, void *arg);
  /* Creation of the impl's sentinels; CC_OK or CC_ENOMEM. */
  int  (*init)(cc_map_t *m);
  /* Frees every node, key and (with val_free) value; single-threaded. */
  void (*destroy)(cc_map_t *m);
} cc__map_ops_t;

/* Striped size counter: a thread adds to its stripe (chosen by thread), the
 * size sums the stripes. No single hot line. */
#define CC__MAP_STRIPES 16
typedef struct {
  cc_cache_aligned cc_atomic(int64_t) n;
} cc__map_stripe_t;

struct cc_map {
  const cc__map_ops_t *ops;
  cc_smr_t *smr;
  cc_smr_kind_t smr_kind;
  cc_map_kind_t kind;
  cc_key_kind_t key_kind;
  void (*val_free)(void *val, void *ctx);
  void *val_ctx;
  void *impl; /* the kind's root/head, owned by the impl */
  cc__map_stripe_t count[CC__MAP_STRIPES];
};

/* -1, 0, 1: u64 by value; bytes by memcmp then length. */
static inline int cc__map_key_cmp(const cc_map_t *m, const cc__mkey_t *a, const cc__mkey_t *b) {
  if (cc_likely(m->key_kind == CC_KEY_U64)) return (a->u > b->u) - (a->u < b->u);
  size_t n = a->len < b->len ? a->len : b->len;
  int c = n ? memcmp(a->p, b->p, n) : 0;
  if (c) return (c > 0) - (c < 0);
  return (a->len > b->len) - (a->len < b->len);
}

/* Size accounting: +1 on insert, -1 on remove, by the linearizing thread. */
void cc__map_count_add(cc_map_t *m, int64_t delta);

/* Values the map owns (m->val_free set) are handed to the domain by the
 * impl after the unlinking/replacing CAS:
 *     if (m->val_free) CC__SMR(S, retire_fn)(t, val, m->val_free, m->val_ctx);
 * so val_free runs once, when no reader can still see the value. Bytes keys
 * live inside their node (one block), so a retired node needs no callback. */

/* An update (or a BST navigation, which may help a removal along) calls
 * this with CC__SMR(S, reserve) before anything else, so that whatever it
 * retires needs no allocation: false, the call returns CC_ENOMEM with the
 * map unchanged. pop_first (wait) waits for memory instead: it reports
 * only CC_OK or CC_EMPTY (doc/map.md), as for its descriptors. */
static inline bool cc__map_reserve(const cc_map_t *m, cc__smr_thr_t *t,
                                   bool (*reserve)(cc__smr_thr_t *, bool), bool wait) {
  while (!reserve(t, m->val_free != NULL)) {
    if (!wait) return false;
    sched_yield();
  }
  return true;
}

/* Tests: every search hint of a skip-list map set to an arbitrary value
 * (none may change an answer); quiescent map only. No-op for other kinds. */
void cc__skiplist_scramble_hints(cc_map_t *m, uint64_t seed);
/* Tests: the levels a skip-list map's searches start from (0 for other kinds). */
unsigned cc__skiplist_top(const cc_map_t *m);

/* Ops tables, one per kind x scheme (defined by the impls). */
#define CC__MAP_DECLARE_OPS(kind)                 \
  extern const cc__map_ops_t cc__##kind##_none_ops;  \
  extern const cc__map_ops_t cc__##kind##_debra_ops; \
  extern const cc__map_ops_t cc__##kind##_debrap_ops;\
  extern const cc__map_ops_t cc__##kind##_ibr_ops;
CC__MAP_DECLARE_OPS(skiplist)
CC__MAP_DECLARE_OPS(bst)

#endif /* CCOLL_MAP_INTERNAL_H */
