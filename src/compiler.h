/* Internal: compiler and build-environment macros. Never installed. */
#ifndef CCOLL_COMPILER_H
#define CCOLL_COMPILER_H

#include <stddef.h>

#define cc_likely(x)   __builtin_expect(!!(x), 1)
#define cc_unlikely(x) __builtin_expect(!!(x), 0)
#define cc_noinline    __attribute__((noinline))
#define cc_cold        __attribute__((cold, noinline))
#define cc_force_inline inline __attribute__((always_inline))
#define cc_unused      __attribute__((unused))
#define cc_cache_aligned __attribute__((aligned(64)))

/* Destructive interference size on every platform we build for. */
#define CC__LINE 64

#define cc_container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* x86 (32 or 64 bit): CPUID and PREFETCHW exist. */
#if defined(__x86_64__) || defined(__i386__)
#  define CC_X86 1
#else
#  define CC_X86 0
#endif

/* Sanitizer detection: gcc defines __SANITIZE_*__, clang answers __has_feature. */
#if defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CC_ASAN 1
#  endif
#  if __has_feature(thread_sanitizer)
#    define CC_TSAN 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CC_ASAN)
#  define CC_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(CC_TSAN)
#  define CC_TSAN 1
#endif
#ifndef CC_ASAN
#  define CC_ASAN 0
#endif
#ifndef CC_TSAN
#  define CC_TSAN 0
#endif

/* ThreadSanitizer does not model fences. Where a happens-before edge comes
 * from a fence (or from a signal handshake), these annotations tell it. */
#if CC_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#  define CC_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#  define CC_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#else
#  define CC_TSAN_ACQUIRE(addr) ((void)0)
#  define CC_TSAN_RELEASE(addr) ((void)0)
#endif



/* Thread-locals of the library use the initial-exec model: one
 * %fs-relative load instead of a __tls_get_addr call per access.
 * (libccoll is loaded at start-up or by dlopen into the static TLS surplus,
 * as mimalloc is.) */
#define cc_thread_local _Thread_local __attribute__((tls_model("initial-exec")))
#endif /* CCOLL_COMPILER_H */
