/* Internal: the reuse pool (Brown's record manager pool). Included by
 * smr_internal.h only.
 *
 * A block whose grace period has passed (a DEBRA freeable entry, an IBR
 * block no reservation covers) is exactly what reclamation would hand back
 * to the allocator. Freeing it is costly under a workload where one thread
 * pops what another pushed: the block goes back to a page the other thread
 * owns (a cross-thread free, an atomic push there, collected later), and
 * the next allocation takes another. The reclaiming thread keeps it instead,
 * per domain and per exact size, and its next allocation of that size
 * (CC__SMR(S, alloc), every scheme but NONE, which never reclaims) takes it
 * back without calling the allocator.
 *
 * - DEBRA's freeable list is a first tier in front of these classes: its
 *   allocations take safe blocks from it directly (cc__smr_debra_take).
 * - Only reclaimed nodes enter: retire_fn records run their callback and
 *   are freed as before; dealloc (never published, or a structure being
 *   destroyed) frees at once.
 * - A block is counted freed (cc_smr_stats) when it enters the pool. For
 *   the allocator it stays allocated until the pool gives it back: at
 *   cc_smr_drain (the calling thread's pool), thread exit, cc_thread_detach
 *   and cc_smr_free. Allocation statistics balance once those ran.
 * - Bounded: at most CC__SMR_REUSE_MAX_BYTES per thread and domain (a
 *   plain block counts its whole lines, a packed one its bytes), in
 *   CC__SMR_REUSE_CLASSES sizes at once (direct mapped: plain blocks by
 *   line count, packed ones by 8-byte granule; a class holds one exact
 *   size word at a time). What does not fit is freed.
 * - Invisible to whoever observes the allocator. Taking a block stands in
 *   for a cc_alloc_node call (cc__alloc_packed for a packed block, which
 *   passes the same gate) and pooling one for a cc_free call, so each
 *   first passes the allocator's own per-thread gate (alloc_internal.h,
 *   CC__ALLOC_GATE_SPAN): the pool acts only where the allocator would
 *   have made a plain, unobserved mimalloc call. Allocation statistics,
 *   tracking, a profiler that records blocks, fault injection and the libc
 *   backend (sanitizer builds) never arm the gate: there every allocation
 *   and every free reaches the allocator, and allocation statistics
 *   balance as without the pool. A sampling count-only profiler arms it
 *   for the operations it does not sample; pool operations count among
 *   those. Mode changes reach the pool as they reach the allocator, within
 *   CC__ALLOC_GATE_SPAN operations; and one pool operation in that many
 *   is the allocator call that re-arms the gate.
 * - Off for domains created while allocation tracking or the whole-run
 *   profiler (CCOLL_PROFILE) is on, and with CCOLL_SMR_REUSE=0 (reuse.c).
 * - ASan builds poison a pooled block past its header, so a use after
 *   reclamation is still reported (with CCOLL_ALLOC=mimalloc: the libc
 *   backend, their default, bypasses the pool). */
#ifndef CCOLL_SMR_REUSE_H
#define CCOLL_SMR_REUSE_H

#include "alloc/track_internal.h"

#if CC_ASAN
#  include <sanitizer/asan_interface.h>
#  define CC__SMR_REUSE_POISON(h, size) \
    ASAN_POISON_MEMORY_REGION((h) + 1, (size) - sizeof(cc__smr_hdr_t))
#  define CC__SMR_REUSE_UNPOISON(h, size) \
    ASAN_UNPOISON_MEMORY_REGION((h) + 1, (size) - sizeof(cc__smr_hdr_t))
#else
#  define CC__SMR_REUSE_POISON(h, size) ((void)(h), (void)(size))
#  define CC__SMR_REUSE_UNPOISON(h, size) ((void)(h), (void)(size))
#endif

/* What a thread reclaims in one DEBRA epoch or between two IBR scans is
 * a few thousand blocks at most (advance_retires, empty_freq: domain.c); this
 * holds 4096 single-line nodes. */
#define CC__SMR_REUSE_MAX_BYTES ((size_t)256 << 10)

static inline size_t cc__smr_reuse_lines(size_t size) { return (size + CC__LINE - 1) / CC__LINE; }

/* What a block of header size word `size` holds of the allocator: its
 * whole lines for a plain block, its bytes (and prefix) for a packed one. */
static inline size_t cc__smr_reuse_bytes(uint32_t size) {
  if (size & CC__SMR_PACKED) return cc__smr_alloc_bytes(size);
  return cc__smr_reuse_lines(size) * CC__LINE;
}

/* Direct mapped: plain blocks by line count into the first half, packed
 * blocks by 8-byte granule into the second (a BST's 24- and 32-byte nodes
 * land in two classes). */
static inline cc__smr_reuse_t *cc__smr_reuse_class(cc__smr_thr_t *t, uint32_t size) {
  enum { HALF = CC__SMR_REUSE_CLASSES / 2 };
  size_t i = (size & CC__SMR_PACKED) ? HALF + ((cc__smr_block_bytes(size) + 7) / 8 & (HALF - 1))
                                     : (cc__smr_reuse_lines(size) - 1) & (HALF - 1);
  return &t->reuse[i];
}

/* How a thread fetches the next block its allocations will take. */
enum { CC__SMR_PF_OFF, CC__SMR_PF_HINT, CC__SMR_PF_EXCL };

/* That next block is cold: reclaimed epochs after its retirement, often
 * last written by another thread (a stack's pusher). Asking for its line
 * one allocation ahead, in the state a write needs where the CPU can
 * (x86's PREFETCHW: exclusive, no second transfer for the store), lets the
 * miss overlap the operation in between instead of stalling the stores
 * that initialise the node, and the CAS that publishes it behind them. A
 * prefetch never faults and the block is this thread's. bench/smr at 2
 * threads, ratios to NONE, four runs against --with CCOLL_SMR_PREFETCH=0
 * in each: the stack under IBR 0.72-0.78 -> 0.77-0.80, under DEBRA 0.73
 * -> 0.73-0.76; the list under DEBRA 0.90-0.92 -> 0.90-0.94 (IBR level);
 * a quiet run (21 reps): IBR's stack 0.850 -> 0.963, DEBRA's list 0.934
 * -> 0.950. A plain read prefetch instead of PREFETCHW gave about half
 * the stack's gain. */
static inline void cc__smr_reuse_prefetch(const cc__smr_thr_t *t, const void *p) {
#if CC_X86 && !CC_ASAN && !CC_TSAN
  if (cc_likely(t->prefetch == CC__SMR_PF_EXCL)) {
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
    return;
  }
#endif
  if (t->prefetch != CC__SMR_PF_OFF) __builtin_prefetch(p, 1, 3);
}

/* A pooled block of header size word `size` exactly, or NULL. Its header
 * keeps its size; the scheme dates it as it would a new one. */
static inline cc__smr_hdr_t *cc__smr_reuse_take(cc__smr_thr_t *t, uint32_t size) {
  cc__smr_reuse_t *c = cc__smr_reuse_class(t, size);
  cc__smr_hdr_t *h = c->head;
  if (h == NULL || c->size != size) return NULL;
  if (cc__countdown_expired(&cc__prof_tls.gate)) return NULL; /* see the gate above */
  c->head = h->chain;
  if (c->head != NULL) cc__smr_reuse_prefetch(t, c->head);
  c->n--;
  t->reuse_bytes -= cc__smr_reuse_bytes(size);
  CC__SMR_REUSE_UNPOISON(h, cc__smr_block_bytes(size));
  cc_atomic_add_owner_u64(&t->st_reused, 1);
  return h;
}

/* Puts h, of c's size and cc__smr_reuse_bytes `bytes`, into class c, if
 * the bound and the free gate let it. */
static inline bool cc__smr_reuse_link(cc__smr_thr_t *t, cc__smr_reuse_t *c, cc__smr_hdr_t *h,
                                      size_t bytes) {
  if (t->reuse_bytes + bytes > CC__SMR_REUSE_MAX_BYTES) return false;
  if (cc__countdown_expired(&cc__prof_tls.free_gate)) return false; /* see the gate above */
  h->chain = c->head;
  c->head = h;
  c->n++;
  t->reuse_bytes += bytes;
  CC__SMR_REUSE_POISON(h, cc__smr_block_bytes(c->size));
  return true;
}

/* The class that takes nodes of `size` bytes now (claimed for that size
 * if it was empty), or NULL: the pool is off or another size holds it. */
static inline cc__smr_reuse_t *cc__smr_reuse_class_for(cc__smr_thr_t *t, uint32_t size) {
  if (!t->reuse_on) return NULL;
  cc__smr_reuse_t *c = cc__smr_reuse_class(t, size);
  if (c->size != size) {
    if (c->n != 0) return NULL; /* another size holds the class */
    c->size = size;
  }
  return c;
}

/* Keeps the reclaimed node h; false when the pool is off or full. */
static inline bool cc__smr_reuse_put(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  cc__smr_reuse_t *c = cc__smr_reuse_class_for(t, h->size);
  return c != NULL && cc__smr_reuse_link(t, c, h, cc__smr_reuse_bytes(h->size));
}

/* The allocation path of every reclaiming scheme; `size` is a header size
 * word (CC__SMR_PACKED set: a packed block). */
static inline cc__smr_hdr_t *cc__smr_reuse_alloc(cc__smr_thr_t *t, uint32_t size) {
  cc__smr_hdr_t *h = cc__smr_reuse_take(t, size);
  return cc_likely(h != NULL) ? h : cc__smr_block_new(size);
}

/* The header size word of a request with `flags` (0, CC__SMR_PACKED, or
 * that and CC__SMR_PREFIXED), 0 when it cannot be one (a block of 1 GiB
 * or more): the schemes' alloc entries return NULL then. */
static inline uint32_t cc__smr_size_word(size_t size, uint32_t flags) {
  if (cc_unlikely(size >= CC__SMR_PREFIXED || size == 0)) return 0;
  return (uint32_t)size | flags;
}

void cc__smr_leak(cc__smr_thr_t *t, cc__smr_hdr_t *h);

/* Reclaims h where the pool does not take it: the allocator, or with
 * CCOLL_SMR_LEAK the thread's leaked list (reuse.c). */
static inline void cc__smr_unpooled(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  if (cc_unlikely(t->leak_on) && h->size != 0) cc__smr_leak(t, h);
  else cc__smr_node_free(t, h);
}

/* Reclaims h (a node or a retire_fn record) and counts it. */
static inline void cc__smr_reclaim(cc__smr_thr_t *t, cc__smr_hdr_t *h) {
  if (h->size == 0 || !cc__smr_reuse_put(t, h)) cc__smr_unpooled(t, h);
  cc_atomic_add_owner_u64(&t->st_freed, 1);
}

/* reuse.c */
cc__smr_hdr_t *cc__smr_reuse_alloc_slow(cc__smr_thr_t *t, uint32_t size);
bool cc__smr_reuse_allowed(void);
uint8_t cc__smr_reuse_prefetch_mode(void);
void cc__smr_reuse_drop(cc__smr_thr_t *t);
/* Allocations the reuse pool served in d, every thread (tests). */
uint64_t cc__smr_reused(const cc_smr_t *d);

#endif /* CCOLL_SMR_REUSE_H */
