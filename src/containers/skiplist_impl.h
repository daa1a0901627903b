/* The lock-free skip list of cc_map, written once against CC__SMR(S, op)
 * and included by skiplist.c once per reclamation scheme S (with
 * SL_RESTARTABLE set for DEBRA+). No include guard: that is the point.
 *
 * ------------------------------------------------------------------ structure
 * Fraser / Herlihy-Shavit skip list. Each node (header, key, value word,
 * inline value cell, tower, bytes key) is one cache-line-aligned block from
 * CC__SMR(S, alloc), allocated before the read phase. A node is deleted at
 * level i when its next[i] carries SL_MARK; marks go from the top level
 * down, so an unmarked next[0] means "not deleted at any level".
 *
 * Traversals follow Michael's discipline: a link is followed only out of a
 * node whose next word was read unmarked (so the node was still linked and
 * its successor still reachable at that read); a marked node met on the
 * way is unlinked by CAS on its predecessor before going on (above level
 * 0, a node past the key ends the level without its next word being read;
 * it is unlinked by the searches that meet it on its own key). Nothing is
 * ever reached through an unlinked node, which is what IBR (and DEBRA+
 * write phases) require. Every followed link is loaded with
 * CC__SMR(S, read).
 *
 * ------------------------------------------------------------------ one word per key
 * The presence and value of a key are decided on ONE word, the node's value
 * word `val`:
 *   cell               present, value cell->v
 *   cell | DEAD        deleted (terminal)
 *   desc | DESC        a pop_first is deciding whether it takes this node
 *   desc | DESC | DEAD popped by that pop_first (terminal)
 * Cells are immutable and a put/replace installs a fresh one (put reuses
 * the node it allocated for the insert case; replace allocates a small
 * block), so the word never goes back to an earlier content while a reader
 * holds its cell: reading it twice and seeing the same word proves it did
 * not change in between.
 *
 * The abstract map at time T is {key(n) -> cell->v : n reachable at level 0
 * and val live}. A live node is reachable (nodes are unlinked only after
 * their word went terminal), no two reachable nodes hold one key (insert
 * links only when the first node >= key holds another key, after helping
 * any dead one out of the way).
 *
 * Linearization points:
 *   insert        the CAS linking the node at level 0;
 *   put/replace   the CAS of the value word (fails on a dead word: put then
 *                 retries and inserts afresh, replace reports NOT_FOUND);
 *   remove        the CAS cell -> cell|DEAD;
 *   get, and every "absent" answer: the read of the value word, or of the
 *                 level-0 link that shows no node with the key (a link read
 *                 unmarked out of a node proves that node was linked then).
 *   floor/ceiling/lower/higher/first/last: find pred -> succ adjacent at
 *                 level 0 around the key, read the target's value word (v1),
 *                 read pred.next[0] again (must still be succ, unmarked),
 *                 read the value word again (must be v1). At the middle read
 *                 pred is linked, nothing lies between pred and succ, and the
 *                 target holds v1 (unchanged across the two reads, no ABA):
 *                 that read is the linearization point.
 *   pop_first     the deletion must be decided while the node is the least
 *                 one, but "least" lives in head.next[0] and "present" in the
 *                 node's value word. A restricted double-compare single-swap
 *                 (Harris, Fraser, Pratt) joins them: the popper installs a
 *                 descriptor in the value word (cell -> desc|DESC); whoever
 *                 meets it (the popper, or any put/remove/get/insert/range
 *                 that reads that word) reads head.next[0] and CASes the word
 *                 to desc|DESC|DEAD if the node is still first, else back to
 *                 the cell. The pop linearizes at the head read of the
 *                 resolver whose CAS wins: then the node is first and its
 *                 word is the descriptor (standing for the live cell). An
 *                 insert before the node and the pop thus meet on
 *                 head.next[0]; remove/put and the pop meet on the value
 *                 word; a descriptor is resolved by anyone, so nobody waits.
 *                 Descriptors are fresh per attempt, so the popper knows it
 *                 won exactly when the word reads its own desc|DESC|DEAD.
 *                 (The naive "find first, CAS its value dead" is only
 *                 quiescently consistent: a smaller key inserted between the
 *                 find and the CAS breaks it; cf. Lindén & Jonsson 2013.)
 *   range         weakly consistent: walks level 0 in key order, reports
 *                 nodes whose word reads live, resumes after a deleted
 *                 cursor by a search for the first key above it.
 *
 * ------------------------------------------------------------------ reclamation
 * A linked node has two references: its inserter's (dropped when it has
 * finished linking the upper levels) and its deleter's (the thread whose CAS
 * made the word terminal, dropped once the node is unlinked at every level:
 * by CASes along the path of the deleter's own search when every link on
 * it still holds, else by an unlinking search). Whoever drops the last one
 * retires the node, together with
 * its value cell's block and pop descriptor when those are separate. When
 * the inserter finishes last, it sees the deletion and runs the unlinking
 * search itself, so a level linked late is never left behind.
 * Values owned by the map go to CC__SMR(S, retire_fn) once, from the thread
 * whose CAS replaced or deleted them.
 *
 * ------------------------------------------------------------------ DEBRA+
 * Every operation is a loop of attempts; an attempt starts with
 * CC__SMR_READ_PHASE, traverses without allocator, libc or lock calls,
 * protects what it will write (pred, curr, succ: slots 0-2; range keeps its
 * cursor in 4-7), enters the write phase and makes at most one group of
 * CASes, then returns SL_RETRY or a result. State kept across attempts lives
 * in memory or volatile locals, never in plain locals written after the
 * sigsetjmp. With SL_RESTARTABLE 0 the same code continues a search after a
 * successful unlink instead of starting it over.
 */

#define SLF(name) CC__SMR_XCAT3(sl_, S, _##name)

#define SL_READ(t, p) CC__SMR(S, read)((t), (p))

/* ------------------------------------------------------------------ small writes */

/* The unlinking CAS: curr (marked at level i) out from after pred. Above
 * level 0, pred's hint then takes curr's: curr's link is frozen on succ,
 * so its hint is succ's (or stale, as any hint may be; see sl_word_t).
 * Copied rather than read from succ, which need not be protected here. */
static inline bool SLF(unlink_cas)(sl_node_t *pred, unsigned i, sl_node_t *curr, sl_node_t *succ) {
  uintptr_t exp = (uintptr_t)curr;
  if (!cc_atomic_cas_strong_acq_rel(sl_next(pred, i), &exp, (uintptr_t)succ)) return false;
  if (i > 0) cc_atomic_store_relaxed(sl_hint(pred, i), cc_atomic_load_relaxed(sl_hint(curr, i)));
  return true;
}

/* Unlinks curr (marked at level i) from pred; true on success. */
static inline bool SLF(unlink)(cc__smr_thr_t *t, sl_node_t *pred, unsigned i, sl_node_t *curr,
                               sl_node_t *succ) {
  CC__SMR(S, protect)(t, 0, pred);
  CC__SMR(S, protect)(t, 1, curr);
  CC__SMR(S, protect)(t, 2, succ);
  CC__SMR(S, write_phase)(t);
  return SLF(unlink_cas)(pred, i, curr, succ);
}

/* DEBRA+: the nodes of a search path that an update goes on using after
 * its first write phase must sit in slots by then (a neutralised write
 * phase touches nothing else), and there are CC__SMR_SLOTS of them.
 * A remove keeps n and its cell in slots 0-1 and preds[i] in 2 + i, so
 * it unlinks n through its own path up to this height (taller nodes, 1 in
 * 64 at p = 1/2, finish with an unlinking search); an insert keeps
 * preds[i], succs[i] in 2i, 2i + 1, so it links levels 1 to 3 without new
 * searches (and searches for each level above). Every update searched
 * again before (callgrind, 50/50 on 1,000 keys: 2,048 -> 1,333
 * instructions per operation). */
#define SL_PATH_REMOVE_MAXH (CC__SMR_SLOTS - 2)
#define SL_PATH_INSERT_MAXH (CC__SMR_SLOTS / 2) /* levels below this one */

/* Whether an update keeps using its search path for a node of height h. */
static inline bool SLF(path_kept)(unsigned h, unsigned maxh) { return !SL_RESTARTABLE || h <= maxh; }

/* Checked DEBRA+ builds: a node a write phase goes on using from an
 * earlier read phase must be in this thread's slots (the head is never
 * freed). A missing protect would otherwise show only when a reclaimer
 * frees that node inside the window, which the stress runs cannot force;
 * this makes every run check it. */
static inline void SLF(check_held)(cc_map_t *m, cc__smr_thr_t *t, const sl_node_t *n) {
#if SL_RESTARTABLE && !defined(NDEBUG)
  if (!n || n == ((sl_impl_t *)m->impl)->head) return;
  uintptr_t line = (uintptr_t)n & ~(uintptr_t)(CC__LINE - 1);
  bool held = false;
  for (unsigned i = 0; i < CC__SMR_SLOTS; i++) held |= cc_atomic_load_relaxed(&t->slots[i]) == line;
  assert(held && "DEBRA+ write phase uses a node outside the slots");
#else
  (void)m, (void)t, (void)n;
#endif
}

/* Marks every level of n, top down (n protected, write phase). */
static inline void SLF(mark_all)(sl_node_t *n) {
  for (unsigned i = sl_height(n); i-- > 0;) cc_atomic_fetch_or_acq_rel(sl_next(n, i), SL_MARK);
}

/* The RDCSS completion: takes n for the pop of d when n is first at level
 * 0, else gives it back its cell. seq_cst: the head read must not move
 * before the read that found d installed, nor the CAS before the head read. */
static inline void SLF(resolve)(sl_impl_t *im, sl_node_t *n, sl_desc_t *d, sl_cell_t *c) {
  uintptr_t first = cc_atomic_load_seq_cst(sl_next(im->head, 0));
  uintptr_t want = sl_ptr(first) == n ? ((uintptr_t)d | SL_DESC | SL_DEAD) : (uintptr_t)c;
  uintptr_t exp = (uintptr_t)d | SL_DESC;
  cc_atomic_cas_strong_seq_cst(sl_val(n), &exp, want);
}

/* Helps the non-live value word v of n along: resolves a pending pop, or
 * marks a dead node so that searches unlink it. Always SL_RETRY. */
static int SLF(help)(cc_map_t *m, cc__smr_thr_t *t, sl_node_t *n, uintptr_t v) {
  if ((v & (SL_DESC | SL_DEAD)) == SL_DESC) {
    sl_desc_t *d = (sl_desc_t *)(v & ~SL_BITS);
    sl_cell_t *c = d->c;
    CC__SMR(S, protect)(t, 0, n);
    CC__SMR(S, protect)(t, 1, d);
    CC__SMR(S, write_phase)(t);
    SLF(resolve)(m->impl, n, d, c);
  } else {
    CC__SMR(S, protect)(t, 0, n);
    CC__SMR(S, write_phase)(t);
    SLF(mark_all)(n);
  }
  return SL_RETRY;
}

/* ------------------------------------------------------------------ search */

/* Standing on pred at level i (`w`: pred's tower word at level i), about
 * to compare curr: the step after is either right (curr's link at its top
 * level, on the line of its key) or down (pred.next[i-1]'s target, half
 * the time a node other than curr; and from there maybe down again, to
 * pred.next[i-2]'s). Asking for those lines now overlaps their misses
 * with curr's instead of taking them one after another (the second level
 * down measured 5% less time per get on top of the first). The links of
 * the levels below are two and four words after `w`, read relaxed: only
 * their targets' addresses are used, to prefetch. On levels steered by
 * hints a compare that reads curr is mostly a step right, so these lines
 * mostly go unread by this search; gets measured about 10% faster with
 * them all the same (1M keys, 1 thread, in-process A/B on a shared
 * machine: they seem to keep the nodes near the upper paths cached). */
static cc_force_inline void SLF(prefetch_step)(sl_word_t *w, unsigned i) {
  if (i > 0) CC__MAP_PREFETCH(sl_ptr(cc_atomic_load_relaxed(&w[2].link)));
  if (i > 1) CC__MAP_PREFETCH(sl_ptr(cc_atomic_load_relaxed(&w[4].link)));
}

/* At every level i below top: preds[i] is the last node with key < k
 * (<= k when le), succs[i] its successor; preds[top] is NULL. Unlinks
 * marked nodes met on the way. CC_OK, or SL_RETRY after a write when the
 * scheme is restartable. Written once, compiled for u64 and bytes keys (so
 * the u64 compare is inline) and for the u64 get (no path: preds NULL,
 * only the level-0 successor in succs[0], and the node past k on level 0
 * left unread, since a get answers from that node's value word, not its
 * link).
 * With `hit` (lookups), the first node met with key k whose value word
 * reads live ends the search at any level: *hit is its cell, SL_FOUND.
 * (A live word proves the key present at that read; a dead one proves
 * nothing above level 0, where an older node of the key may linger
 * unlinked below, so the search goes on.)
 * Hints: at levels i >= hfrom (>= 1), a successor whose hint is past k is
 * taken as past k without being read. A stale hint is harmless there in
 * either direction: one too small sends the search to the node, whose
 * real key decides as without hints; one too large ends the level early,
 * at a node pred with key < k from which the levels below still reach
 * every node up to k (level 0, read by keys, holds them all). What is
 * lost is the path at that level: preds[i] may then be followed by a node
 * < k. So callers pass as hfrom the lowest level whose path they use for
 * a write (an insert: its height; the unlinking search of a deleted node:
 * SL_NO_HINTS, since it must meet the node at every level); a remove
 * checks succs[i] == n before unlinking through its path and searches
 * again otherwise. Hints only ever spare a node's read, so the nodes
 * dereferenced are a subset of those a search without them would touch
 * (the IBR and DEBRA+ rules above hold unchanged).
 * The step right or down is a branch, mispredicted about once in two at
 * random keys (callgrind: 13 per 90/5/5 operation at 1,000 keys, tfind
 * under 2). Chosen by data instead (conditional moves, the checks the
 * branch made deferred to level 0), gets measured 0.73x the speed at
 * 1,000 keys and 1.0x at 1M: each step's loads then wait for the one
 * before, down steps included, where a predicted branch runs ahead. */
static cc_force_inline int SLF(find_as)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k,
                                        bool le, unsigned hfrom, sl_node_t **preds,
                                        sl_node_t **succs, sl_cell_t **hit, bool bytes) {
  sl_impl_t *im = m->impl;
  const cc__mkey_t key = *k; /* a local: kept in registers across the acquire loads */
  k = &key;
  const uint64_t kh = sl_key_hint(bytes, k);
  assert(hfrom >= 1);
restart:;
  const bool path = preds != NULL;
  sl_node_t *pred = im->head, *curr = NULL;
  unsigned top = cc_atomic_load_relaxed(&im->top);
  /* Levels from top up are empty as far as this search knows: one NULL
   * marks where the path ends (sl_path_covers), rather than filling them
   * all (a tenth of an update's search at 1,000 keys). */
  if (path && top < SL_MAXL) preds[top] = succs[top] = NULL;
  /* pred's tower word at level i: two words further at each level down */
  sl_word_t *w = sl_word(pred, top - 1);
  for (unsigned i = top; i-- > 0; w += 2) {
    uintptr_t raw = SL_READ(t, &w->link);
    if (raw & SL_MARK) goto restart; /* pred deleted under us (never the head) */
    curr = sl_ptr(raw);
    while (curr) {
      /* relaxed: the hint only steers (see above), nothing is read through it */
      if (i >= hfrom && cc_atomic_load_relaxed(&w[1].hint) > kh) break;
      SLF(prefetch_step)(w, i);
      /* u64: two flags straight from the compare, no -1/0/1 in between */
      const int c = bytes ? sl_cmp_as(true, curr, k) : 0;
      const bool past = bytes ? c > 0 : curr->key > k->u;
      const bool same = bytes ? c == 0 : curr->key == k->u;
      /* Above level 0, a node past the key is left without reading its
       * next word (one load and test fewer per level): a marked one
       * is unlinked by a search that meets it on its own key. Level 0 and
       * exact matches are always checked, so a dead node met there is
       * unlinked and no search turns on it forever. */
      if ((i > 0 || !path) && past) break;
      const unsigned ch = sl_height(curr); /* one load for both uses below */
      if (same && hit) {
        sl_cell_t *live = sl_live(SL_READ(t, sl_val(curr)));
        if (live) {
          *hit = live;
          return SL_FOUND;
        }
      }
      /* A step right lands on curr at its top level (a taller node would
       * have been met one level up), whose link is the first word of the
       * tower: its address needs no load, so the link's load can start
       * before curr's line arrives. Only a node still being built (or the
       * node of k, when le) is met below its top. */
      sl_word_t *cw = &curr->tower[0];
      if (cc_unlikely(ch != i + 1)) cw = sl_word(curr, i);
      uintptr_t sraw = SL_READ(t, &cw->link);
      if (cc_unlikely(sraw & SL_MARK)) {
        if (!SLF(unlink)(t, pred, i, curr, sl_ptr(sraw))) {
          if (SL_RESTARTABLE) return SL_RETRY;
          goto restart;
        }
        if (SL_RESTARTABLE) return SL_RETRY;
        curr = sl_ptr(sraw);
        continue;
      }
      if (past || (same && !le)) break;
      pred = curr;
      w = cw;
      curr = sl_ptr(sraw);
    }
    if (path) {
      preds[i] = pred;
      succs[i] = curr;
    }
  }
  if (!path) succs[0] = curr;
  return CC_OK;
}

static cc_noinline int SLF(find_u64)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, bool le,
                                     unsigned hfrom, sl_node_t **preds, sl_node_t **succs) {
  return SLF(find_as)(m, t, k, le, hfrom, preds, succs, NULL, false);
}

/* The search of a u64 get (find_as without a path): SL_FOUND (*hit: the
 * live cell of a node of key k), CC_OK (*at: the first node >= k at level
 * 0, or NULL), or SL_RETRY after an unlink when the scheme is restartable. */
static cc_noinline int SLF(lookup_u64)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, sl_node_t **at,
                                       sl_cell_t **hit) {
  return SLF(find_as)(m, t, k, false, 1, NULL, at, hit, false);
}

static cc_noinline int SLF(find_bytes)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, bool le,
                                       unsigned hfrom, sl_node_t **preds, sl_node_t **succs,
                                       sl_cell_t **hit) {
  return SLF(find_as)(m, t, k, le, hfrom, preds, succs, hit, true);
}

static inline int SLF(find)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, bool le,
                            unsigned hfrom, sl_node_t **preds, sl_node_t **succs) {
  if (cc_likely(m->key_kind == CC_KEY_U64)) return SLF(find_u64)(m, t, k, le, hfrom, preds, succs);
  return SLF(find_bytes)(m, t, k, le, hfrom, preds, succs, NULL);
}

/* ------------------------------------------------------------------ lifetime */

static void SLF(retire_node)(cc__smr_thr_t *t, sl_node_t *n) {
  sl_desc_t *d;
  sl_cell_t *c = sl_word_cell(cc_atomic_load_acquire(sl_val(n)), &d);
  if (d) CC__SMR(S, retire)(t, d);
  if (c != &n->cell) CC__SMR(S, retire)(t, sl_cell_owner(c));
  CC__SMR(S, retire)(t, n);
}

static inline void SLF(unref)(cc__smr_thr_t *t, sl_node_t *n) {
  if (cc_atomic_fetch_sub_acq_rel(&n->hdr.sl.refs, 1) == 1) SLF(retire_node)(t, n);
}

/* After n's word went terminal (n marked at every level, our reference
 * held): a search for n's key unlinks it everywhere, then the reference is
 * dropped. Entered and left in the write phase. */
static void SLF(finish)(cc_map_t *m, cc__smr_thr_t *t, sl_node_t *n) {
  sl_node_t *preds[SL_MAXL], *succs[SL_MAXL];
  const cc__mkey_t k = sl_key_of(m, n); /* n is kept by our reference */
  int r;
  do {
    CC__SMR_READ_PHASE(S, t);
    r = SLF(find)(m, t, &k, false, SL_NO_HINTS, preds, succs);
  } while (r == SL_RETRY);
  CC__SMR(S, write_phase)(t);
  SLF(unref)(t, n);
}

static inline void SLF(drop_value)(cc_map_t *m, cc__smr_thr_t *t, sl_node_t *n, sl_cell_t *c) {
  if (m->val_free) CC__SMR(S, retire_fn)(t, c->v, m->val_free, m->val_ctx);
  if (c != &n->cell) CC__SMR(S, retire)(t, sl_cell_owner(c));
}

/* ------------------------------------------------------------------ point operations */

typedef struct {
  void *old;
  sl_node_t *n;
} SLF(res_t);

/* Enters the write phase of a CAS on n's value word, which currently
 * holds cell c: n and the block carrying c are what the CAS and the
 * retirement that follows touch (DEBRA+ slots). */
static inline void SLF(value_write_phase)(cc__smr_thr_t *t, sl_node_t *n, sl_cell_t *c) {
  CC__SMR(S, protect)(t, 0, n);
  CC__SMR(S, protect)(t, 1, sl_cell_owner(c));
  CC__SMR(S, write_phase)(t);
}

/* The node holding k and its live cell (*np, *vp: the value word read,
 * *cp), or why not: CC_NOT_FOUND, a retry status from find, or the outcome
 * of helping a pending pop_first on it. */
static int SLF(locate_live)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, sl_node_t **preds,
                            sl_node_t **succs, sl_node_t **np, uintptr_t *vp, sl_cell_t **cp) {
  int r = SLF(find)(m, t, k, false, 1, preds, succs);
  if (r != CC_OK) return r;
  sl_node_t *n = succs[0];
  if (!n || sl_cmp(m, n, k) != 0) return CC_NOT_FOUND;
  uintptr_t v = SL_READ(t, sl_val(n));
  sl_cell_t *c = sl_live(v);
  if (!c) {
    if ((v & (SL_DESC | SL_DEAD)) == SL_DESC) return SLF(help)(m, t, n, v);
    return CC_NOT_FOUND;
  }
  *np = n, *vp = v, *cp = c;
  return CC_OK;
}

static sl_node_t *SLF(new_node)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, void *val,
                                unsigned h);

/* The node an insert links (or a put installs as its value's carrier),
 * allocated in the write phase of the first attempt that needs one and
 * kept for the next attempts: an insert that finds its key allocates
 * nothing. */
typedef struct {
  sl_node_t *n;
  unsigned h; /* drawn, and top raised to it, before the first search */
  void *val;
} SLF(fresh_t);

static inline sl_node_t *SLF(fresh_node)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k,
                                          SLF(fresh_t) *f) {
  if (!f->n) f->n = SLF(new_node)(m, t, k, f->val, f->h);
  return f->n;
}

static int SLF(insert_try)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, SLF(fresh_t) *f,
                           bool put, SLF(res_t) *res, sl_node_t **preds, sl_node_t **succs) {
  int r = SLF(find)(m, t, k, false, f->h, preds, succs);
  if (r != CC_OK) return r;
  sl_node_t *succ = succs[0];
  if (succ && sl_cmp(m, succ, k) == 0) {
    uintptr_t v = SL_READ(t, sl_val(succ));
    sl_cell_t *c = sl_live(v);
    if (!c) return SLF(help)(m, t, succ, v);
    if (!put) return CC_EXISTS;
    void *old = c->v;
    SLF(value_write_phase)(t, succ, c);
    sl_node_t *n = SLF(fresh_node)(m, t, k, f);
    if (!n) return CC_ENOMEM;
    if (!cc_atomic_cas_strong_seq_cst(sl_val(succ), &v, (uintptr_t)&n->cell)) return SL_RETRY;
    res->old = old;
    SLF(drop_value)(m, t, succ, c);
    return CC_EXISTS;
  }
  CC__SMR(S, protect)(t, 0, preds[0]);
  CC__SMR(S, protect)(t, 1, succ);
  /* for build; the insert raised top to n's height before its search */
  if (SL_RESTARTABLE)
    for (unsigned i = 1; i < f->h && i < SL_PATH_INSERT_MAXH; i++) {
      CC__SMR(S, protect)(t, 2 * i, preds[i]);
      CC__SMR(S, protect)(t, 2 * i + 1, succs[i]);
    }
  CC__SMR(S, write_phase)(t);
  sl_node_t *n = SLF(fresh_node)(m, t, k, f);
  if (!n) return CC_ENOMEM;
  cc_atomic_store_relaxed(sl_next(n, 0), (uintptr_t)succ); /* n unpublished */
  uintptr_t exp = (uintptr_t)succ;
  /* seq_cst: an insert at the front must be ordered against a pop's head
   * read in resolve (the two meet on head.next[0]). Release publishes n. */
  if (!cc_atomic_cas_strong_seq_cst(sl_next(preds[0], 0), &exp, (uintptr_t)n)) return SL_RETRY;
  return CC_OK;
}

/* Links n at level i, n linked at level 0. `preds`/`succs` hold a path
 * from a search made in this operation when `have` is set (under DEBRA+,
 * only the insert's own path, kept in slots: see build). */
static int SLF(link_level)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, sl_node_t *n,
                           unsigned i, sl_node_t **preds, sl_node_t **succs, bool have) {
  if (!have) {
    int r = SLF(find)(m, t, k, false, sl_height(n), preds, succs);
    if (r != CC_OK) return r;
  }
  if (cc_atomic_load_acquire(sl_val(n)) & SL_DEAD) return SL_STOP;
  uintptr_t old = cc_atomic_load_acquire(sl_next(n, i));
  if (old & SL_MARK) return SL_STOP;
  sl_node_t *pred = preds[i], *succ = succs[i];
  if (succ == n) return CC_OK;
  if (have) SLF(check_held)(m, t, pred), SLF(check_held)(m, t, succ); /* from insert_try */
  CC__SMR(S, protect)(t, 0, pred);
  CC__SMR(S, protect)(t, 1, succ);
  CC__SMR(S, write_phase)(t);
  /* n's hint before n.next[i]: the CAS linking n at level i publishes both */
  cc_atomic_store_relaxed(sl_hint(n, i), sl_hint_of(m, succ));
  /* n.next[i] by CAS: a deleter that marked it first stops the build. */
  if (!cc_atomic_cas_strong_acq_rel(sl_next(n, i), &old, (uintptr_t)succ)) return SL_RETRY;
  uintptr_t exp = (uintptr_t)succ;
  if (!cc_atomic_cas_strong_acq_rel(sl_next(pred, i), &exp, (uintptr_t)n)) return SL_RETRY;
  cc_atomic_store_relaxed(sl_hint(pred, i), sl_hint_of(m, n));
  return CC_OK;
}

/* Upper levels of n (linked at level 0), then the inserter's reference.
 * The path of the insert's own search is tried first where it is safe. */
static void SLF(build)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, sl_node_t *n,
                       sl_node_t **preds, sl_node_t **succs) {
  /* Under DEBRA+ the path is usable while it is still the insert's own
   * (protected by insert_try); a level that had to search again leaves
   * an unprotected one in preds/succs. */
  volatile bool kept = true;
  for (volatile unsigned i = 1; i < sl_height(n); i++) {
    int r;
    volatile bool usable = kept && (!SL_RESTARTABLE || i < SL_PATH_INSERT_MAXH);
    volatile unsigned tries = 0;
    do {
      CC__SMR_READ_PHASE(S, t);
      r = SLF(link_level)(m, t, k, n, i, preds, succs, usable && tries == 0);
      tries++;
    } while (r == SL_RETRY);
    kept = !SL_RESTARTABLE || (usable && tries == 1);
    if (r == SL_STOP) break;
  }
  CC__SMR(S, write_phase)(t);
  if (cc_atomic_load_acquire(sl_val(n)) & SL_DEAD) {
    /* Deleted while we built: a level we linked after the deleter's search
     * would be left behind without a search of ours. */
    SLF(mark_all)(n);
    SLF(finish)(m, t, n);
  } else {
    SLF(unref)(t, n);
  }
}

static inline void SLF(desc_stock)(cc_map_t *m, cc__smr_thr_t *t);

static sl_node_t *SLF(new_node)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, void *val,
                                unsigned h) {
  size_t klen = m->key_kind == CC_KEY_BYTES ? k->len : 0;
  if (klen > SIZE_MAX / 2) return NULL;
  sl_node_t *n = CC__SMR(S, alloc)(t, sl_node_size(h, klen));
  if (!n) return NULL;
  sl_hdr_init(n, h, 2);
  n->key = m->key_kind == CC_KEY_U64 ? k->u : klen;
  sl_tower_empty(n, h);
  n->cell.v = val;
  cc_atomic_store_relaxed(sl_val(n), (uintptr_t)&n->cell);
  if (klen) memcpy((unsigned char *)sl_kbytes(n), k->p, klen);
  return n;
}

static int SLF(insert)(cc_map_t *m, const cc__mkey_t *k, void *val, bool put, void **old) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t || !cc__map_reserve(m, t, CC__SMR(S, reserve), false)) return CC_ENOMEM;
  SLF(fresh_t) f = {NULL, sl_new_height(m), val};
  sl_raise_top(m->impl, f.h);
  SLF(res_t) res = {0};
  sl_node_t *preds[SL_MAXL], *succs[SL_MAXL];
  int r;
  CC__SMR(S, begin)(t);
  do {
    CC__SMR_READ_PHASE(S, t);
    r = SLF(insert_try)(m, t, k, &f, put, &res, preds, succs);
  } while (r == SL_RETRY);
  if (r == CC_OK) {
    cc__map_count_add(m, 1);
    SLF(build)(m, t, k, f.n, preds, succs);
  }
  /* An unused node was never published (allocated for an absent key that
   * a later attempt found present). */
  if (f.n && r != CC_OK && !(r == CC_EXISTS && put)) CC__SMR(S, dealloc)(t, f.n);
  CC__SMR(S, end)(t);
  SLF(desc_stock)(m, t);
  if (r == CC_EXISTS && put && old) *old = res.old;
  return r;
}

static int SLF(get_try)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, void **out) {
  sl_node_t *preds[SL_MAXL], *succs[SL_MAXL];
  sl_node_t *n = NULL;
  sl_cell_t *hit;
  int r;
  if (cc_likely(m->key_kind == CC_KEY_U64)) {
    r = SLF(lookup_u64)(m, t, k, &n, &hit);
  } else {
    r = SLF(find_bytes)(m, t, k, false, 1, preds, succs, &hit);
    n = succs[0];
  }
  if (r == SL_FOUND) {
    *out = hit->v; /* at the read of its value word */
    return CC_OK;
  }
  if (r != CC_OK) return r;
  if (!n || sl_cmp(m, n, k) != 0) return CC_NOT_FOUND;
  uintptr_t v = SL_READ(t, sl_val(n));
  sl_cell_t *c = sl_live(v);
  if (c) {
    *out = c->v;
    return CC_OK;
  }
  if ((v & (SL_DESC | SL_DEAD)) == SL_DESC) return SLF(help)(m, t, n, v);
  return CC_NOT_FOUND;
}

static int SLF(get)(cc_map_t *m, const cc__mkey_t *k, void **val) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t) return CC_ENOMEM;
  void *out = NULL;
  int r;
  CC__SMR(S, begin)(t);
  do {
    CC__SMR_READ_PHASE(S, t);
    r = SLF(get_try)(m, t, k, &out);
  } while (r == SL_RETRY);
  CC__SMR(S, end)(t);
  if (r == CC_OK) *val = out;
  return r;
}

static int SLF(remove_try)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, SLF(res_t) *res,
                           sl_node_t **preds, sl_node_t **succs) {
  /* set only on CC_OK; initialised for gcc -O3, which cannot see that */
  sl_node_t *n = NULL;
  uintptr_t v = 0;
  sl_cell_t *c = NULL;
  int r = SLF(locate_live)(m, t, k, preds, succs, &n, &v, &c);
  if (r != CC_OK) return r;
  void *old = c->v;
  if (SL_RESTARTABLE && sl_height(n) <= SL_PATH_REMOVE_MAXH && sl_path_covers(preds, sl_height(n)))
    for (unsigned i = 0; i < sl_height(n); i++) CC__SMR(S, protect)(t, 2 + i, preds[i]);
  SLF(value_write_phase)(t, n, c);
  if (!cc_atomic_cas_strong_seq_cst(sl_val(n), &v, v | SL_DEAD)) return SL_RETRY;
  res->old = old;
  res->n = n;
  return CC_OK;
}

/* Unlinks n (marked at every level) through the path of the search that
 * found it, in this operation: true when n was linked after preds[i] at
 * every level then and each unlinking CAS succeeded, so n is unreachable
 * (marked, it is never linked again). Else a search must finish the job.
 * The path's nodes must still be protected: under DEBRA+ only up to
 * SL_PATH_REMOVE_MAXH levels (path_kept). */
static bool SLF(unlink_path)(cc_map_t *m, cc__smr_thr_t *t, sl_node_t *n, sl_node_t **preds,
                             sl_node_t **succs) {
  if (!sl_path_covers(preds, sl_height(n))) return false;
  for (unsigned i = sl_height(n); i-- > 0;) {
    if (succs[i] != n) return false;
    /* preds[i] is protected (slot 2 + i under DEBRA+, see remove_try);
     * succ need not be: the CAS succeeds only while n, whose link to succ
     * is frozen, is still linked, and then succ is too. */
    sl_node_t *succ = sl_ptr(cc_atomic_load_acquire(sl_next(n, i)));
    SLF(check_held)(m, t, preds[i]);
    if (!SLF(unlink_cas)(preds[i], i, n, succ)) return false;
  }
  return true;
}

/* The deleter's part once n's word is terminal (write phase). `preds` and
 * `succs`: the path to n from this operation's search, or NULL. */
static void SLF(deleted)(cc_map_t *m, cc__smr_thr_t *t, sl_node_t *n, sl_cell_t *c,
                         sl_node_t **preds, sl_node_t **succs) {
  cc__map_count_add(m, -1);
  if (m->val_free) CC__SMR(S, retire_fn)(t, c->v, m->val_free, m->val_ctx);
  SLF(mark_all)(n);
  if (preds && SLF(path_kept)(sl_height(n), SL_PATH_REMOVE_MAXH) && SLF(unlink_path)(m, t, n, preds, succs))
    SLF(unref)(t, n);
  else SLF(finish)(m, t, n);
}

static int SLF(remove)(cc_map_t *m, const cc__mkey_t *k, void **val) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t || !cc__map_reserve(m, t, CC__SMR(S, reserve), false)) return CC_ENOMEM;
  SLF(res_t) res = {0};
  sl_node_t *preds[SL_MAXL], *succs[SL_MAXL];
  int r;
  CC__SMR(S, begin)(t);
  do {
    CC__SMR_READ_PHASE(S, t);
    r = SLF(remove_try)(m, t, k, &res, preds, succs);
  } while (r == SL_RETRY);
  if (r == CC_OK)
    SLF(deleted)(m, t, res.n, (sl_cell_t *)(cc_atomic_load_acquire(sl_val(res.n)) & ~SL_BITS), preds,
                 succs);
  CC__SMR(S, end)(t);
  if (r == CC_OK && val) *val = res.old;
  return r;
}

static int SLF(replace_try)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *k, void *expected,
                            sl_cellblk_t *nb) {
  sl_node_t *preds[SL_MAXL], *succs[SL_MAXL];
  /* set only on CC_OK; initialised for gcc -O3, which cannot see that */
  sl_node_t *n = NULL;
  uintptr_t v = 0;
  sl_cell_t *c = NULL;
  int r = SLF(locate_live)(m, t, k, preds, succs, &n, &v, &c);
  if (r != CC_OK) return r;
  if (c->v != expected) return CC_CHANGED;
  SLF(value_write_phase)(t, n, c);
  if (!cc_atomic_cas_strong_seq_cst(sl_val(n), &v, (uintptr_t)&nb->cell)) return SL_RETRY;
  SLF(drop_value)(m, t, n, c);
  return CC_OK;
}

static int SLF(replace)(cc_map_t *m, const cc__mkey_t *k, void *expected, void *desired) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t || !cc__map_reserve(m, t, CC__SMR(S, reserve), false)) return CC_ENOMEM;
  sl_cellblk_t *nb = CC__SMR(S, alloc)(t, sizeof *nb);
  if (!nb) return CC_ENOMEM;
  nb->cell.v = desired;
  int r;
  CC__SMR(S, begin)(t);
  do {
    CC__SMR_READ_PHASE(S, t);
    r = SLF(replace_try)(m, t, k, expected, nb);
  } while (r == SL_RETRY);
  CC__SMR(S, end)(t);
  if (r != CC_OK) CC__SMR(S, dealloc)(t, nb);
  return r;
}

/* ------------------------------------------------------------------ navigation */

typedef struct {
  uint64_t key;
  void *val;
} SLF(kv_t);

static int SLF(nav_try)(cc_map_t *m, cc__smr_thr_t *t, uint64_t key, cc__nav_t dir,
                        SLF(kv_t) *out) {
  sl_node_t *preds[SL_MAXL], *succs[SL_MAXL];
  const cc__mkey_t k = {.u = key};
  bool le = dir == CC__NAV_FLOOR || dir == CC__NAV_HIGHER;
  int r = SLF(find)(m, t, &k, le, 1, preds, succs);
  if (r != CC_OK) return r;
  sl_node_t *pred = preds[0], *succ = succs[0];
  bool above = dir == CC__NAV_CEILING || dir == CC__NAV_HIGHER;
  sl_node_t *n = above ? succ : (pred == ((sl_impl_t *)m->impl)->head ? NULL : pred);
  if (!n) return CC_NOT_FOUND; /* at the read that showed pred -> succ */
  uintptr_t v1 = SL_READ(t, sl_val(n));
  if (!sl_live(v1)) return SLF(help)(m, t, n, v1);
  if (SL_READ(t, sl_next(pred, 0)) != (uintptr_t)succ) return SL_RETRY;
  if (SL_READ(t, sl_val(n)) != v1) return SL_RETRY;
  out->key = n->key;
  out->val = sl_live(v1)->v;
  return CC_OK;
}

static int SLF(nav)(cc_map_t *m, uint64_t key, cc__nav_t dir, uint64_t *found, void **val) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t) return CC_ENOMEM;
  SLF(kv_t) out = {0, NULL};
  int r;
  CC__SMR(S, begin)(t);
  do {
    CC__SMR_READ_PHASE(S, t);
    r = SLF(nav_try)(m, t, key, dir, &out);
  } while (r == SL_RETRY);
  CC__SMR(S, end)(t);
  if (r == CC_OK) {
    if (found) *found = out.key;
    if (val) *val = out.val;
  }
  return r;
}

static int SLF(first)(cc_map_t *m, bool last, uint64_t *key, void **val) {
  int r = last ? SLF(nav)(m, UINT64_MAX, CC__NAV_FLOOR, key, val)
               : SLF(nav)(m, 0, CC__NAV_CEILING, key, val);
  return r == CC_NOT_FOUND ? CC_EMPTY : r;
}

/* ------------------------------------------------------------------ pop_first */

typedef struct {
  sl_node_t *n;
  sl_cell_t *c;
} SLF(pop_res_t);

static int SLF(pop_try)(cc_map_t *m, cc__smr_thr_t *t, sl_desc_t *d, SLF(pop_res_t) *res) {
  sl_impl_t *im = m->impl;
  sl_node_t *head = im->head;
  sl_node_t *n = sl_ptr(SL_READ(t, sl_next(head, 0)));
  if (!n) return CC_EMPTY; /* at this read */
  uintptr_t sraw = SL_READ(t, sl_next(n, 0));
  if (sraw & SL_MARK) {
    SLF(unlink)(t, head, 0, n, sl_ptr(sraw));
    return SL_RETRY;
  }
  uintptr_t v = SL_READ(t, sl_val(n));
  sl_cell_t *c = sl_live(v);
  if (!c) return SLF(help)(m, t, n, v);
  if (!d) return SL_NEED_DESC;
  SLF(value_write_phase)(t, n, c);
  d->n = n;
  d->c = c;
  /* seq_cst with resolve's head read: see there. */
  if (!cc_atomic_cas_strong_seq_cst(sl_val(n), &v, (uintptr_t)d | SL_DESC)) return SL_RETRY;
  SLF(resolve)(im, n, d, c);
  if (cc_atomic_load_acquire(sl_val(n)) != ((uintptr_t)d | SL_DESC | SL_DEAD)) return SL_LOST;
  res->n = n;
  res->c = c;
  return CC_OK;
}

/* A descriptor for one pop attempt: a spare (this thread's slot first,
 * then the others), else a new one; NULL if neither is to be had. */
static sl_desc_t *SLF(desc_get)(cc_map_t *m, cc__smr_thr_t *t) {
  sl_impl_t *im = m->impl;
  unsigned mine = sl_spare_slot();
  for (unsigned i = 0; i < SL_SPARES; i++) {
    cc_atomic(uintptr_t) *slot = &im->spare[(mine + i) % SL_SPARES];
    if (!cc_atomic_load_relaxed(slot)) continue;
    sl_desc_t *d = (sl_desc_t *)cc_atomic_exchange_acq_rel(slot, 0);
    if (d) return d;
  }
  return CC__SMR(S, alloc)(t, sizeof(sl_desc_t));
}

/* Gives back an unpublished descriptor, or tops the spare slot up. */
static void SLF(desc_put)(cc_map_t *m, cc__smr_thr_t *t, sl_desc_t *d) {
  sl_impl_t *im = m->impl;
  if (!d) d = CC__SMR(S, alloc)(t, sizeof *d);
  if (!d) return;
  uintptr_t old = cc_atomic_exchange_acq_rel(&im->spare[sl_spare_slot()], (uintptr_t)d);
  if (old) CC__SMR(S, dealloc)(t, (void *)old);
}

/* Operations that may fail cleanly on allocation (insert) keep this
 * thread's spare stocked, so pops rarely have to allocate. */
static inline void SLF(desc_stock)(cc_map_t *m, cc__smr_thr_t *t) {
  sl_impl_t *im = m->impl;
  if (cc_unlikely(!cc_atomic_load_relaxed(&im->spare[sl_spare_slot()]))) SLF(desc_put)(m, t, NULL);
}

static int SLF(pop_first)(cc_map_t *m, uint64_t *key, void **val) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t) return CC_ENOMEM;
  for (;;) {
    (void)cc__map_reserve(m, t, CC__SMR(S, reserve), true); /* each attempt may retire */
    /* volatile: set before the read phase's sigsetjmp, read after it */
    sl_desc_t *volatile d = SLF(desc_get)(m, t);
    SLF(pop_res_t) res = {NULL, NULL};
    int r;
    CC__SMR(S, begin)(t);
    do {
      CC__SMR_READ_PHASE(S, t);
      r = SLF(pop_try)(m, t, d, &res);
    } while (r == SL_RETRY);
    if (r == SL_LOST) {
      CC__SMR(S, retire)(t, d); /* published: others may still read it */
      CC__SMR(S, end)(t);
      continue;
    }
    uint64_t k = 0;
    void *v = NULL;
    if (r == CC_OK) {
      k = res.n->key;
      v = res.c->v;
      SLF(deleted)(m, t, res.n, res.c, NULL, NULL); /* d now belongs to the popped node */
    }
    CC__SMR(S, end)(t);
    if (r == SL_NEED_DESC) {
      /* No spare and no memory: pop_first reports only CC_OK or CC_EMPTY,
       * so wait for a spare (a pop giving one back, an insert stocking
       * one) or for memory, and look at the map again. */
      sched_yield();
      continue;
    }
    SLF(desc_put)(m, t, r == CC_OK ? NULL : d);
    if (r != CC_OK) return r;
    if (key) *key = k;
    if (val) *val = v;
    return CC_OK;
  }
}

/* ------------------------------------------------------------------ range */

typedef struct {
  sl_node_t *volatile last; /* cursor: the last node reported (protected) */
  volatile unsigned pair;   /* slot pair holding it: 4-5 or 6-7 */
  sl_node_t *n;             /* out: next node to report, and its cell */
  sl_cell_t *c;
} SLF(cursor_t);

/* Finds the next live node in [lo, hi] after the cursor. */
static int SLF(range_step)(cc_map_t *m, cc__smr_thr_t *t, const cc__mkey_t *lo,
                           const cc__mkey_t *hi, SLF(cursor_t) *cur) {
  sl_node_t *preds[SL_MAXL], *succs[SL_MAXL];
  sl_node_t *from = cur->last, *curr = NULL;
  int r;
  if (!from) {
    if ((r = SLF(find)(m, t, lo, false, 1, preds, succs)) != CC_OK) return r;
    curr = succs[0];
  }
  for (;;) {
    if (from) {
      uintptr_t sraw = SL_READ(t, sl_next(from, 0));
      if (!(sraw & SL_MARK)) {
        curr = sl_ptr(sraw);
      } else {
        /* from is being deleted: never step out of it; search past its key. */
        const cc__mkey_t k = sl_key_of(m, from);
        if ((r = SLF(find)(m, t, &k, true, 1, preds, succs)) != CC_OK) return r;
        curr = succs[0];
      }
    }
    if (!curr || sl_cmp(m, curr, hi) > 0) return SL_DONE;
    uintptr_t v = SL_READ(t, sl_val(curr));
    if ((v & (SL_DESC | SL_DEAD)) == SL_DESC) return SLF(help)(m, t, curr, v);
    if (sl_live(v)) {
      cur->n = curr;
      cur->c = sl_live(v);
      return SL_EMIT;
    }
    from = curr;
  }
}

static int SLF(range)(cc_map_t *m, const cc__mkey_t *lo, const cc__mkey_t *hi,
                      cc__map_visit_fn fn, void *arg) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t) return CC_ENOMEM;
  SLF(cursor_t) cur = {NULL, 0, NULL, NULL};
  int ret = CC_OK;
  /* DEBRA+: the callback gets values, which slots do not protect (they are
   * retired through retire_fn), and may run any code. The scan runs as a
   * user section instead: never restarted, never neutralised, holding
   * reclamation back like DEBRA while it lasts. */
  if (SL_RESTARTABLE) cc_smr_enter(m->smr);
  CC__SMR(S, begin)(t);
  for (;;) {
    int r;
    do {
      CC__SMR_READ_PHASE(S, t);
      r = SLF(range_step)(m, t, lo, hi, &cur);
    } while (r == SL_RETRY);
    if (r == SL_DONE) break;
    /* Protect the node and cell in the pair not holding the old cursor,
     * so the cursor stays protected until it is replaced. */
    unsigned p = cur.pair == 4 ? 6 : 4;
    CC__SMR(S, protect)(t, p, cur.n);
    CC__SMR(S, protect)(t, p + 1, sl_cell_owner(cur.c));
    CC__SMR(S, write_phase)(t);
    cur.last = cur.n;
    cur.pair = p;
    const cc__mkey_t k = sl_key_of(m, cur.n);
    if ((ret = fn(&k, cur.c->v, arg)) != 0) break;
  }
  CC__SMR(S, end)(t);
  if (SL_RESTARTABLE) cc_smr_leave(m->smr);
  return ret;
}

/* ------------------------------------------------------------------ life of the map */

static void SLF(destroy)(cc_map_t *m);

static int SLF(init)(cc_map_t *m) {
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t) return CC_ENOMEM;
  sl_impl_t *im = cc_alloc_aligned(sizeof *im, CC__LINE);
  if (!im) return CC_ENOMEM;
  memset(im, 0, sizeof *im);
  sl_node_t *head = CC__SMR(S, alloc)(t, sl_node_size(SL_MAXL, 0));
  if (!head) {
    cc_free(im, sizeof *im);
    return CC_ENOMEM;
  }
  sl_hdr_init(head, SL_MAXL, 1);
  head->key = 0;
  cc_atomic_store_relaxed(sl_val(head), 0);
  sl_tower_empty(head, SL_MAXL);
  im->head = head;
  cc_atomic_store_relaxed(&im->top, 1);
  m->impl = im;
  for (unsigned i = 0; i < SL_SPARES; i++) {
    sl_desc_t *d = CC__SMR(S, alloc)(t, sizeof *d);
    cc_atomic_store_relaxed(&im->spare[i], (uintptr_t)d);
    if (!d) {
      SLF(destroy)(m);
      return CC_ENOMEM;
    }
  }
  return CC_OK;
}

/* Single-threaded: every node still linked at level 0 is freed now, with
 * its live value (val_free); everything unlinked was retired already. */
static void SLF(destroy)(cc_map_t *m) {
  sl_impl_t *im = m->impl;
  if (!im) return;
  cc__smr_thr_t *t = cc__smr_thr(m->smr);
  if (!t) return; /* cannot register this thread: leak rather than crash */
  sl_node_t *n = sl_ptr(cc_atomic_load_acquire(sl_next(im->head, 0)));
  while (n) {
    sl_node_t *next = sl_ptr(cc_atomic_load_relaxed(sl_next(n, 0)));
    uintptr_t v = cc_atomic_load_relaxed(sl_val(n));
    sl_desc_t *d;
    sl_cell_t *c = sl_word_cell(v, &d);
    if (d) CC__SMR(S, dealloc)(t, d);
    if (!(v & SL_DEAD) && m->val_free) m->val_free(c->v, m->val_ctx);
    if (c != &n->cell) CC__SMR(S, dealloc)(t, sl_cell_owner(c));
    CC__SMR(S, dealloc)(t, n);
    n = next;
  }
  for (unsigned i = 0; i < SL_SPARES; i++) {
    void *d = (void *)cc_atomic_load_relaxed(&im->spare[i]);
    if (d) CC__SMR(S, dealloc)(t, d);
  }
  CC__SMR(S, dealloc)(t, im->head);
  cc_free(im, sizeof *im);
  m->impl = NULL;
}

const cc__map_ops_t CC__SMR_XCAT3(cc__skiplist_, S, _ops) = {
  .insert = SLF(insert),
  .get = SLF(get),
  .remove = SLF(remove),
  .replace = SLF(replace),
  .nav = SLF(nav),
  .first = SLF(first),
  .pop_first = SLF(pop_first),
  .range = SLF(range),
  .init = SLF(init),
  .destroy = SLF(destroy),
};

#undef SLF
#undef SL_READ
