/* The skip-list kind of cc_map: the layout and scheme-independent helpers
 * shared by every instantiation, then skiplist_impl.h once per reclamation
 * scheme (none, debra, debrap, ibr). The algorithm and its linearizability
 * argument are at the top of skiplist_impl.h. */
#include <assert.h>
#include <sched.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ccoll/alloc.h"
#include "ccoll/skiplist.h"
#include "containers/map_internal.h"

#define SL_MAXL CC_SKIPLIST_MAX_LEVEL
/* The lowest level of a search steered by hints, for a search that must
 * read every key (see find_as in skiplist_impl.h). */
#define SL_NO_HINTS SL_MAXL

/* Low bits of a next word: the node holding the word is deleted at that level. */
#define SL_MARK ((uintptr_t)1)
/* Low bits of a value word (cells and descriptors are 8-aligned). */
#define SL_DEAD ((uintptr_t)1) /* terminal: the node's key is deleted */
#define SL_DESC ((uintptr_t)2) /* points at a pop descriptor, not a cell */
#define SL_BITS ((uintptr_t)3)

/* A value lives in an immutable cell; a put or replace installs a new cell
 * rather than overwriting the word, so a value word never returns to an
 * earlier content while its cells are protected (no ABA: validations that
 * read it twice are sound). The cell of the value a node was inserted with
 * lies inside the node; later ones live in other blocks (sl_cellblk_t, or
 * the unused node of a put that replaced), retired when the cell is dropped. */
typedef struct sl_cell {
  void *v;
} sl_cell_t;

/* A word of the tower: a link (successor | SL_MARK), or, after the link of
 * each level from 1 up, the key hint of that successor (sl_hint_of).
 * Hints are written after the CAS that set the link (before publication
 * for a new node's own levels), so a racing pair of writers on one link
 * can leave a hint that is stale either way. Readers are built for that:
 * a hint steers only searches whose upper levels may be wrong (see
 * find_as), level 0 always reads keys, and a hint never makes a search
 * dereference a node it would not have reached through links. */
typedef union {
  cc_atomic(uintptr_t) link;
  cc_atomic(uint64_t) hint;
} sl_word_t;

/* One block: header (its spare word holds the tower height and the
 * reference count: sl_hdr_t), key, inline cell, then the tower from the top level
 * down (link and hint per level from 1 up, link alone at level 0), then
 * the value word and the bytes of a bytes key. A search first meets a node at the
 * node's top level (a taller node would have been met one level up) and
 * goes down through it, so the top of the tower is what it reads: the
 * first line holds the key and the two top levels (link and hint). With
 * the hint of the successor next to each link, a search goes down without
 * touching a successor past its key (once in two steps at p = 1/2, each a
 * cache miss with a large map), and the lines it reads are those of the
 * nodes it moves to. The value word is read once per get, on the node
 * that has the key: it follows the tower, on the first line for heights
 * 1 and 2 (three nodes in four). A u64 node of height 1 or 2 is one
 * 64-byte line (the count in the header is what lets height 2 fit: after
 * the value word it took a second line for four bytes); from height 3 the
 * levels below the top two are on the second line. */
/* The reclamation header as a node uses it: its spare word split into the
 * tower height, plain (written before publication, never changed), and
 * the reference count (inserter + deleter; the last one to drop its
 * reference retires the node), atomic. Two objects, so that reading the
 * height races with no update of the count; the reclamation schemes
 * touch only the fields before them. */
typedef union {
  cc__smr_hdr_t smr;
  struct {
    unsigned char smr_fields[offsetof(cc__smr_hdr_t, spare)];
    uint16_t height;
    cc_atomic(uint16_t) refs;
  } sl;
} sl_hdr_t;
_Static_assert(sizeof(sl_hdr_t) == sizeof(cc__smr_hdr_t), "the header keeps its size");

typedef struct sl_node {
  sl_hdr_t hdr;
  uint64_t key;              /* u64 key, or the length of a bytes key */
  sl_cell_t cell;            /* the value the node was inserted with */
  sl_word_t tower[];         /* 2 * height - 1 words, then the value word */
} sl_node_t;
_Static_assert(offsetof(sl_node_t, tower) == 32, "two levels on the key's line");
_Static_assert(sizeof(sl_node_t) + 4 * sizeof(sl_word_t) == CC__LINE, "a u64 node of height 2 is one line");

/* A cell made by replace. Its cell sits at the offset it has in a node, so
 * the block carrying any cell is found from the cell alone: a cellblk, the
 * node inserted with it, or the unpublished node whose cell a put
 * installed in an existing node. */
typedef struct sl_cellblk {
  cc__smr_hdr_t hdr;
  unsigned char pad[offsetof(sl_node_t, cell) - sizeof(cc__smr_hdr_t)];
  sl_cell_t cell;
} sl_cellblk_t;
_Static_assert(offsetof(sl_cellblk_t, cell) == offsetof(sl_node_t, cell), "cell offsets");

/* A pop_first in progress on node n whose value word held cell c. */
typedef struct sl_desc {
  cc__smr_hdr_t hdr;
  sl_node_t *n;
  sl_cell_t *c;
} sl_desc_t;


/* pop_first needs a fresh descriptor per attempt. Spares allocated ahead
 * (at creation, then after each pop) let it pop under memory pressure:
 * a thread takes one by exchange, so each spare has one user. */
#define SL_SPARES 16

typedef struct sl_impl {
  sl_node_t *head;          /* tower of SL_MAXL levels, never deleted */
  cc_atomic(unsigned) top;  /* levels in use: searches start there */
  cc_atomic(uintptr_t) spare[SL_SPARES];
} sl_impl_t;

static inline unsigned sl_spare_slot(void) {
  static cc_atomic(unsigned) next;
  static cc_thread_local unsigned mine; /* slot + 1; 0: not chosen yet */
  if (cc_unlikely(mine == 0)) mine = cc_atomic_fetch_add_relaxed(&next, 1) % SL_SPARES + 1;
  return mine - 1;
}

/* Attempt results besides the CC_ statuses. */
enum {
  SL_RETRY = 100, /* go round again (after a write, or a failed validation) */
  SL_LOST,        /* pop: the descriptor was published but the pop did not take */
  SL_STOP,        /* build: the node was deleted, stop linking levels */
  SL_EMIT,        /* range: a node to report */
  SL_DONE,        /* range: past the upper bound */
  SL_NEED_DESC,   /* pop: there is a node to pop, but no descriptor */
  SL_FOUND,       /* lookup: a live node with the key */
};

static inline sl_node_t *sl_ptr(uintptr_t w) { return (sl_node_t *)(w & ~SL_BITS); }
static inline unsigned sl_height(const sl_node_t *n) { return n->hdr.sl.height; }
/* Before publication: height h and `refs` references. */
static inline void sl_hdr_init(sl_node_t *n, unsigned h, uint16_t refs) {
  n->hdr.sl.height = (uint16_t)h;
  cc_atomic_store_relaxed(&n->hdr.sl.refs, refs);
}
/* The tower word of n's link at level i (i < height): levels above take
 * two words each. Level i - 1's link is two words further. */
static cc_force_inline sl_word_t *sl_word(sl_node_t *n, unsigned i) {
  return &n->tower[2 * (sl_height(n) - 1 - i)];
}
static cc_force_inline cc_atomic(uintptr_t) *sl_next(sl_node_t *n, unsigned i) {
  return &sl_word(n, i)->link;
}
/* The hint of n's successor at level i, 1 <= i < height. */
static cc_force_inline cc_atomic(uint64_t) *sl_hint(sl_node_t *n, unsigned i) {
  return &sl_word(n, i)[1].hint;
}
/* cell | SL_DEAD, or desc | SL_DESC [| SL_DEAD]: after the tower. */
static cc_force_inline cc_atomic(uintptr_t) *sl_val(sl_node_t *n) {
  return &n->tower[2 * sl_height(n) - 1].link;
}
static inline const unsigned char *sl_kbytes(const sl_node_t *n) {
  return (const unsigned char *)&n->tower[2 * sl_height(n)];
}
/* The block carrying cell c: a node (the value's own, or one a put used
 * only as a carrier) or a cellblk. */
static inline void *sl_cell_owner(sl_cell_t *c) {
  return (char *)c - offsetof(sl_node_t, cell);
}

/* The live cell of value word v, or NULL. */
static inline sl_cell_t *sl_live(uintptr_t v) {
  return (v & SL_BITS) ? NULL : (sl_cell_t *)v;
}

/* The cell value word v refers to (live or dead), directly or through a
 * pop_first descriptor, which *dp receives (NULL when there is none). */
static inline sl_cell_t *sl_word_cell(uintptr_t v, sl_desc_t **dp) {
  if (!(v & SL_DESC)) {
    *dp = NULL;
    return (sl_cell_t *)(v & ~SL_BITS);
  }
  *dp = (sl_desc_t *)(v & ~SL_BITS);
  return (*dp)->c;
}

static inline size_t sl_node_size(unsigned height, size_t klen) {
  return sizeof(sl_node_t) + 2 * height * sizeof(sl_word_t) + klen;
}

/* Byte order compare written out: the restartable read phase of DEBRA+
 * makes no libc call, memcmp included. */
static inline int sl_bytes_cmp(const unsigned char *a, size_t alen, const unsigned char *b,
                               size_t blen) {
  size_t n = alen < blen ? alen : blen;
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return (alen > blen) - (alen < blen);
}

/* Node key vs k: -1, 0, 1. */
static cc_force_inline int sl_cmp_as(bool bytes, const sl_node_t *n, const cc__mkey_t *k) {
  if (!bytes) return (n->key > k->u) - (n->key < k->u);
  return sl_bytes_cmp(sl_kbytes(n), n->key, k->p, k->len);
}
static inline int sl_cmp(const cc_map_t *m, const sl_node_t *n, const cc__mkey_t *k) {
  return sl_cmp_as(m->key_kind == CC_KEY_BYTES, n, k);
}

static inline cc__mkey_t sl_key_of(const cc_map_t *m, const sl_node_t *n) {
  cc__mkey_t k = {0};
  if (m->key_kind == CC_KEY_U64) k.u = n->key;
  else { k.p = sl_kbytes(n); k.len = n->key; }
  return k;
}

/* The hint of a key: a u64 key itself; for bytes, the first 8 bytes read
 * big-endian, zeros past the end. Order-preserving (memcmp, then length):
 * hint(a) > hint(b) implies a > b, and equal hints decide nothing. */
static cc_force_inline uint64_t sl_bytes_hint(const unsigned char *p, size_t len) {
  uint64_t h = 0;
  for (unsigned i = 0; i < 8; i++) h = h << 8 | (i < len ? p[i] : 0);
  return h;
}
static cc_force_inline uint64_t sl_key_hint(bool bytes, const cc__mkey_t *k) {
  return bytes ? sl_bytes_hint(k->p, k->len) : k->u;
}
/* The hint stored for successor n (NULL: none, nothing is past it). */
static inline uint64_t sl_hint_of(const cc_map_t *m, const sl_node_t *n) {
  if (!n) return UINT64_MAX;
  return m->key_kind == CC_KEY_U64 ? n->key : sl_bytes_hint(sl_kbytes(n), n->key);
}

/* Tower height with p = 1/2, from a per-thread xorshift64*: drawn before
 * an operation's read phase, never through libc rand. p = 1/2 rather than
 * 1/4: a search at level i walks about (1-p)/p new nodes, and with a large
 * map the lowest levels miss the cache on each of them; cachegrind on a
 * 1M-key 90% get run counted 9% fewer last-level and 12% fewer L1 misses
 * per operation with 1/2 (7% more instructions), with either header size.
 * CC_SKIPLIST_MAX_LEVEL levels keep searches O(log n) to 2^32 keys. */
static unsigned sl_random_height(void) {
  static cc_thread_local uint64_t s;
  if (cc_unlikely(s == 0)) {
    static cc_atomic(uint64_t) seed = 0x9e3779b97f4a7c15u;
    s = cc_atomic_fetch_add_relaxed(&seed, 0x9e3779b97f4a7c15u) | 1;
  }
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  uint64_t r = s * 0x2545f4914f6cdd1dull;
  return 1 + (unsigned)__builtin_ctzll(r | (1ull << (SL_MAXL - 1)));
}

/* A new node's height: sl_random_height, except that it never raises the
 * levels in use (`top`, where searches start) past 2 + the bit width of
 * the map's size. Left to the draws, top, which never comes down, reaches
 * log2 of the number of inserts ever made, whatever the size: about 20
 * after a million, and every search of a 1,000-key map then starts with
 * ten empty levels of the head. The size is read only when a draw would
 * raise top (one insert in 2^top). */
static unsigned sl_new_height(cc_map_t *m) {
  unsigned h = sl_random_height();
  unsigned top = cc_atomic_load_relaxed(&((sl_impl_t *)m->impl)->top);
  if (cc_likely(h <= top)) return h;
  unsigned long long n = cc_map_size(m);
  unsigned cap = 2 + (unsigned)(64 - __builtin_clzll(n + 1));
  if (cap < top) cap = top;
  return h < cap ? h : cap;
}

/* Whether a path from find holds levels 0 .. h-1: a node inserted after
 * the search read `top` may be taller than the levels it searched. */
static inline bool sl_path_covers(sl_node_t *const *preds, unsigned h) {
  for (unsigned i = 0; i < h; i++)
    if (!preds[i]) return false;
  return true;
}

static inline void sl_raise_top(sl_impl_t *im, unsigned h) {
  unsigned top = cc_atomic_load_relaxed(&im->top);
  /* relaxed: `top` is a hint; levels above it are empty or about to be
   * linked through CASes that carry their own ordering. */
  while (top < h && !cc_atomic_cas_strong_relaxed(&im->top, &top, h)) {
  }
}

/* A tower of h levels with no successor: null links, and the hints of
 * nothing past them (sl_hint_of(NULL)). Before publication. */
static inline void sl_tower_empty(sl_node_t *n, unsigned h) {
  for (unsigned i = 0; i < h; i++) {
    cc_atomic_store_relaxed(sl_next(n, i), 0);
    if (i > 0) cc_atomic_store_relaxed(sl_hint(n, i), UINT64_MAX);
  }
}

unsigned cc__skiplist_top(const cc_map_t *m) {
  if (m->kind != CC_MAP_SKIPLIST) return 0;
  return cc_atomic_load_relaxed(&((sl_impl_t *)m->impl)->top);
}

/* Tests: sets every hint to an arbitrary value (0, UINT64_MAX, the true
 * hint +-1, or random), which must change no answer of any operation.
 * Quiescent map only: nothing may run on m meanwhile. */
void cc__skiplist_scramble_hints(cc_map_t *m, uint64_t seed) {
  if (m->kind != CC_MAP_SKIPLIST) return;
  uint64_t s = seed | 1;
  for (sl_node_t *n = ((sl_impl_t *)m->impl)->head; n;
       n = sl_ptr(cc_atomic_load_relaxed(sl_next(n, 0)))) {
    for (unsigned i = 1; i < sl_height(n); i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      uint64_t h = sl_hint_of(m, sl_ptr(cc_atomic_load_relaxed(sl_next(n, i))));
      uint64_t bad[4] = {0, UINT64_MAX, (s & 16) ? h + 1 : h - 1, s};
      cc_atomic_store_relaxed(sl_hint(n, i), bad[s % 4]);
    }
  }
}

#define S none
#define SL_RESTARTABLE 0
#include "skiplist_impl.h"
#undef S
#undef SL_RESTARTABLE

#define S debra
#define SL_RESTARTABLE 0
#include "skiplist_impl.h"
#undef S
#undef SL_RESTARTABLE

#define S debrap
#define SL_RESTARTABLE 1
#include "skiplist_impl.h"
#undef S
#undef SL_RESTARTABLE

#define S ibr
#define SL_RESTARTABLE 0
#include "skiplist_impl.h"
#undef S
#undef SL_RESTARTABLE
