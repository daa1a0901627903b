/* Lock-free external BST (Natarajan-Mittal, PPoPP'14) with SCOT-validated
 * traversals (Nikolaev/Ravindran, arXiv 2504.06254), written once against
 * CC__SMR(S, op) and instantiated by bst.c once per reclamation scheme:
 *
 *     #define CC__BST_S ibr
 *     #include "bst_impl.h"          -> const cc__map_ops_t cc__bst_ibr_ops
 *
 * ------------------------------------------------------------------ shape
 * Keys live in leaves; internal nodes route (left iff key < K, or key <= K
 * when `le` is set). Three sentinel leaves inf0 < inf1 < inf2 sit above
 * every real key: R(inf2) -> {S(inf1), leaf inf2}, S -> {leaf inf0, leaf
 * inf1}; every real key lives in S's left subtree, whose rightmost leaf is
 * always inf0. An edge (child word) carries two bits: FLAG (the leaf below
 * is deleted) and TAG (the node holding the edge is being excised). Marks
 * are never cleared and a marked edge never changes again.
 *
 * Leaves are immutable (key, value). Every change meets on ONE edge word:
 *   insert  CAS parent->leaf  clean -> new internal {new leaf, leaf'}
 *   put/replace on an existing key: CAS parent->leaf clean -> new leaf
 *   remove/pop_first: CAS parent->leaf clean -> leaf|FLAG     (logical)
 *   cleanup: TAG the sibling edge, then CAS ancestor->successor clean ->
 *            sibling (keeping its FLAG): excises successor .. parent.
 * Because put/replace swap the leaf instead of writing its value, a put can
 * never succeed on a leaf whose deletion has linearized (the flag makes its
 * CAS fail). In u64 maps an insert also replaces the neighbour leaf by a
 * copy (leaf'), so that no edge ever takes a value it held before while the
 * old target is protected (no ABA): the navigation validation relies on it.
 * Bytes maps have no navigation ops and keep the neighbour (one node less).
 *
 * Routing keys: u64 internal nodes hold max(new, neighbour) (NM). Bytes
 * internal nodes hold a COPY of the new key (its size is known before the
 * read phase that publishes the node) with le = (new < neighbour); they
 * never point into a leaf's block, so a leaf can be reclaimed while its
 * routing key lives on.
 *
 * ------------------------------------------------------------------ safety (why the traversal is safe under IBR)
 * Removal invariant: an internal node is excised only by a cleanup CAS, and
 * at that CAS all of its edges are marked (path edges TAGged, the edge to the
 * removed leaf FLAGged; the parent's sibling edge is TAGged just before).
 * Marks are permanent, hence
 *     (C) if an internal node X has an unmarked edge at time t, X is
 *         reachable at t, and so is that edge's target.
 * A marked edge is frozen, so (F): if X is reachable at t and X->Y is
 * marked, Y is reachable at t.
 * Why the published NM seek is unsafe under IBR: CC__SMR(ibr, read) loads a
 * link, and when the epoch moved it raises the upper reservation and loads
 * the link AGAIN, trusting that a link still naming Y after the raise names
 * a node not yet retired (a reclaimer that scanned before the raise could
 * have freed Y only if Y was retired, and then the link would have
 * changed). That holds for links of reachable nodes, not for the frozen
 * links of an excised node: they name Y forever, even after Y itself was
 * excised, retired and freed by a scan that saw the old reservation. The
 * NM seek walks such links (it stands on excised nodes whenever it passes
 * TAGged edges), so it can step into freed memory; with hazard pointers the
 * same hole is wider. (Measured: without the check below, the ASan runs of
 * tests/test_bst.c report use-after-free under IBR within seconds.)
 * SCOT fix used here: the seek keeps (anc, succ), the endpoints of the last
 * unmarked edge on its path. After loading a MARKED edge X->Y with
 * CC__SMR(S, read) (which has published the reservation covering Y), and
 * before touching Y, it re-loads anc->child toward succ: if it still holds
 * exactly `succ` unmarked, then by (C) anc and succ are reachable now, the
 * edges succ..X are marked (frozen), so by (F) Y is reachable now, i.e. not
 * yet retired after our reservation was visible: no scan can free it until
 * the operation ends. Otherwise the seek restarts from the root. After an
 * UNMARKED edge X->Y, (C) gives the same directly (IBR's own re-load).
 * So every node the seek dereferences was reachable at an instant after its
 * reservation was published. DEBRA and NONE need none of this (a node
 * reachable during an operation outlives it); under DEBRA+ a neutralised
 * read phase restarts from the root and the write phase touches only nodes
 * protected in slots (plus nodes this thread excised and not yet retired).
 *
 * DEBRA+: the read phase (seek and decisions) calls nothing but the routing
 * comparisons (memcmp is async-signal-safe and stateless); before any write
 * the nodes the write touches (anc, succ, par, leaf) are protected, then
 * write_phase; every retry re-enters CC__SMR_READ_PHASE and re-derives all
 * from the arguments and from state written before that phase began, never
 * inside it (so no local is indeterminate after a jump). Allocation happens
 * in a write phase (after protect), never in a read phase.
 * A function that contains a read phase never returns inside it.
 *
 * Reclamation: the thread whose cleanup CAS succeeds retires what it
 * excised: succ .. par (internal) and the flagged leaf of each (their other
 * edge continues the frozen chain), exactly once (the CAS is won once). The
 * winning put/replace retires the replaced leaf; a u64 insert retires the
 * neighbour it copied. Values: the flagging thread (remove/pop_first) or
 * the winning put/replace hands the old value to retire_fn, once.
 *
 * ------------------------------------------------------------------ linearization points
 * A seek ending with an unmarked parent->leaf edge: the load of that edge
 * (by (C) the leaf is present then and its range contains the key). Ending
 * with a marked edge: the validating re-load (leaf reachable, FLAG = absent).
 *   get, insert (EXISTS), remove/replace (NOT_FOUND), replace (CHANGED):
 *       that load. A flagged leaf with the key counts as absent.
 *   insert (OK), put, replace (OK): the successful edge CAS.
 *   remove, pop_first (OK): the successful FLAG CAS (pop_first flags the
 *       edge to the leftmost leaf it saw: any smaller insert CASes the same
 *       word). pop_first/first EMPTY: the load showing leaf inf0 leftmost.
 *   first: the load of the clean edge to the leftmost leaf.
 *   ceiling(k), leaf L >= k found: the load of L's clean edge. Otherwise
 *       L < k with bound hi (last left turn): M := ceiling-seek(hi), then
 *       L's edge is re-read; unchanged (no ABA, see above) means L's range
 *       still covered [k, hi) at M's load, which is the linearization point.
 *       floor is the mirror image; lower/higher are floor(k-1)/ceiling(k+1);
 *       last is floor(UINT64_MAX). Any marked edge met: help, retry.
 *   range: weakly consistent, one seek per returned key (successor of the
 *       last key returned, or the next bound of a skipped leaf's range).
 *   size: cc__map_count_add by the linearizing thread.
 */

#include "containers/bst_internal.h"

/* ------------------------------------------------------------------ per scheme */
#ifndef CC__BST_S
#error "define CC__BST_S (none, debra, debrap, ibr) before including bst_impl.h"
#endif

#define BST_F(name) CC__SMR_XCAT3(bst_, CC__BST_S, _##name)
#define BST_SMR(op) CC__SMR(CC__BST_S, op)
#define BST_READ_PHASE(t) CC__SMR_READ_PHASE(CC__BST_S, t)

/* One seek step from the internal node cur: reads both edges (one
 * protected read of the pair: the one not taken is never dereferenced)
 * and asks for the line of both children's keys before choosing, so their
 * misses start before the compare resolves (a prefetch never faults; the
 * edge bits are below 8, so the raw edge plus the key's offset lies in
 * the key). The choice is a select, not a load from an address the
 * compare computes: the next node's address waits for one compare after
 * cur's line arrives, not for a second load. */
static cc_force_inline uintptr_t BST_F(step)(cc__smr_thr_t *t, const bst_target_t *tg,
                                             bst_node_t *cur, unsigned *d, const bool u64,
                                             const bool fast, const uint64_t k) {
  cc__smr_pair_t p = BST_SMR(read_pair)(t, &cur->u.child[0], &cur->u.child[1]);
  uintptr_t e0 = p.a, e1 = p.b;
  CC__MAP_PREFETCH(e0 + offsetof(bst_node_t, key));
  CC__MAP_PREFETCH(e1 + offsetof(bst_node_t, key));
  *d = fast ? k >= cur->key : bst_dir(u64, tg, cur);
  return *d ? e1 : e0;
}

/* The seek (read phase), written once and specialised by its constant
 * arguments. Returns with sr filled; every node it names was reachable at
 * an instant inside the reservation (see the safety note).
 * `fast`: tg is a bst_fast_target, the path of every u64 point operation.
 * u64 internal nodes never set `le`, and the sentinel spine holds key
 * UINT64_MAX, so for a key below it "right iff key >= K" is the whole
 * routing test (no look at `inf`, `le` or the mode).
 * `bounds`: fill sr->lo/hi (navigation and range use them).
 * The common step loads an unmarked edge to an internal node: one test
 * covers marks and the leaf bit, and the edge just crossed is the last
 * untagged one (anc -> succ). Marked edges (a chain being excised, rare)
 * are walked by the inner loop, which keeps anc -> succ where it was. */
static cc_force_inline void BST_F(seek_with)(cc_map_t *m, cc__smr_thr_t *t, const bst_target_t *tg,
                                             bst_seek_t *sr, const bool fast, const bool bounds) {
  const bool u64 = m->key_kind == CC_KEY_U64;
  const uint64_t k = fast ? tg->k->u : 0;
  bst_node_t *const root = m->impl;
restart:;
  bst_node_t *anc = root, *succ = bst_ptr(BST_SMR(read)(t, &root->u.child[0]));
  unsigned adir = 0, d;
  bst_node_t *par = succ;                       /* S: its left edge is never marked */
  unsigned pdir = 0;
  uintptr_t pe = BST_SMR(read)(t, &par->u.child[0]);
  bst_node_t *cur = bst_ptr(pe);
  const bst_node_t *lo = NULL, *hi = par;
  if (!(pe & BST_LEAF)) {
    for (;;) {
      anc = par, adir = pdir, succ = cur; /* pe, the edge par -> cur, is untagged */
      uintptr_t e = BST_F(step)(t, tg, cur, &d, u64, fast, k);
      if (bounds) {
        if (d) lo = cur; else hi = cur;
      }
      par = cur, pdir = d, pe = e;
      if (cc_likely(!(e & BST_BITS))) {
        cur = (bst_node_t *)e;
        continue;
      }
      cur = bst_ptr(e);
      for (;;) {
        /* SCOT: a marked edge may hang off an excised node; touch its
         * target only once the last untagged edge is seen still in place. */
        if ((e & BST_MARKS) && cc_atomic_load_seq_cst(&anc->u.child[adir]) != (uintptr_t)succ)
          goto restart;
        if (e & BST_LEAF) goto done;
        if (!(e & BST_TAG)) break;
        e = BST_F(step)(t, tg, cur, &d, u64, fast, k);
        if (bounds) {
          if (d) lo = cur; else hi = cur;
        }
        par = cur, pdir = d, pe = e, cur = bst_ptr(e);
      }
    }
  }
done:
  sr->anc = anc, sr->succ = succ, sr->par = par, sr->leaf = cur;
  sr->pe = pe, sr->adir = adir, sr->pdir = pdir, sr->lo = lo, sr->hi = hi;
}

/* Bytes keys, leftmost, strictly above, UINT64_MAX: kept out of line. */
static cc_noinline void BST_F(seek_general)(cc_map_t *m, cc__smr_thr_t *t, const bst_target_t *tg,
                                             bst_seek_t *sr) {
  BST_F(seek_with)(m, t, tg, sr, false, true);
}

static inline void BST_F(seek)(cc_map_t *m, cc__smr_thr_t *t, const bst_target_t *tg,
                                bst_seek_t *sr) {
  if (bst_fast_target(m, tg)) BST_F(seek_with)(m, t, tg, sr, true, true);
  else BST_F(seek_general)(m, t, tg, sr);
}

/* The seek of a point operation: sr->lo and sr->hi mean nothing. */
static cc_force_inline void BST_F(seek_point)(cc_map_t *m, cc__smr_thr_t *t,
                                              const bst_target_t *tg, bst_seek_t *sr) {
  if (bst_fast_target(m, tg)) BST_F(seek_with)(m, t, tg, sr, true, false);
  else BST_F(seek_general)(m, t, tg, sr);
}

static inline void BST_F(protect)(cc__smr_thr_t *t, const bst_seek_t *sr) {
  BST_SMR(protect)(t, 0, sr->anc);
  BST_SMR(protect)(t, 1, sr->succ);
  BST_SMR(protect)(t, 2, sr->par);
  BST_SMR(protect)(t, 3, sr->leaf);
  BST_SMR(write_phase)(t);
}

/* After a won cleanup CAS: retire succ .. par and the removed leaf of each.
 * Above par each node has a FLAGged edge (its removed leaf) and a TAGged
 * one (the chain); all frozen. Nobody else can retire these. */
static inline void BST_F(retire_excised)(cc__smr_thr_t *t, const bst_seek_t *sr, unsigned kept) {
  bst_node_t *x = sr->succ;
  while (x != sr->par) {
    uintptr_t l = cc_atomic_load_acquire(&x->u.child[0]);
    uintptr_t r = cc_atomic_load_acquire(&x->u.child[1]);
    bst_node_t *next = (l & BST_FLAG) ? bst_ptr(r) : bst_ptr(l);
    BST_SMR(retire)(t, (l & BST_FLAG) ? bst_ptr(l) : bst_ptr(r));
    BST_SMR(retire)(t, x);
    x = next;
  }
  BST_SMR(retire)(t, bst_ptr(cc_atomic_load_acquire(&x->u.child[!kept])));
  BST_SMR(retire)(t, x);
}

/* NM cleanup (write phase, sr's nodes protected): par has a flagged child;
 * tag the other edge and swing anc's edge from succ to that other child.
 * True when this thread excised the chain. */
static inline bool BST_F(cleanup)(cc__smr_thr_t *t, const bst_seek_t *sr) {
  bst_node_t *par = sr->par;
  unsigned kept = !sr->pdir;
  if (!(cc_atomic_load_acquire(&par->u.child[sr->pdir]) & BST_FLAG)) kept = sr->pdir;
  uintptr_t sib = cc_atomic_fetch_or_acq_rel(&par->u.child[kept], BST_TAG);
  uintptr_t expect = (uintptr_t)sr->succ;
  if (!cc_atomic_cas_strong_acq_rel(&sr->anc->u.child[sr->adir], &expect, sib & ~BST_TAG))
    return false;
  BST_F(retire_excised)(t, sr, kept);
  return true;
}

/* After a failed CAS on par->leaf that found `now`: help when the edge is
 * frozen on the same leaf (write phase, nodes protected). */
static inline void BST_F(help_after_cas)(cc__smr_thr_t *t, bst_seek_t *sr, uintptr_t now) {
  if (bst_ptr(now) == sr->leaf && (now & BST_MARKS)) {
    sr->pe = now;
    (void)BST_F(cleanup)(t, sr);
  }
}

/* A deletion linearized on `leaf` (key k): make sure it is excised before
 * returning (NM: re-seek until the leaf is gone). Starts in write phase. */
static cc_noinline void BST_F(finish_delete)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k,
                                              bst_node_t *leaf, const bst_seek_t *first) {
  if (BST_F(cleanup)(t, first)) return;
  bst_target_t tg = {k, BST_AT};
  for (;;) {
    bst_seek_t sr;
    BST_READ_PHASE(t);
    BST_F(seek_point)(m, t, &tg, &sr);
    if (sr.leaf != leaf || !(sr.pe & BST_FLAG)) {
      BST_SMR(write_phase)(t);
      return;
    }
    BST_F(protect)(t, &sr);
    if (BST_F(cleanup)(t, &sr)) return;
  }
}

static inline void BST_F(retire_val)(cc_map_t *m, cc__smr_thr_t *t, void *v) {
  if (m->val_free) BST_SMR(retire_fn)(t, v, m->val_free, m->val_ctx);
}

/* ------------------------------------------------------------------ ops */

static int BST_F(get)(cc_map_t *m, const cc__mkey_t *k, void **val) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (cc_unlikely(!t)) return CC_ENOMEM;
  const bool u64 = m->key_kind == CC_KEY_U64;
  bst_target_t tg = {k, BST_AT};
  bst_seek_t sr;
  BST_SMR(begin)(t);
  BST_READ_PHASE(t);
  BST_F(seek_point)(m, t, &tg, &sr);
  int rc = CC_NOT_FOUND;
  if (bst_leaf_is(u64, sr.leaf, k) && !(sr.pe & BST_FLAG)) {
    *val = sr.leaf->u.val;
    rc = CC_OK;
  }
  BST_SMR(write_phase)(t);
  BST_SMR(end)(t);
  return rc;
}


static inline void BST_F(prealloc_free)(cc__smr_thr_t *t, bst_prealloc_t *p) {
  if (p->leaf) BST_SMR(dealloc)(t, p->leaf);
  if (p->inner) BST_SMR(dealloc)(t, p->inner);
  if (p->copy) BST_SMR(dealloc)(t, p->copy);
}

/* Allocates what p lacks (outside any read phase): the new leaf, and with
 * need_inner the internal node (and the neighbour's copy in u64 maps).
 * On failure frees all of p: the caller returns CC_ENOMEM, tree untouched. */
static int BST_F(prealloc)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, void *val,
                           bool need_inner, bst_prealloc_t *p) {
  const bool u64 = m->key_kind == CC_KEY_U64;
  size_t lsz = bst_node_size(u64, true, k->len), isz = bst_node_size(u64, false, k->len);
  if (lsz == 0) goto fail; /* size overflow */
  if (!p->leaf) {
    if (!(p->leaf = BST_SMR(alloc_packed)(t, lsz))) goto fail;
    p->leaf->u.val = val;
    bst_set_key(p->leaf, u64, k, false);
  }
  if (need_inner && !p->inner && !(p->inner = BST_SMR(alloc_packed)(t, isz))) goto fail;
  if (need_inner && u64 && !p->copy && !(p->copy = BST_SMR(alloc_packed)(t, lsz))) goto fail;
  return CC_OK;
fail:
  BST_F(prealloc_free)(t, p);
  p->leaf = p->inner = p->copy = NULL;
  return CC_ENOMEM;
}

/* Builds the internal node that splits `old` (a leaf, protected) and the
 * new leaf; returns it. In u64 maps `old` is replaced by its copy. */
static inline bst_node_t *BST_F(build_split)(bool u64, const cc__mkey_t *k, bst_prealloc_t *p,
                                              const bst_node_t *old) {
  bst_node_t *in = p->inner, *nb = (bst_node_t *)old;
  bool smaller = bst_cmp(u64, k, old) < 0;
  if (u64) {
    nb = p->copy;
    bst_set_marks(nb, bst_inf(old), false);
    nb->key = old->key, nb->u.val = old->u.val;
    bst_set_marks(in, smaller ? bst_inf(old) : 0, false);
    in->key = smaller ? old->key : k->u;
  } else {
    bst_set_key(in, false, k, smaller);
  }
  cc_atomic_store_relaxed(&in->u.child[0], bst_leaf_edge(smaller ? p->leaf : nb));
  cc_atomic_store_relaxed(&in->u.child[1], bst_leaf_edge(smaller ? nb : p->leaf));
  return in;
}

/* Nodes are allocated only once a seek has shown which are needed (an
 * insert of a present key allocates nothing), in the write phase, after the
 * nodes the CAS touches are protected: no second seek. The allocator runs
 * outside any read phase (DEBRA+), and under IBR a node born after this
 * operation's upper reservation is only ever touched by it before it is
 * published (a failed CAS keeps it private; the retry's reads raise the
 * reservation as usual). */
static int BST_F(insert)(cc_map_t *m, const cc__mkey_t *k, void *val, bool put, void **old) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (cc_unlikely(!t) || !cc__map_reserve(m, t, BST_SMR(reserve), false)) return CC_ENOMEM;
  const bool u64 = m->key_kind == CC_KEY_U64;
  bst_prealloc_t p = {NULL, NULL, NULL};
  bst_target_t tg = {k, BST_AT};
  bst_seek_t sr;
  int rc;
  BST_SMR(begin)(t);
  for (;;) {
    BST_READ_PHASE(t);
    BST_F(seek_point)(m, t, &tg, &sr);
    bool here = bst_leaf_is(u64, sr.leaf, k) && !(sr.pe & BST_FLAG);
    if (here && !put) {
      BST_SMR(write_phase)(t);
      rc = CC_EXISTS;
      break;
    }
    BST_F(protect)(t, &sr);
    if (sr.pe & BST_MARKS) {
      (void)BST_F(cleanup)(t, &sr);
      continue;
    }
    if (bst_prealloc_lacks(u64, &p, !here) &&
        BST_F(prealloc)(m, t, k, val, !here, &p) != CC_OK) {
      rc = CC_ENOMEM;
      break;
    }
    uintptr_t expect = bst_leaf_edge(sr.leaf);
    if (here) { /* put on a present key: swap the leaf */
      if (cc_atomic_cas_strong_acq_rel(&sr.par->u.child[sr.pdir], &expect, bst_leaf_edge(p.leaf))) {
        void *ov = sr.leaf->u.val;
        if (old) *old = ov;
        BST_SMR(retire)(t, sr.leaf);
        if (ov != val) BST_F(retire_val)(m, t, ov);
        p.leaf = NULL;
        rc = CC_EXISTS;
        break;
      }
    } else {
      bst_node_t *in = BST_F(build_split)(u64, k, &p, sr.leaf);
      if (cc_atomic_cas_strong_acq_rel(&sr.par->u.child[sr.pdir], &expect, (uintptr_t)in)) {
        cc__map_count_add(m, 1);
        if (u64) BST_SMR(retire)(t, sr.leaf), p.copy = NULL;
        p.leaf = p.inner = NULL;
        rc = CC_OK;
        break;
      }
    }
    BST_F(help_after_cas)(t, &sr, expect);
  }
  BST_SMR(end)(t);
  BST_F(prealloc_free)(t, &p);
  return rc;
}

static int BST_F(replace)(cc_map_t *m, const cc__mkey_t *k, void *expected, void *desired) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (cc_unlikely(!t) || !cc__map_reserve(m, t, BST_SMR(reserve), false)) return CC_ENOMEM;
  const bool u64 = m->key_kind == CC_KEY_U64;
  bst_prealloc_t p = {NULL, NULL, NULL};
  bst_target_t tg = {k, BST_AT};
  bst_seek_t sr;
  int rc;
  BST_SMR(begin)(t);
  for (;;) {
    BST_READ_PHASE(t);
    BST_F(seek_point)(m, t, &tg, &sr);
    if (!bst_leaf_is(u64, sr.leaf, k) || (sr.pe & BST_FLAG)) {
      BST_SMR(write_phase)(t);
      rc = CC_NOT_FOUND;
      break;
    }
    if (sr.leaf->u.val != expected) {
      BST_SMR(write_phase)(t);
      rc = CC_CHANGED;
      break;
    }
    BST_F(protect)(t, &sr);
    if (sr.pe & BST_MARKS) {
      (void)BST_F(cleanup)(t, &sr);
      continue;
    }
    if (!p.leaf && BST_F(prealloc)(m, t, k, desired, false, &p) != CC_OK) {
      rc = CC_ENOMEM;
      break;
    }
    uintptr_t expect = bst_leaf_edge(sr.leaf);
    if (cc_atomic_cas_strong_acq_rel(&sr.par->u.child[sr.pdir], &expect, bst_leaf_edge(p.leaf))) {
      BST_SMR(retire)(t, sr.leaf);
      if (expected != desired) BST_F(retire_val)(m, t, expected);
      p.leaf = NULL;
      rc = CC_OK;
      break;
    }
    BST_F(help_after_cas)(t, &sr, expect);
  }
  BST_SMR(end)(t);
  BST_F(prealloc_free)(t, &p);
  return rc;
}

/* remove (tg: the key) and pop_first (tg: leftmost) share the flag step. */
static int BST_F(delete)(cc_map_t *m, const bst_target_t *tg, uint64_t *key, void **val) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  const bool pop = tg->mode == BST_LEFTMOST; /* pop_first waits for memory */
  if (cc_unlikely(!t) || !cc__map_reserve(m, t, BST_SMR(reserve), pop)) return CC_ENOMEM;
  const bool u64 = m->key_kind == CC_KEY_U64;
  bst_seek_t sr;
  BST_SMR(begin)(t);
  for (;;) {
    BST_READ_PHASE(t);
    BST_F(seek_point)(m, t, tg, &sr);
    bool absent = tg->mode == BST_LEFTMOST ? bst_inf(sr.leaf) != 0
                                           : (!bst_leaf_is(u64, sr.leaf, tg->k) || (sr.pe & BST_FLAG));
    if (absent) {
      BST_SMR(write_phase)(t);
      BST_SMR(end)(t);
      return tg->mode == BST_LEFTMOST ? CC_EMPTY : CC_NOT_FOUND;
    }
    BST_F(protect)(t, &sr);
    if (sr.pe & BST_MARKS) {
      (void)BST_F(cleanup)(t, &sr);
      continue;
    }
    uintptr_t expect = bst_leaf_edge(sr.leaf);
    if (cc_atomic_cas_strong_acq_rel(&sr.par->u.child[sr.pdir], &expect, expect | BST_FLAG)) break;
    BST_F(help_after_cas)(t, &sr, expect);
  }
  bst_node_t *leaf = sr.leaf;
  void *v = leaf->u.val;
  if (key) *key = leaf->key;
  if (val) *val = v;
  cc__map_count_add(m, -1);
  BST_F(retire_val)(m, t, v);
  sr.pe = bst_leaf_edge(leaf) | BST_FLAG;
  cc__mkey_t lk = bst_key_of(u64, leaf);
  BST_F(finish_delete)(m, t, &lk, leaf, &sr);
  BST_SMR(end)(t);
  return CC_OK;
}

static int BST_F(remove)(cc_map_t *m, const cc__mkey_t *k, void **val) {
  bst_target_t tg = {k, BST_AT};
  return BST_F(delete)(m, &tg, NULL, val);
}

static int BST_F(pop_first)(cc_map_t *m, uint64_t *key, void **val) {
  bst_target_t tg = {NULL, BST_LEFTMOST};
  return BST_F(delete)(m, &tg, key, val);
}

/* ------------------------------------------------------------------ navigation (u64 maps) */


/* One attempt of floor/ceiling(key) in the read phase (see the
 * linearization note). On BST_NAV_FOUND *res is the answer; on
 * BST_NAV_HELP, *help holds a seek that met a marked edge. */
static inline int BST_F(nav_once)(cc_map_t *m, cc__smr_thr_t *t, uint64_t key, bool ceil,
                                  bst_node_t **res, bst_seek_t *help) {
  cc__mkey_t k = {.u = key};
  bst_target_t tg = {&k, BST_AT};
  bst_seek_t a;
  BST_F(seek)(m, t, &tg, &a);
  if (a.pe & BST_MARKS) {
    *help = a;
    return BST_NAV_HELP;
  }
  bst_node_t *l = a.leaf;
  uint64_t bound;
  if (ceil) {
    if (bst_inf(l)) return BST_NAV_NONE;       /* range(l) holds [key, inf0) */
    if (l->key >= key) return *res = l, BST_NAV_FOUND;
    if (bst_inf(a.hi)) return BST_NAV_NONE;    /* nothing above l up to inf0 */
    bound = a.hi->key;                      /* range(l) holds [key, bound) */
  } else {
    if (!bst_inf(l) && l->key <= key) return *res = l, BST_NAV_FOUND;
    if (!a.lo || a.lo->key == 0) return BST_NAV_NONE; /* range(l) starts at -inf */
    bound = a.lo->key - 1;                  /* range(l) holds (bound, key] */
  }
  cc__mkey_t bk = {.u = bound};
  tg.k = &bk;
  bst_seek_t b;
  BST_F(seek)(m, t, &tg, &b);
  if (b.pe & BST_MARKS) {
    *help = b;
    return BST_NAV_HELP;
  }
  bst_node_t *n = b.leaf;
  if (ceil ? (!bst_inf(n) && n->key < bound) : (bst_inf(n) || n->key > bound)) return BST_NAV_RETRY;
  /* l's edge unchanged: no insert entered l's range since its load, so at
   * n's load no key lay between key and n. */
  if (cc_atomic_load_seq_cst(&a.par->u.child[a.pdir]) != a.pe) return BST_NAV_RETRY;
  if (bst_inf(n)) return BST_NAV_NONE;
  *res = n;
  return BST_NAV_FOUND;
}

static int BST_F(nav_floor_ceil)(cc_map_t *m, uint64_t key, bool ceil, uint64_t *found, void **val) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (cc_unlikely(!t) || !cc__map_reserve(m, t, BST_SMR(reserve), false)) return CC_ENOMEM;
  BST_SMR(begin)(t);
  for (;;) {
    bst_node_t *res = NULL;
    bst_seek_t help;
    BST_READ_PHASE(t);
    int r = BST_F(nav_once)(m, t, key, ceil, &res, &help);
    if (r == BST_NAV_RETRY) continue;
    if (r == BST_NAV_HELP) {
      BST_F(protect)(t, &help);
      (void)BST_F(cleanup)(t, &help);
      continue;
    }
    if (r == BST_NAV_FOUND) {
      if (found) *found = res->key;
      if (val) *val = res->u.val;
    }
    BST_SMR(write_phase)(t);
    BST_SMR(end)(t);
    return r == BST_NAV_FOUND ? CC_OK : CC_NOT_FOUND;
  }
}

static int BST_F(nav)(cc_map_t *m, uint64_t key, cc__nav_t dir, uint64_t *found, void **val) {
  switch (dir) {
  case CC__NAV_FLOOR: return BST_F(nav_floor_ceil)(m, key, false, found, val);
  case CC__NAV_CEILING: return BST_F(nav_floor_ceil)(m, key, true, found, val);
  case CC__NAV_LOWER:
    return key == 0 ? CC_NOT_FOUND : BST_F(nav_floor_ceil)(m, key - 1, false, found, val);
  case CC__NAV_HIGHER:
    return key == UINT64_MAX ? CC_NOT_FOUND : BST_F(nav_floor_ceil)(m, key + 1, true, found, val);
  }
  return CC_EINVAL;
}

static int BST_F(first)(cc_map_t *m, bool last, uint64_t *key, void **val) {
  if (last) {
    int rc = BST_F(nav_floor_ceil)(m, UINT64_MAX, false, key, val);
    return rc == CC_NOT_FOUND ? CC_EMPTY : rc;
  }
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (cc_unlikely(!t) || !cc__map_reserve(m, t, BST_SMR(reserve), false)) return CC_ENOMEM;
  bst_target_t tg = {NULL, BST_LEFTMOST};
  bst_seek_t sr;
  BST_SMR(begin)(t);
  for (;;) {
    BST_READ_PHASE(t);
    BST_F(seek)(m, t, &tg, &sr);
    if (sr.pe & BST_MARKS) {
      BST_F(protect)(t, &sr);
      (void)BST_F(cleanup)(t, &sr);
      continue;
    }
    int rc = bst_inf(sr.leaf) ? CC_EMPTY : CC_OK;
    if (rc == CC_OK) {
      if (key) *key = sr.leaf->key;
      if (val) *val = sr.leaf->u.val;
    }
    BST_SMR(write_phase)(t);
    BST_SMR(end)(t);
    return rc;
  }
}

/* ------------------------------------------------------------------ range */


/* The whole scan is a section of the map's domain (as the skip list's):
 * the callback's key and value, and the node the cursor's key lies in,
 * stay valid until it ends; under DEBRA+ it is never neutralised. */
static int BST_F(range)(cc_map_t *m, const cc__mkey_t *lo, const cc__mkey_t *hi,
                        cc__map_visit_fn fn, void *arg) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (cc_unlikely(!t)) return CC_ENOMEM;
  const bool u64 = m->key_kind == CC_KEY_U64;
  bst_cursor_t c = {*lo, BST_AT};
  int rc = CC_OK;
  cc_smr_enter(m->smr);
  for (;;) {
    bst_seek_t sr;
    bst_target_t tg = {&c.k, c.mode};
    BST_SMR(begin)(t);
    BST_READ_PHASE(t);
    BST_F(seek)(m, t, &tg, &sr);
    bst_node_t *l = sr.leaf;
    /* l's range holds the cursor: l is the next key unless it is below the
     * cursor, deleted or a sentinel; then the next candidate starts at the
     * range's upper bound. */
    bool visit = !bst_inf(l) && !(sr.pe & BST_FLAG) && bst_cmp(u64, &c.k, l) <= 0 &&
                 !(c.mode == BST_ABOVE && bst_cmp(u64, &c.k, l) == 0);
    const bst_node_t *next = visit ? l : sr.hi;
    bool done = bst_inf(next) || bst_cmp(u64, hi, next) < 0;
    void *v = visit ? l->u.val : NULL;
    BST_SMR(write_phase)(t);
    if (!done) bst_cursor_set(u64, &c, next, visit ? BST_ABOVE : (bst_le(next) ? BST_ABOVE : BST_AT));
    BST_SMR(end)(t);
    if (done) break;
    if (visit && (rc = fn(&c.k, v, arg)) != 0) break;
  }
  cc_smr_leave(m->smr);
  return rc;
}

/* ------------------------------------------------------------------ life cycle */

static int BST_F(init)(cc_map_t *m) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (cc_unlikely(!t)) return CC_ENOMEM;
  /* n0 = R(inf2), n1 = S(inf1), n2..n4 = leaves inf0..inf2 (u64-sized in
   * either key kind: a sentinel's key bytes are never read) */
  bst_node_t *n[5];
  for (int i = 0; i < 5; i++) {
    n[i] = BST_SMR(alloc_packed)(t, bst_node_size(true, i >= 2, 0));
    if (!n[i]) {
      while (i-- > 0) BST_SMR(dealloc)(t, n[i]);
      return CC_ENOMEM;
    }
    n[i]->key = UINT64_MAX; /* sentinel key: see seek_u64 */
  }
  for (int i = 2; i < 5; i++) bst_set_marks(n[i], (unsigned)(i - 1), false), n[i]->u.val = NULL;
  bst_set_marks(n[0], 3, false);
  bst_set_marks(n[1], 2, false);
  cc_atomic_store_relaxed(&n[1]->u.child[0], bst_leaf_edge(n[2]));
  cc_atomic_store_relaxed(&n[1]->u.child[1], bst_leaf_edge(n[3]));
  cc_atomic_store_relaxed(&n[0]->u.child[0], (uintptr_t)n[1]);
  cc_atomic_store_relaxed(&n[0]->u.child[1], bst_leaf_edge(n[4]));
  m->impl = n[0];
  return CC_OK;
}

/* Single-threaded: frees every node without a stack by rotating left
 * subtrees up (the edges keep their bits, so a flagged leaf, whose value
 * was already retired, is told apart). */
static void BST_F(destroy)(cc_map_t *m) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  uintptr_t e = (uintptr_t)m->impl;
  while (e) {
    bst_node_t *n = bst_ptr(e);
    if (e & BST_LEAF) {
      if (!bst_inf(n) && !(e & BST_FLAG) && m->val_free) m->val_free(n->u.val, m->val_ctx);
      if (t) BST_SMR(dealloc)(t, n);
      break;
    }
    uintptr_t l = cc_atomic_load_relaxed(&n->u.child[0]);
    bst_node_t *ln = bst_ptr(l);
    if (!(l & BST_LEAF)) { /* rotate right: ln becomes the top */
      cc_atomic_store_relaxed(&n->u.child[0], cc_atomic_load_relaxed(&ln->u.child[1]));
      cc_atomic_store_relaxed(&ln->u.child[1], e);
      e = l;
      continue;
    }
    if (!bst_inf(ln) && !(l & BST_FLAG) && m->val_free) m->val_free(ln->u.val, m->val_ctx);
    e = cc_atomic_load_relaxed(&n->u.child[1]);
    if (t) {
      BST_SMR(dealloc)(t, ln);
      BST_SMR(dealloc)(t, n);
    }
  }
  m->impl = NULL;
}

const cc__map_ops_t CC__SMR_XCAT3(cc__bst_, CC__BST_S, _ops) = {
  .insert = BST_F(insert),
  .get = BST_F(get),
  .remove = BST_F(remove),
  .replace = BST_F(replace),
  .nav = BST_F(nav),
  .first = BST_F(first),
  .pop_first = BST_F(pop_first),
  .range = BST_F(range),
  .init = BST_F(init),
  .destroy = BST_F(destroy),
};

#undef BST_F
#undef BST_SMR
#undef BST_READ_PHASE
#undef CC__BST_S
