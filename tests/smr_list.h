/* A Harris-Michael sorted linked-list set of u64 keys written once against
 * the SMR contract (smr_internal.h) and instantiated for every scheme, as
 * smr_treiber.h is for the stack. A node is removed by marking the low bit
 * of its next word, then unlinked by a CAS on its predecessor. Traversals
 * follow Michael: a marked node met on the way is unlinked (and retired by
 * whoever unlinked it) before anything goes past it, so no traversal steps
 * from an unlinked node, which is what IBR needs. Used by tests/test_smr.c
 * and bench/smr.c. */
#ifndef CCOLL_SMR_LIST_H
#define CCOLL_SMR_LIST_H

#include <stdbool.h>

#include "ccoll/status.h"
#include "smr/smr_internal.h"

typedef struct sl_node {
  cc__smr_hdr_t hdr;
  cc_atomic(uintptr_t) next; /* bit 0: this node is removed */
  uint64_t key;
} sl_node_t;

typedef struct {
  cc_atomic(uintptr_t) head cc_cache_aligned;
  cc_smr_t *smr;
} sl_list_t;

typedef struct {
  /* CC_OK, CC_EXISTS (insert) or CC_NOT_FOUND (remove); CC_ENOMEM */
  int (*insert)(sl_list_t *l, cc__smr_thr_t *t, uint64_t key);
  int (*remove)(sl_list_t *l, cc__smr_thr_t *t, uint64_t key);
} sl_ops_t;

#define SL_MARK ((uintptr_t)1)

/* What the search found: the link to CAS and the first node >= key. */
typedef struct {
  cc_atomic(uintptr_t) *link;
  sl_node_t *pred; /* owner of link, NULL for the head */
  sl_node_t *curr; /* NULL at the end */
} sl_pos_t;

enum { SL_ABSENT, SL_FOUND, SL_RETRY };

#define SL_S none
#include "smr_list_impl.h"
#undef SL_S
#define SL_S debra
#include "smr_list_impl.h"
#undef SL_S
#define SL_S debrap
#include "smr_list_impl.h"
#undef SL_S
#define SL_S ibr
#include "smr_list_impl.h"
#undef SL_S

static inline const sl_ops_t *sl_ops(cc_smr_kind_t kind) {
  static const sl_ops_t ops[] = {
      [CC_SMR_NONE] = {sl_none_insert, sl_none_remove},
      [CC_SMR_DEBRA] = {sl_debra_insert, sl_debra_remove},
      [CC_SMR_DEBRA_PLUS] = {sl_debrap_insert, sl_debrap_remove},
      [CC_SMR_IBR] = {sl_ibr_insert, sl_ibr_remove},
  };
  return &ops[kind == CC_SMR_DEFAULT ? CC_SMR_IBR : kind];
}

static inline void sl_init(sl_list_t *l, cc_smr_t *smr) {
  cc_atomic_store_relaxed(&l->head, 0);
  l->smr = smr;
}

/* Not concurrent with anything: the sum of the keys present (unmarked
 * nodes), in ascending order or *sorted set false. */
static inline uint64_t sl_sum(sl_list_t *l, size_t *count, bool *sorted) {
  uint64_t sum = 0, last = 0;
  size_t n = 0;
  *sorted = true;
  for (uintptr_t p = cc_atomic_load_relaxed(&l->head); p != 0;) {
    sl_node_t *node = (sl_node_t *)(p & ~SL_MARK);
    p = cc_atomic_load_relaxed(&node->next);
    if (p & SL_MARK) continue;
    if (n != 0 && node->key <= last) *sorted = false;
    last = node->key;
    sum += node->key;
    n++;
  }
  *count = n;
  return sum;
}

/* Not concurrent with anything: frees every node still linked (marked ones
 * too). Returns how many. */
static inline size_t sl_destroy(sl_list_t *l) {
  size_t n = 0;
  cc__smr_thr_t *t = cc__smr_thr(l->smr);
  uintptr_t p = cc_atomic_load_relaxed(&l->head);
  while (p != 0) {
    sl_node_t *node = (sl_node_t *)(p & ~SL_MARK);
    p = cc_atomic_load_relaxed(&node->next);
    cc__smr_ibr_dealloc(t, node); /* every scheme's dealloc frees at once */
    n++;
  }
  cc_atomic_store_relaxed(&l->head, 0);
  return n;
}

#endif /* CCOLL_SMR_LIST_H */
