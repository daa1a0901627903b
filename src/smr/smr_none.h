/* Internal: NONE — never reclaims before the domain is destroyed. The
 * baseline of the benchmarks: retiring costs a list push and a counter. */
#ifndef CCOLL_SMR_NONE_H
#define CCOLL_SMR_NONE_H

#define CC__SMR_READ_PHASE_none(t) ((void)(t))

static inline void cc__smr_none_begin(cc__smr_thr_t *t) { t->depth++; }
static inline void cc__smr_none_end(cc__smr_thr_t *t) { t->depth--; }

static inline uintptr_t cc__smr_none_read(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src) {
  (void)t;
  return cc_atomic_load_acquire(src);
}

static inline cc__smr_pair_t cc__smr_none_read_pair(cc__smr_thr_t *t, cc_atomic(uintptr_t) *a,
                                                  cc_atomic(uintptr_t) *b) {
  (void)t;
  return cc__smr_load_pair(a, b);
}

/* `word`: a header size word (cc__smr_size_word), 0 for none. */
static inline void *cc__smr_none_alloc_word(uint32_t word) {
  return word != 0 ? cc__smr_block_new(word) : NULL;
}

static inline void *cc__smr_none_alloc(cc__smr_thr_t *t, size_t size) {
  (void)t;
  return cc__smr_none_alloc_word(cc__smr_size_word(size, 0));
}

/* With a prefix for the chain word, as IBR's for its birth: a packed
 * block has no word of its own to spare. */
static inline void *cc__smr_none_alloc_packed(cc__smr_thr_t *t, size_t size) {
  (void)t;
  return cc__smr_none_alloc_word(cc__smr_size_word(size, CC__SMR_PACKED | CC__SMR_PREFIXED));
}

static inline void cc__smr_none_dealloc(cc__smr_thr_t *t, void *node) {
  cc__smr_node_free(t, (cc__smr_hdr_t *)node);
}

/* Chained through the block's word (cc__smr_word), which no reader uses
 * under NONE: a limbo block per 63 retirements, never recycled, would be
 * a cold line every four (doc/smr.md). */
static inline void cc__smr_none_retire(cc__smr_thr_t *t, void *node) {
  cc__smr_hdr_t *h = (cc__smr_hdr_t *)node;
  *cc__smr_word(h) = (uintptr_t)t->chain;
  t->chain = h;
  t->chain_n++;
  cc_atomic_add_owner_u64(&t->st_retired, 1);
}

static inline void cc__smr_none_retire_fn(cc__smr_thr_t *t, void *p, void (*fn)(void *, void *),
                                          void *ctx) {
  cc__smr_retire_fn_slow(t, p, fn, ctx, cc__smr_none_retire);
}

static inline void cc__smr_none_protect(cc__smr_thr_t *t, unsigned slot, const void *node) {
  (void)t, (void)slot, (void)node;
}

/* Before an operation's first write (smr_types.h, cc__smr_reserve): a
 * record only, NONE's limbo chains through the retired blocks' words. */
static inline bool cc__smr_none_reserve(cc__smr_thr_t *t, bool rec) {
  return cc__smr_reserve(t, false, rec);
}

static inline void cc__smr_none_write_phase(cc__smr_thr_t *t) { (void)t; }

#endif /* CCOLL_SMR_NONE_H */
