/* Internal: the data shared by every scheme — block header, limbo blocks,
 * thread record, domain — and the thread-record lookup. Included by
 * smr_internal.h only. */
#ifndef CCOLL_SMR_TYPES_H
#define CCOLL_SMR_TYPES_H

#include <assert.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "compiler.h"
#include "alloc/alloc_internal.h"
#include "ccoll/alloc.h"
#include "ccoll/smr.h"

/* DEBRA+ neutralisation needs signals delivered promptly; ThreadSanitizer
 * defers them to its own safe points, so TSan builds leave it out and
 * DEBRA+ runs as DEBRA there (doc/smr.md). */
#if CC_TSAN
#  define CC__SMR_NEUTRALIZE 0
#else
#  define CC__SMR_NEUTRALIZE 1
#endif

/* Every block a domain hands out starts with this header (containers embed
 * it as the first member and never touch it). Only what a live block needs:
 * 16 bytes, so a 64-byte node keeps 48 for the container. `size` is what
 * the block was allocated with, so cc_free can be told (blocks are under
 * 1 GiB), with CC__SMR_PACKED set for a packed block; 0 marks a retire_fn
 * record. The third word is the scheme's (cc__smr_word): IBR's birth
 * epoch, NONE's link from one retired block to the next; and a block's
 * link while it sits free in a reuse pool. DEBRA and IBR list retired
 * blocks in limbo blocks (with their retire epoch), never through the
 * block itself.
 * A packed block's header is only the first 8 bytes (cc__smr_hdr8_t): its
 * owner uses the rest (the BST's key). IBR and NONE keep its word in an
 * 8-byte prefix in front of it (CC__SMR_PREFIXED), so the container's
 * layout is the same on every scheme, and DEBRA's blocks need no prefix. */
typedef struct cc__smr_hdr {
  uint32_t size;
  uint32_t spare;            /* free for the block's owner (the skip list: tower height and reference count) */
  union {
    uint64_t birth;            /* the scheme's word (cc__smr_word) */
    struct cc__smr_hdr *chain; /* free in a reuse pool: the next block */
  };
} cc__smr_hdr_t;

_Static_assert(sizeof(cc__smr_hdr_t) == 16, "the block header is 16 bytes");

/* The header of a packed block: the fields before the third word. */
typedef struct {
  uint32_t size;
  uint32_t spare;
} cc__smr_hdr8_t;

_Static_assert(sizeof(cc__smr_hdr8_t) == offsetof(cc__smr_hdr_t, birth) &&
                   offsetof(cc__smr_hdr8_t, spare) == offsetof(cc__smr_hdr_t, spare),
               "a packed block's header is the first two fields");

/* Set in hdr.size: the block is packed (CC__SMR(S, alloc_packed)), sized
 * to the byte by cc__alloc_packed, only as aligned as malloc's minimum
 * (8), where a plain block is a whole number of cache lines from
 * cc_alloc_node. A container asks for one flavour or the other per node
 * kind; the flag keeps the two apart wherever blocks are matched by size
 * (the reuse pool, DEBRA's freeable list), so a line-aligned request
 * never receives a packed block of the same byte count. */
#define CC__SMR_PACKED 0x80000000u
/* Set in hdr.size of a packed block with a scheme's word (IBR, NONE):
 * the allocation starts 8 bytes before the header, with that word. */
#define CC__SMR_PREFIXED 0x40000000u
#define CC__SMR_PREFIX 8u

/* The bytes a header's size word stands for: the block from its header. */
static inline size_t cc__smr_block_bytes(uint32_t size) {
  return size & ~(CC__SMR_PACKED | CC__SMR_PREFIXED);
}

/* The bytes in front of a block of size word `size`: its prefix, if any. */
static inline size_t cc__smr_prefix_bytes(uint32_t size) {
  return (size & CC__SMR_PREFIXED) ? CC__SMR_PREFIX : 0;
}

/* What the allocator holds for a block of size word `size`: the block
 * and its prefix. */
static inline size_t cc__smr_alloc_bytes(uint32_t size) {
  return cc__smr_block_bytes(size) + cc__smr_prefix_bytes(size);
}

/* The word block h keeps for its scheme: IBR's birth epoch, NONE's link
 * to the next retired block. A plain block's third word, a packed block's
 * prefix. */
static inline uint64_t *cc__smr_word(cc__smr_hdr_t *h) {
  /* a packed block without a prefix has no word: its third is the owner's */
  assert(!(h->size & CC__SMR_PACKED) || (h->size & CC__SMR_PREFIXED));
  return (h->size & CC__SMR_PREFIXED) ? (uint64_t *)(void *)((char *)h - CC__SMR_PREFIX) : &h->birth;
}

/* An object given to retire_fn: it has no header of its own. */
typedef struct {
  cc__smr_hdr_t hdr; /* size 0, birth 0: IBR dates it conservatively */
  void *p;
  void (*fn)(void *p, void *ctx);
  void *ctx;
} cc__smr_fnrec_t;

/* Limbo (DEBRA bags, IBR and NONE retired lists, orphans) is made of
 * chains of these: retiring writes one entry into a block the thread owns,
 * never into the retired node. 1 KiB each. */
typedef struct {
  cc__smr_hdr_t *p;
  uint64_t epoch; /* IBR: retire epoch; unused otherwise */
} cc__smr_ent_t;

#define CC__SMR_BLK_CAP 63
typedef struct cc__smr_blk {
  struct cc__smr_blk *next;
  size_t n;
  cc__smr_ent_t e[CC__SMR_BLK_CAP];
} cc__smr_blk_t;

typedef struct {
  cc__smr_blk_t *head, *tail; /* head is the block being filled / emptied */
  size_t count;
  uint64_t epoch;             /* DEBRA: epoch its contents were retired in */
} cc__smr_bag_t;

/* The reuse pool (reuse.c, smr_reuse.h): reclaimed blocks of one exact
 * size, chained through their header's first word, kept by the thread
 * that reclaimed them for its next allocations of that size. */
#define CC__SMR_REUSE_CLASSES 8
typedef struct {
  cc__smr_hdr_t *head;
  uint32_t size; /* the header size word of every block here; 0: unused */
  uint32_t n;
} cc__smr_reuse_t;

/* DEBRA+ phases of the current operation (what the signal handler may do). */
enum {
  CC__SMR_IDLE = 0,  /* no read or write phase (outside operations, user sections, between
                        begin and the read phase): leave it alone */
  CC__SMR_HOLD = 1,  /* leaving a read phase after a signal: leave it alone */
  CC__SMR_READ = 2,  /* restartable read phase: jump back to its start */
  CC__SMR_WRITE = 3, /* write phase: quiescent except for its protected slots */
};

#define CC__SMR_QUIESCENT 1u /* low bit of a DEBRA announcement */
/* The DEBRA announcement of a thread quiescent at epoch e. */
#define CC__SMR_QUIET(e) (((e) << 1) | CC__SMR_QUIESCENT)
/* A DEBRA announcement an advancer wrote for a thread it proved idle
 * (debra.c, park_idle): quiescent, at an epoch no advance is behind. */
#define CC__SMR_PARKED UINT64_MAX
#define CC__SMR_NO_RESERVATION UINT64_MAX

typedef struct cc__smr_thr cc__smr_thr_t;

struct cc__smr_thr {
  /* ---- owner only (first line: what every operation touches) */
  cc_smr_t *dom;
  unsigned depth;           /* begin/end nesting */
  unsigned user_depth;      /* of which user sections (never restarted) */
  uint64_t local_epoch;     /* DEBRA: epoch of the current bag; IBR: upper reservation */
  cc__smr_thr_t *cursor;    /* DEBRA: next thread to check */
  unsigned check_tick;      /* DEBRA: operations left until the next check of another thread */
  unsigned check_every;     /* DEBRA: CC__SMR_DEBRA_CHECK_EVERY[_ASYM] */
  uint64_t epoch_ops;       /* DEBRA, asym: operations since this thread's last membarrier */
  unsigned alloc_left;      /* IBR: allocations left until the next epoch advance */
  unsigned retire_left;     /* IBR: retirements left until the next scan */
  unsigned retire_tick;     /* DEBRA: bag rotations since the last pending sample */
  uint64_t ops;             /* DEBRA+: steps since the last forced neutralisation */
  uint64_t force_every;     /* DEBRA+: CCOLL_DEBRA_NEUTRALIZE_EVERY (0: off) */
  unsigned force_round;
  unsigned slots_used;      /* DEBRA+: bit i set: slots[i] may be non-zero */
  bool slots_exposed;       /* DEBRA+: neutralised in this operation (its slots count) */
  bool asym;                /* the domain's asym: announcements need no fence */

  /* ---- owner only: garbage */
  cc__smr_bag_t bag[3] cc_cache_aligned; /* DEBRA: limbo bags, bag[cur] newest */
  unsigned cur;
  cc__smr_bag_t freeable;   /* DEBRA: safe, taken by allocations or freed a few per operation */
  size_t freeable_keep;     /* DEBRA: what begin leaves there for allocations (smr_debra.h) */
  size_t advance_at;        /* DEBRA, asym: own retirements in an epoch that justify a try (debra.c) */
  unsigned fence_defer;     /* DEBRA, asym: tries put off for a thread quiescent in an older epoch */
  size_t scan_at;           /* IBR: retirements between two scans (ibr.c) */
  uint64_t fence_end;       /* asym: when this thread's last membarrier returned (ns) */
  uint64_t fence_cost;      /* asym: how long it took (ns) */
  cc__smr_blk_t *pool;      /* empty limbo blocks kept for reuse */
  unsigned pool_n;
  cc__smr_hdr_t *recs;      /* retire_fn records kept for reuse, chained through hdr.chain */
  unsigned recs_n;
  struct cc__smr_orphan *spare_orphan; /* hands this thread's garbage off when it leaves */
  cc__smr_reuse_t reuse[CC__SMR_REUSE_CLASSES]; /* reclaimed blocks by size (smr_reuse.h) */
  size_t reuse_bytes;       /* their sum (a plain block counts its whole lines) */
  bool reuse_on;            /* the domain's reuse, copied at claim */
  bool leak_on;             /* the domain's leak (measurement), copied at claim */
  uint8_t prefetch;         /* the domain's CC__SMR_PF_* (smr_reuse.h), copied at claim */
  cc__smr_bag_t leaked;     /* CCOLL_SMR_LEAK: reclaimed nodes kept until cc_smr_free */
  cc__smr_bag_t limbo;      /* IBR: retired, not yet freed */
  cc__smr_hdr_t *chain;     /* NONE: retired (never freed before cc_smr_free) */
  size_t chain_n;
  uint64_t last_scan_epoch; /* IBR: global epoch at the previous scan */
  bool in_scan;             /* IBR: a retire_fn callback retiring must not rescan */
  uint64_t *scratch;        /* IBR: reservation intervals; DEBRA+: slots */
  size_t scratch_cap;       /* in uint64_t */
  cc__smr_thr_t *victim;    /* DEBRA+: last thread signalled ... */
  uint64_t victim_acks;     /* ... and its ack count then */

  /* ---- read by other threads, one line per writer pattern: a checker
   * reading the announcement must not be invalidated by the owner's other
   * per-operation stores (phase, slots, reservations) */
  cc_atomic(uint64_t) announce cc_cache_aligned; /* DEBRA: epoch << 1 | quiescent, or PARKED */
  cc_atomic(uint64_t) lower cc_cache_aligned;    /* IBR reservation [lower, upper] */
  cc_atomic(uint64_t) upper;
  cc_atomic(uintptr_t) slots[CC__SMR_SLOTS] cc_cache_aligned; /* DEBRA+: protected in the write phase */
  cc_atomic(int) phase cc_cache_aligned;         /* DEBRA+: CC__SMR_IDLE .. WRITE */
  volatile sig_atomic_t neutralized_flag;        /* DEBRA+: set by the handler */
  cc_atomic(uint64_t) acks;                      /* DEBRA+: signals handled */

  /* ---- statistics: written by the owner only, summed by readers */
  cc_atomic(uint64_t) st_retired cc_cache_aligned;
  cc_atomic(uint64_t) st_freed;
  cc_atomic(uint64_t) st_scans;
  cc_atomic(uint64_t) st_neutralized;
  cc_atomic(uint64_t) st_reused; /* allocations served by the reuse pool's classes */
  cc_atomic(uint64_t) st_taken;  /* DEBRA: by its freeable list (freed and reused: one count) */

  /* ---- registry */
  cc_atomic(cc__smr_thr_t *) next cc_cache_aligned; /* domain's list, push only */
  cc_atomic(int) in_use;
  cc_atomic(int) kill_state; /* DEBRA+: 0 alive, 1 being signalled, 2 leaving */
  cc_atomic(int) *sig_pending; /* DEBRA+: the owner thread's cc__smr_sig_pending */
  pthread_t tid;

  /* ---- owner only, written by every DEBRA+ read phase: apart from the
   * registry line, which checkers read when they move past this thread */
  sigjmp_buf env cc_cache_aligned; /* DEBRA+: start of the current read phase */
};

/* Garbage of a thread that left, waiting for a thread to adopt it. */
typedef struct cc__smr_orphan {
  struct cc__smr_orphan *next;
  uint64_t epoch;        /* DEBRA: global epoch at hand-off */
  cc__smr_blk_t *blocks; /* DEBRA, IBR: chained limbo blocks */
  cc__smr_hdr_t *chain;  /* NONE: chained through the blocks' words */
  size_t count;
} cc__smr_orphan_t;

struct cc_smr {
  /* read-mostly */
  cc_smr_kind_t kind;
  unsigned epoch_freq, empty_freq; /* IBR; empty_freq: the most retirements between scans */
  unsigned empty_min;           /* IBR: the fewest, while membarriers are cheap (asym.c) */
  uint64_t id;                  /* unique for the process: TLS caches compare it */
  cc_atomic(cc__smr_thr_t *) threads;
  cc_atomic(size_t) nthreads;   /* records ever created (never shrinks) */
  size_t limbo_threshold;       /* DEBRA+: own limbo size that justifies a signal */
  uint64_t neutralize_every;    /* DEBRA+: forced neutralisation (0: off) */
  int signo;                    /* DEBRA+ */
  bool asym;                    /* asymmetric fence (asym.c): fixed at creation */
  uint64_t epoch_ops;           /* DEBRA, asym: own operations that justify an advance try */
  size_t advance_retires;       /* DEBRA, asym: own retirements in an epoch that justify one, */
  size_t advance_min;           /* ... at most; at least this when membarriers are cheap */
  bool reuse;                   /* reclaimed blocks go to the reuse pool (reuse.c) */
  bool leak;                    /* CCOLL_SMR_LEAK=1: reclaimed nodes are kept, never reused (reuse.c) */
  uint8_t prefetch;             /* CC__SMR_PF_*: how reused blocks are fetched ahead (reuse.c) */

  cc_atomic(uint64_t) epoch cc_cache_aligned;

  cc_atomic(uint64_t) pending_peak cc_cache_aligned;
  cc_atomic(cc__smr_orphan_t *) orphans; /* non-NULL hint read without the lock */
  pthread_mutex_t lock;         /* registration, orphans */
  struct cc_smr *live_next, *live_prev;  /* registry of live domains */
};

/* ------------------------------------------------------------ reservations */

/* An operation that may retire calls CC__SMR(S, reserve) before its first
 * write: with the empty limbo blocks and the retire_fn record it leaves
 * in the thread's pools, every retirement of one operation finds its room
 * without an allocation, so the operation can still fail with CC_ENOMEM,
 * its structure unchanged, where a retirement after the CAS that unlinked
 * a node could not (it would have to free the node early, lose it or
 * abort). One operation retires a few blocks (the skip list's remove: the
 * node, a cell block, a descriptor: one entry each) and at most one value
 * through retire_fn; two empty blocks of 63 entries cover a bag that
 * fills and a bag rotation (a new epoch, a DEBRA+ neutralisation) within
 * one operation. The check is a load and a compare of this thread's own
 * counters; the slow path refills (limbo.c). */
#define CC__SMR_RESERVE_BLOCKS 2u
#define CC__SMR_RECS_MAX 8u /* retire_fn records a thread keeps for reuse */

bool cc__smr_reserve_slow(cc__smr_thr_t *t, bool blocks, bool rec);

/* `blocks`: the scheme keeps limbo in blocks (all but NONE, which chains
 * its garbage through the blocks' own words); `rec`: the operation may
 * retire through retire_fn. */
static inline bool cc__smr_reserve(cc__smr_thr_t *t, bool blocks, bool rec) {
  if (cc_likely((!blocks || t->pool_n >= CC__SMR_RESERVE_BLOCKS) && (!rec || t->recs != NULL)))
    return true;
  return cc__smr_reserve_slow(t, blocks, rec);
}

/* ------------------------------------------------------------ slow paths */

cc__smr_thr_t *cc__smr_thr_slow(cc_smr_t *d);
void cc__smr_free_hdr(cc__smr_thr_t *t, cc__smr_hdr_t *h);
void cc__smr_retire_fn_slow(cc__smr_thr_t *t, void *p, void (*fn)(void *, void *), void *ctx,
                            void (*retire)(cc__smr_thr_t *, void *));
void cc__smr_sample_pending(cc__smr_thr_t *t);
/* The retirements between two reclamation passes after a membarrier that
 * took `cost` ns, `since` ns after the previous one (asym.c). */
size_t cc__smr_fence_pace(size_t at, uint64_t cost, uint64_t since, size_t min, size_t max);
cc__smr_blk_t *cc__smr_bag_grow(cc__smr_thr_t *t, cc__smr_bag_t *bag);
void cc__smr_bag_drop_head(cc__smr_thr_t *t, cc__smr_bag_t *bag);
_Noreturn void cc__smr_oom(const char *what);

/* ------------------------------------------------------------ lookup */

/* One-entry cache of the last domain this thread used. The id (never
 * reused) rather than the pointer is compared, so a domain freed and
 * another allocated at the same address cannot hit a stale record. */
typedef struct {
  uint64_t id;
  cc__smr_thr_t *thr;
} cc__smr_tls_t;

extern cc_thread_local cc__smr_tls_t cc__smr_tls;

static inline cc__smr_thr_t *cc__smr_thr(cc_smr_t *d) {
  if (cc_likely(cc__smr_tls.id == d->id)) return cc__smr_tls.thr;
  return cc__smr_thr_slow(d);
}

/* ------------------------------------------------------------ common pieces */

/* Publishes an announcement (DEBRA epoch, IBR reservation) that must be
 * visible before the operation's next read of a shared link: a store-load
 * order. With the asymmetric fence (asym.c) the reclaimer's membarrier
 * supplies it and the compiler barrier keeps the compiler from hoisting
 * those reads; release only keeps the argument free of C11 release-sequence
 * subtleties (it is a plain store on x86). Otherwise a seq_cst store. */
static inline void cc__smr_announce_store(const cc__smr_thr_t *t, cc_atomic(uint64_t) *a,
                                          uint64_t v) {
  if (!CC_TSAN && cc_likely(t->asym)) {
    cc_atomic_store_release(a, v);
    cc_compiler_barrier();
  } else {
    cc_atomic_store_seq_cst(a, v);
  }
}

/* Two links read together (CC__SMR(S, read_pair)): a node's two edges. */
typedef struct {
  uintptr_t a, b;
} cc__smr_pair_t;

/* Both acquire: each load happens before whatever the caller reads
 * through it, and b's load before anything after it (IBR's epoch check). */
static inline cc__smr_pair_t cc__smr_load_pair(cc_atomic(uintptr_t) *a, cc_atomic(uintptr_t) *b) {
  cc__smr_pair_t p;
  p.a = cc_atomic_load_acquire(a);
  p.b = cc_atomic_load_acquire(b);
  return p;
}

/* size < CC__SMR_PACKED (the schemes' alloc entries check it). */
static inline void *cc__smr_node_alloc(size_t size) {
  cc__smr_hdr_t *h = cc_alloc_node(size);
  if (cc_likely(h != NULL)) h->size = (uint32_t)size;
  return h;
}

/* A packed block of size word `word`: the block's bytes, 8-aligned, after
 * the prefix when the word asks for one. */
static inline void *cc__smr_packed_block(uint32_t word) {
  char *p = cc__alloc_packed(cc__smr_alloc_bytes(word));
  if (cc_unlikely(p == NULL)) return NULL;
  cc__smr_hdr_t *h = (cc__smr_hdr_t *)(void *)(p + cc__smr_prefix_bytes(word));
  h->size = word;
  return h;
}

/* A new block of the kind a non-zero header size word names. */
static inline cc__smr_hdr_t *cc__smr_block_new(uint32_t word) {
  if (word & CC__SMR_PACKED) return (cc__smr_hdr_t *)cc__smr_packed_block(word);
  return (cc__smr_hdr_t *)cc__smr_node_alloc(word);
}

/* Gives block h (size word non-zero) back to the allocator, as allocated. */
static inline void cc__smr_block_free(cc__smr_hdr_t *h) {
  cc_free((char *)h - cc__smr_prefix_bytes(h->size), cc__smr_alloc_bytes(h->size));
}

static inline void cc__smr_node_free(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  if (cc_likely(h->size != 0)) cc__smr_block_free(h);
  else cc__smr_free_hdr(t, h);
}

/* Adds h to a limbo bag (its head is the block being filled) and returns
 * its entry, whose epoch is left unwritten: DEBRA labels whole bags. */
static inline cc__smr_ent_t *cc__smr_bag_add(cc__smr_thr_t *t, cc__smr_bag_t *bag,
                                             cc__smr_hdr_t *h) {
  cc__smr_blk_t *b = bag->head;
  if (cc_unlikely(b == NULL || b->n == CC__SMR_BLK_CAP)) b = cc__smr_bag_grow(t, bag);
  cc__smr_ent_t *e = &b->e[b->n++];
  e->p = h;
  bag->count++;
  return e;
}

/* Adds h with its retire epoch (IBR). */
static inline void cc__smr_bag_push(cc__smr_thr_t *t, cc__smr_bag_t *bag, cc__smr_hdr_t *h,
                                    uint64_t epoch) {
  cc__smr_bag_add(t, bag, h)->epoch = epoch;
}

/* Removes and returns the newest entry of a non-empty bag (the last of its
 * head block). */
static inline cc__smr_hdr_t *cc__smr_bag_pop(cc__smr_thr_t *t, cc__smr_bag_t *bag) {
  cc__smr_blk_t *b = bag->head;
  cc__smr_hdr_t *h = b->e[--b->n].p;
  bag->count--;
  if (b->n == 0) cc__smr_bag_drop_head(t, bag);
  return h;
}

#endif /* CCOLL_SMR_TYPES_H */
