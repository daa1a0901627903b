/* One instantiation of the sorted list set for scheme SL_S (see smr_list.h). */
#define SL_FN(name) CC__SMR_XCAT3(sl_, SL_S, _##name)

/* Ends the read phase: both nodes an update's CAS touches are protected
 * first. curr too, though an insert only compares it: a neutralised
 * DEBRA+ write phase could otherwise see it freed, reused and linked
 * behind pred again, and the CAS would succeed out of order (ABA). */
static inline void SL_FN(write_at)(cc__smr_thr_t *t, sl_node_t *pred, sl_node_t *curr) {
  CC__SMR(SL_S, protect)(t, 0, pred);
  CC__SMR(SL_S, protect)(t, 1, curr);
  CC__SMR(SL_S, write_phase)(t);
}

/* Unlinks c, found marked behind link (owned by pred), and retires it if
 * this thread's CAS did the unlink. Ends the read phase: the caller starts
 * a new one from the head. */
static void SL_FN(unlink)(cc__smr_thr_t *t, cc_atomic(uintptr_t) *link, sl_node_t *pred, sl_node_t *c,
                          uintptr_t next) {
  SL_FN(write_at)(t, pred, c);
  uintptr_t expect = (uintptr_t)c;
  if (cc_atomic_cas_strong_acq_rel(link, &expect, next & ~SL_MARK)) CC__SMR(SL_S, retire)(t, c);
}

/* Read phase: the first unmarked node with a key >= key and the link to it.
 * Only unmarked nodes are stepped from: a node is unlinked only once
 * marked, so each node reached was linked when the link to it was read. A
 * marked node met on the way is unlinked first and the search answers
 * SL_RETRY (its read phase is over). */
static int SL_FN(find)(sl_list_t *l, cc__smr_thr_t *t, uint64_t key, sl_pos_t *p, uintptr_t *nextp) {
  cc_atomic(uintptr_t) *link = &l->head;
  sl_node_t *pred = NULL;
  uintptr_t curr = CC__SMR(SL_S, read)(t, link); /* the head is never marked */
  for (;;) {
    sl_node_t *c = (sl_node_t *)curr;
    if (c == NULL) break;
    uintptr_t next = CC__SMR(SL_S, read)(t, &c->next);
    if (cc_unlikely(next & SL_MARK)) {
      SL_FN(unlink)(t, link, pred, c, next);
      return SL_RETRY;
    }
    if (c->key >= key) {
      *nextp = next;
      break;
    }
    pred = c;
    link = &c->next;
    curr = next;
  }
  p->link = link;
  p->pred = pred;
  p->curr = (sl_node_t *)curr;
  return p->curr != NULL && p->curr->key == key ? SL_FOUND : SL_ABSENT;
}

/* The node is allocated once a search found the key absent, in the write
 * phase (DEBRA+ allows no allocation in a read phase), and kept for the
 * retries; given back if one finds the key after all. Allocating before
 * the search, as this list once did, made every insert of a present key
 * (half of them in bench/smr) an allocation and a free: under NONE the
 * allocator's hot block back and forth, under a reusing scheme a cold
 * block taken from the reclaimed ones and freed, often to the page of
 * the thread that first allocated it (mimalloc's cross-thread free).
 * volatile: set after the read phase's sigsetjmp, read after a jump back. */
static int SL_FN(insert)(sl_list_t *l, cc__smr_thr_t *t, uint64_t key) {
  sl_node_t *volatile n = NULL;
  CC__SMR(SL_S, begin)(t);
  for (;;) {
    CC__SMR_READ_PHASE(SL_S, t);
    sl_pos_t p;
    uintptr_t next;
    int r = SL_FN(find)(l, t, key, &p, &next);
    if (r == SL_RETRY) continue;
    if (r == SL_FOUND) {
      CC__SMR(SL_S, write_phase)(t);
      if (n != NULL) CC__SMR(SL_S, dealloc)(t, n); /* never published */
      CC__SMR(SL_S, end)(t);
      return CC_EXISTS;
    }
    SL_FN(write_at)(t, p.pred, p.curr);
    if (n == NULL) {
      sl_node_t *fresh = CC__SMR(SL_S, alloc)(t, sizeof *fresh);
      if (fresh == NULL) {
        CC__SMR(SL_S, end)(t);
        return CC_ENOMEM;
      }
      fresh->key = key;
      n = fresh;
    }
    cc_atomic_store_relaxed(&n->next, (uintptr_t)p.curr);
    uintptr_t expect = (uintptr_t)p.curr;
    /* release: publishes n's key and next */
    if (cc_atomic_cas_strong_acq_rel(p.link, &expect, (uintptr_t)n)) break;
  }
  CC__SMR(SL_S, end)(t);
  return CC_OK;
}

/* Marks the node (the linearisation point), then unlinks it; if another
 * thread moved its predecessor meanwhile, a search unlinks it instead. */
static int SL_FN(remove)(sl_list_t *l, cc__smr_thr_t *t, uint64_t key) {
  CC__SMR(SL_S, begin)(t);
  for (;;) {
    CC__SMR_READ_PHASE(SL_S, t);
    sl_pos_t p;
    uintptr_t next;
    int r = SL_FN(find)(l, t, key, &p, &next);
    if (r == SL_RETRY) continue;
    if (r == SL_ABSENT) {
      CC__SMR(SL_S, write_phase)(t);
      CC__SMR(SL_S, end)(t);
      return CC_NOT_FOUND;
    }
    SL_FN(write_at)(t, p.pred, p.curr);
    if (!cc_atomic_cas_strong_acq_rel(&p.curr->next, &next, next | SL_MARK)) continue;
    uintptr_t expect = (uintptr_t)p.curr;
    if (cc_atomic_cas_strong_acq_rel(p.link, &expect, next)) {
      CC__SMR(SL_S, retire)(t, p.curr);
      CC__SMR(SL_S, end)(t);
      return CC_OK;
    }
    break;
  }
  /* the node is removed but still linked: the search for its key meets it
   * first (keys are unique among unmarked nodes) and unlinks it */
  for (;;) {
    CC__SMR_READ_PHASE(SL_S, t);
    sl_pos_t p;
    uintptr_t next;
    if (SL_FN(find)(l, t, key, &p, &next) != SL_RETRY) break;
  }
  CC__SMR(SL_S, write_phase)(t);
  CC__SMR(SL_S, end)(t);
  return CC_OK;
}

#undef SL_FN
