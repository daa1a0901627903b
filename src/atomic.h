/* Internal: the one wrapper over <stdatomic.h>. Each name carries its memory
 * order, so a reader sees the order at the call site (mimalloc's
 * mimalloc-atomic.h is the model). Plain `_Atomic` objects only; no ck_pr,
 * no lone fences on synchronisation paths (TSan does not model them). */
#ifndef CCOLL_ATOMIC_H
#define CCOLL_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

#define cc_atomic(T) _Atomic(T)

/* loads */
#define cc_atomic_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define cc_atomic_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define cc_atomic_load_seq_cst(p) atomic_load_explicit((p), memory_order_seq_cst)

/* stores */
#define cc_atomic_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define cc_atomic_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define cc_atomic_store_seq_cst(p, v) atomic_store_explicit((p), (v), memory_order_seq_cst)

/* read-modify-write */
#define cc_atomic_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define cc_atomic_fetch_add_acq_rel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define cc_atomic_fetch_add_seq_cst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define cc_atomic_fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define cc_atomic_fetch_sub_acq_rel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define cc_atomic_fetch_or_acq_rel(p, v)  atomic_fetch_or_explicit((p), (v), memory_order_acq_rel)
#define cc_atomic_fetch_or_seq_cst(p, v)  atomic_fetch_or_explicit((p), (v), memory_order_seq_cst)
#define cc_atomic_fetch_and_acq_rel(p, v) atomic_fetch_and_explicit((p), (v), memory_order_acq_rel)
#define cc_atomic_exchange_acq_rel(p, v)  atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define cc_atomic_exchange_seq_cst(p, v)  atomic_exchange_explicit((p), (v), memory_order_seq_cst)
#define cc_atomic_exchange_acquire(p, v)  atomic_exchange_explicit((p), (v), memory_order_acquire)
#define cc_atomic_exchange_release(p, v)  atomic_exchange_explicit((p), (v), memory_order_release)

/* compare-and-swap: on failure *expected receives the current value */
#define cc_atomic_cas_strong_acq_rel(p, expected, desired) \
  atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_acq_rel, memory_order_acquire)
#define cc_atomic_cas_weak_acq_rel(p, expected, desired) \
  atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_acq_rel, memory_order_acquire)
#define cc_atomic_cas_strong_seq_cst(p, expected, desired) \
  atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_seq_cst, memory_order_seq_cst)
#define cc_atomic_cas_weak_seq_cst(p, expected, desired) \
  atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_seq_cst, memory_order_seq_cst)
#define cc_atomic_cas_strong_release(p, expected, desired) \
  atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_release, memory_order_relaxed)
#define cc_atomic_cas_strong_relaxed(p, expected, desired) \
  atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_relaxed, memory_order_relaxed)

/* Single-writer counters: the owner thread is the only writer, readers sum
 * them. A relaxed load+store is enough (no RMW, no lock prefix) and keeps
 * TSan informed, unlike a plain increment on a shared variable. */
#define cc_atomic_add_owner(p, v) \
  cc_atomic_store_relaxed((p), cc_atomic_load_relaxed(p) + (v))

/* Compiler-only barrier: keeps the compiler from moving memory accesses
 * across it, emits no instruction. The reader half of an asymmetric fence
 * (src/smr/asym.c): the writer half is a membarrier on the other side. */
#define cc_compiler_barrier() atomic_signal_fence(memory_order_seq_cst)

/* The same for a 64-bit counter on the allocation fast paths. On x86-64 an
 * unlocked `add` to memory is that load and one aligned 8-byte store (what
 * readers may see is the same), in one instruction: compilers never fuse
 * atomic accesses into it. Sanitizer builds keep the portable form, which
 * TSan and ASan see. */
#if defined(__x86_64__) && !CC_TSAN && !CC_ASAN
_Static_assert(sizeof(cc_atomic(uint64_t)) == sizeof(uint64_t), "a lock-free 64-bit atomic is the plain word");
static inline void cc_atomic_add_owner_u64(cc_atomic(uint64_t) *p, uint64_t v) {
  __asm__("addq %1, %0" : "+m"(*(uint64_t *)p) : "er"(v));
}
#else
static inline void cc_atomic_add_owner_u64(cc_atomic(uint64_t) *p, uint64_t v) { cc_atomic_add_owner(p, v); }
#endif

/* Spin-wait hint. */
static inline void cc_atomic_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#endif /* CCOLL_ATOMIC_H */
