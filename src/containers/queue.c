/* Public queue API: argument checks, kind and scheme selection, and the
 * instantiation of each queue kind once per reclamation scheme. Every
 * operation is one indirect call through q->ops; inside it, the scheme's
 * reclamation calls are static inline. */
#include <stdint.h>

#include "ccoll/alloc.h"
#include "containers/queue_internal.h"

#define CC__QUEUE_IMPL "containers/msqueue_impl.h"
#include "containers/queue_schemes.h"
#undef CC__QUEUE_IMPL
#define CC__QUEUE_IMPL "containers/segqueue_impl.h"
#include "containers/queue_schemes.h"
#undef CC__QUEUE_IMPL

enum { OPS_MS, OPS_SEGMENT, OPS_SEGMENT_TINY };

static const cc__queue_ops_t *queue_ops(int k, cc_smr_kind_t smr) {
  static const cc__queue_ops_t *const table[3][4] = {
    {&cc__msq_none_ops, &cc__msq_debra_ops, &cc__msq_debrap_ops, &cc__msq_ibr_ops},
    {&cc__segq_none_ops, &cc__segq_debra_ops, &cc__segq_debrap_ops, &cc__segq_ibr_ops},
    {&cc__segq_tiny_none_ops, &cc__segq_tiny_debra_ops, &cc__segq_tiny_debrap_ops,
     &cc__segq_tiny_ibr_ops},
  };
  switch (smr) {
  case CC_SMR_NONE: return table[k][0];
  case CC_SMR_DEBRA: return table[k][1];
  case CC_SMR_DEBRA_PLUS: return table[k][2];
  case CC_SMR_IBR: return table[k][3];
  default: return NULL;
  }
}

static cc_queue_t *queue_new(const cc_queue_config_t *cfg, cc_queue_kind_t kind, int table) {
  cc_smr_t *smr = cfg && cfg->smr ? cfg->smr : cc_smr_default();
  if (!smr) return NULL;
  cc_smr_kind_t sk = cc_smr_kind(smr);
  const cc__queue_ops_t *ops = queue_ops(table, sk);
  if (!ops) return NULL;

  cc_queue_t *q = cc_alloc_aligned(sizeof *q, CC__QUEUE_SPREAD);
  if (!q) return NULL;
  q->ops = ops;
  q->smr = smr;
  q->smr_kind = sk;
  q->kind = kind;
  cc_atomic_store_relaxed(&q->look_first, 0u);
  if (ops->init(q) != CC_OK) {
    cc_free(q, sizeof *q);
    return NULL;
  }
  return q;
}

cc_queue_t *cc_queue_new(const cc_queue_config_t *cfg) {
  cc_queue_kind_t kind = cfg ? cfg->kind : CC_QUEUE_DEFAULT;
  if (kind == CC_QUEUE_DEFAULT) kind = CC_QUEUE_SEGMENT;
  if (kind != CC_QUEUE_MS && kind != CC_QUEUE_SEGMENT) return NULL;
  return queue_new(cfg, kind, kind == CC_QUEUE_MS ? OPS_MS : OPS_SEGMENT);
}

cc_queue_t *cc__queue_new_tiny_segments(const cc_queue_config_t *cfg) {
  return queue_new(cfg, CC_QUEUE_SEGMENT, OPS_SEGMENT_TINY);
}

void cc_queue_free(cc_queue_t *q) {
  if (!q) return;
  q->ops->destroy(q);
  cc_free(q, sizeof *q);
}

int cc_queue_enqueue(cc_queue_t *q, void *val) {
  if (cc_unlikely(!q)) return CC_EINVAL;
  return q->ops->enqueue(q, val);
}

int cc_queue_dequeue(cc_queue_t *q, void **val) {
  if (cc_unlikely(!q || !val)) return CC_EINVAL;
  return q->ops->dequeue(q, val);
}

size_t cc_queue_size(const cc_queue_t *q) {
  if (cc_unlikely(!q)) return 0;
  return q->ops->size(q);
}
