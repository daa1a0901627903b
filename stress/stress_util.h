/* Shared helpers of the stress programs: clock, random numbers, violation
 * reporting. Header only: stress/CMakeLists.txt builds each .c file in stress/ as
 * its own program. */
#ifndef CCOLL_STRESS_UTIL_H
#define CCOLL_STRESS_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "atomic.h"

static inline uint64_t st_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void st_sleep_ns(uint64_t ns) {
  struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* splitmix64: a mixing function good enough to fingerprint multisets. */
static inline uint64_t st_mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* xorshift64*: per-thread generator, never shared. */
typedef struct { uint64_t s; } st_rng_t;

static inline void st_rng_seed(st_rng_t *r, uint64_t seed) {
  r->s = st_mix64(seed) | 1;
}

static inline uint64_t st_rng_next(st_rng_t *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545f4914f6cdd1dull;
}

static inline uint64_t st_rng_below(st_rng_t *r, uint64_t n) {
  return n ? st_rng_next(r) % n : 0;
}

/* Violations: counted always, the first few printed with their context so a
 * failing run explains itself without flooding the terminal. */
#define ST_MAX_PRINTED 25
static cc_atomic(uint64_t) st_violations;
static pthread_mutex_t st_print_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 1, 2)))
static void st_violation(const char *fmt, ...) {
  uint64_t n = cc_atomic_fetch_add_seq_cst(&st_violations, 1);
  if (n >= ST_MAX_PRINTED) return;
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&st_print_lock);
  fputs("  VIOLATION: ", stdout);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  if (n + 1 == ST_MAX_PRINTED) fputs("  (further violations counted, not printed)\n", stdout);
  fflush(stdout);
  pthread_mutex_unlock(&st_print_lock);
  va_end(ap);
}

static inline uint64_t st_violation_count(void) {
  return cc_atomic_load_seq_cst(&st_violations);
}

#endif /* CCOLL_STRESS_UTIL_H */
