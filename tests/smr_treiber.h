/* A Treiber stack written once against the SMR contract (smr_internal.h)
 * and instantiated for every scheme: each instantiation calls the scheme's
 * static inline functions only, and the ops table is chosen once, from the
 * domain's kind. Used by tests/test_smr.c, stress/smr_stress.c and
 * bench/smr.c. */
#ifndef CCOLL_SMR_TREIBER_H
#define CCOLL_SMR_TREIBER_H

#include "ccoll/status.h"
#include "smr/smr_internal.h"

typedef struct ts_node {
  cc__smr_hdr_t hdr;
  cc_atomic(uintptr_t) next;
  uint64_t val;
} ts_node_t;

typedef struct {
  cc_atomic(uintptr_t) top cc_cache_aligned;
  cc_smr_t *smr;
} ts_stack_t;

typedef struct {
  int (*push)(ts_stack_t *s, cc__smr_thr_t *t, uint64_t val);
  int (*pop)(ts_stack_t *s, cc__smr_thr_t *t, uint64_t *val);
} ts_ops_t;

#define TS_S none
#include "smr_treiber_impl.h"
#undef TS_S
#define TS_S debra
#include "smr_treiber_impl.h"
#undef TS_S
#define TS_S debrap
#include "smr_treiber_impl.h"
#undef TS_S
#define TS_S ibr
#include "smr_treiber_impl.h"
#undef TS_S

static inline const ts_ops_t *ts_ops(cc_smr_kind_t kind) {
  static const ts_ops_t ops[] = {
      [CC_SMR_NONE] = {ts_none_push, ts_none_pop},
      [CC_SMR_DEBRA] = {ts_debra_push, ts_debra_pop},
      [CC_SMR_DEBRA_PLUS] = {ts_debrap_push, ts_debrap_pop},
      [CC_SMR_IBR] = {ts_ibr_push, ts_ibr_pop},
  };
  return &ops[kind == CC_SMR_DEFAULT ? CC_SMR_IBR : kind];
}

static inline void ts_init(ts_stack_t *s, cc_smr_t *smr) {
  cc_atomic_store_relaxed(&s->top, 0);
  s->smr = smr;
}

/* Not concurrent with anything: frees what is left. Returns how many. */
static inline size_t ts_destroy(ts_stack_t *s) {
  size_t n = 0;
  cc__smr_thr_t *t = cc__smr_thr(s->smr);
  uintptr_t p = cc_atomic_load_relaxed(&s->top);
  while (p != 0) {
    ts_node_t *node = (ts_node_t *)p;
    p = cc_atomic_load_relaxed(&node->next);
    cc__smr_ibr_dealloc(t, node); /* every scheme's dealloc frees at once */
    n++;
  }
  cc_atomic_store_relaxed(&s->top, 0);
  return n;
}

#endif /* CCOLL_SMR_TREIBER_H */
