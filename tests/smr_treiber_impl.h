/* One instantiation of the Treiber stack for scheme TS_S (see smr_treiber.h). */
#define TS_FN(name) CC__SMR_XCAT3(ts_, TS_S, _##name)

/* A push is no operation of the scheme (no begin/end, as liburcu's
 * cds_lfs_push takes no read-side lock): it dereferences no shared node,
 * only compares the top, and a top freed, reused and pushed again between
 * its load and the CAS is the top all the same (no ABA). Allocating
 * outside an operation is what every scheme expects (IBR dates the node
 * then). Every scheme's push skips it alike. */
static int TS_FN(push)(ts_stack_t *s, cc__smr_thr_t *t, uint64_t val) {
  ts_node_t *n = CC__SMR(TS_S, alloc)(t, sizeof *n);
  if (n == NULL) return CC_ENOMEM;
  n->val = val;
  uintptr_t top = cc_atomic_load_relaxed(&s->top); /* only compared */
  /* release: publishes the node's value, next and header (IBR's birth) */
  do cc_atomic_store_relaxed(&n->next, top);
  while (!cc_atomic_cas_strong_release(&s->top, &top, (uintptr_t)n));
  return CC_OK;
}

static int TS_FN(pop)(ts_stack_t *s, cc__smr_thr_t *t, uint64_t *val) {
  CC__SMR(TS_S, begin)(t);
  for (;;) {
    CC__SMR_READ_PHASE(TS_S, t);
    uintptr_t top = CC__SMR(TS_S, read)(t, &s->top);
    if (top == 0) {
      CC__SMR(TS_S, write_phase)(t);
      CC__SMR(TS_S, end)(t);
      return CC_EMPTY;
    }
    ts_node_t *n = (ts_node_t *)top;
    /* the successor is only compared, never followed: no protection */
    uintptr_t next = cc_atomic_load_acquire(&n->next);
    CC__SMR(TS_S, protect)(t, 0, n);
    CC__SMR(TS_S, write_phase)(t);
    if (cc_atomic_cas_strong_acq_rel(&s->top, &top, next)) {
      *val = n->val; /* protected: still ours to read */
      CC__SMR(TS_S, retire)(t, n);
      CC__SMR(TS_S, end)(t);
      return CC_OK;
    }
  }
}

#undef TS_FN
