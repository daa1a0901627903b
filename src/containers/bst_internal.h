/* Internal: the BST's node layout and the scheme-independent helpers
 * shared by the four instantiations of bst_impl.h (see its top comment for
 * the algorithm), plus a structural check for the tests. Never installed. */
#ifndef CCOLL_BST_INTERNAL_H
#define CCOLL_BST_INTERNAL_H

#include "ccoll/alloc.h"
#include "containers/map_internal.h"

#define BST_FLAG ((uintptr_t)1)
#define BST_TAG ((uintptr_t)2)
#define BST_MARKS (BST_FLAG | BST_TAG)
/* Set on every edge whose target is a leaf (nodes are at least 8-byte
 * aligned, so the bit is free): a seek tells a leaf from the edge already
 * in a register, and tests "marked or leaf" with one branch per level. A
 * node is a leaf or internal for its whole life, so the bit never changes
 * while the edge names the same node. */
#define BST_LEAF ((uintptr_t)4)
#define BST_BITS (BST_MARKS | BST_LEAF)

/* Nodes are packed blocks (CC__SMR(S, alloc_packed)), allocated at their
 * size after a packed block's 8-byte header: a u64 leaf is 24 bytes, a u64
 * internal node 32 (64 bytes per key; a line each cost 128). The key sits
 * at the same offset in both kinds, right before the edges, so a seek step
 * reads bytes 8..32 of the node (key, both edges; one line under DEBRA,
 * whose nodes come from mimalloc's 32-byte bin without a prefix). The
 * sentinel rank and the routing flag live in the
 * header's spare word (free for the block's owner): bits 0..7 `inf`
 * (0: real key; 1..3: sentinels inf0..inf2), bit 8 `le` (bytes internal
 * nodes: left iff key <= K). Both are written before the node is
 * published and never after. A bytes key follows the union in both kinds
 * (one offset for `bytes`). */
typedef struct bst_node {
  cc__smr_hdr8_t hdr;
  uint64_t key; /* u64 key, or a bytes key's length; UINT64_MAX in u64 sentinels */
  union {
    cc_atomic(uintptr_t) child[2]; /* internal */
    void *val;                     /* leaf: immutable once published */
  } u;
  unsigned char bytes[]; /* bytes key */
} bst_node_t;

#define BST_LE_BIT 0x100u

static inline unsigned bst_inf(const bst_node_t *n) { return n->hdr.spare & 0xffu; }
static inline bool bst_le(const bst_node_t *n) { return (n->hdr.spare & BST_LE_BIT) != 0; }
static inline void bst_set_marks(bst_node_t *n, unsigned inf, bool le) {
  n->hdr.spare = inf | (le ? BST_LE_BIT : 0);
}

/* A u64 leaf ends with its value; everything else holds both edges. */
#define BST_U64_LEAF_SIZE (offsetof(bst_node_t, u) + sizeof(void *))
#define BST_INNER_SIZE offsetof(bst_node_t, bytes)
_Static_assert(BST_U64_LEAF_SIZE == 24 && BST_INNER_SIZE == 32, "u64 nodes: 24 and 32 bytes");

static inline bst_node_t *bst_ptr(uintptr_t e) { return (bst_node_t *)(e & ~BST_BITS); }

/* The edge value naming leaf l, unmarked. */
static inline uintptr_t bst_leaf_edge(const bst_node_t *l) { return (uintptr_t)l | BST_LEAF; }

/* What a seek looks for: a key (strict: just above it), or the leftmost leaf. */
enum { BST_AT = 0, BST_ABOVE = 1, BST_LEFTMOST = 2 };
typedef struct {
  const cc__mkey_t *k;
  int mode;
} bst_target_t;

/* Targets the u64 fast seek handles (bst_impl.h, seek_u64). */
static inline bool bst_fast_target(const cc_map_t *m, const bst_target_t *tg) {
  return m->key_kind == CC_KEY_U64 && tg->mode == BST_AT && tg->k->u != UINT64_MAX;
}

typedef struct {
  bst_node_t *anc, *succ, *par, *leaf;
  uintptr_t pe;           /* the edge par -> leaf as read */
  unsigned adir, pdir;    /* anc -> succ, par -> leaf */
  const bst_node_t *lo;   /* last right turn (range lower bound), NULL: none */
  const bst_node_t *hi;   /* last left turn (range upper bound) */
} bst_seek_t;

/* Key vs node: a sentinel is above every real key. */
static inline int bst_cmp(bool u64, const cc__mkey_t *k, const bst_node_t *n) {
  if (bst_inf(n)) return -1;
  if (u64) return (k->u > n->key) - (k->u < n->key);
  size_t nl = (size_t)n->key, l = k->len < nl ? k->len : nl;
  int c = l ? memcmp(k->p, n->bytes, l) : 0;
  if (c) return (c > 0) - (c < 0);
  return (k->len > nl) - (k->len < nl);
}

/* 0 = left, 1 = right */
static inline unsigned bst_dir(bool u64, const bst_target_t *tg, const bst_node_t *n) {
  if (tg->mode == BST_LEFTMOST) return 0;
  int c = bst_cmp(u64, tg->k, n);
  if (c < 0) return 0;
  return !(c == 0 && bst_le(n) && tg->mode == BST_AT);
}

static inline bool bst_leaf_is(bool u64, const bst_node_t *l, const cc__mkey_t *k) {
  return !bst_inf(l) && bst_cmp(u64, k, l) == 0;
}

/* Bytes nodes of both kinds hold the key after the union; 0 on overflow. */
static inline size_t bst_node_size(bool u64, bool leaf, size_t len) {
  if (u64) return leaf ? BST_U64_LEAF_SIZE : BST_INNER_SIZE;
  return len <= SIZE_MAX - BST_INNER_SIZE ? BST_INNER_SIZE + len : 0;
}

/* A real key, routing flag `le`. */
static inline void bst_set_key(bst_node_t *n, bool u64, const cc__mkey_t *k, bool le) {
  bst_set_marks(n, 0, le);
  if (u64) {
    n->key = k->u;
  } else {
    n->key = k->len;
    if (k->len) memcpy(n->bytes, k->p, k->len);
  }
}

static inline cc__mkey_t bst_key_of(bool u64, const bst_node_t *n) {
  cc__mkey_t k = {0};
  if (u64) k.u = n->key;
  else k.p = n->bytes, k.len = (size_t)n->key;
  return k;
}

/* Pre-allocated nodes of an insert/put: new leaf, new internal node, and
 * (u64) the copy of the neighbour leaf. */
typedef struct {
  bst_node_t *leaf, *inner, *copy;
} bst_prealloc_t;

static inline bool bst_prealloc_lacks(bool u64, const bst_prealloc_t *p, bool need_inner) {
  return !p->leaf || (need_inner && (!p->inner || (u64 && !p->copy)));
}

enum { BST_NAV_FOUND, BST_NAV_NONE, BST_NAV_RETRY, BST_NAV_HELP };

/* The scan's cursor: the next key to look for (at or above it). The scan
 * runs inside a section of the map's domain, so a bytes key may point into
 * the node it was read from: that node outlives the scan. */
typedef struct {
  cc__mkey_t k;
  int mode;
} bst_cursor_t;

static inline void bst_cursor_set(bool u64, bst_cursor_t *c, const bst_node_t *n, int mode) {
  c->mode = mode;
  c->k = bst_key_of(u64, n);
}

/* Quiescent structural check (tests): no marked edge, routing order holds,
 * leaves strictly ascending. Returns 0 or a negative code naming the first
 * violation; *leaves receives the number of real keys. */
int cc__bst_check(const cc_map_t *m, size_t *leaves);

#endif /* CCOLL_BST_INTERNAL_H */
