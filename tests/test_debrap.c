/* DEBRA+ neutralisation against the skip list: regression tests.
 *
 * end_never_jumps_back: an operation that answers from its read phase (get,
 * a navigation, an insert of a present key) reaches end with the phase still
 * READ. end used to drop the nesting depth before leaving that phase, so a
 * signal landing in between jumped back into the finished operation with
 * depth 0; it then ran unannounced and every later begin took itself for a
 * nested one and never announced again (ASan: use-after-free in the skip
 * list's search). Forced neutralisation (CCOLL_DEBRA_NEUTRALIZE_EVERY) puts
 * signals everywhere; after every call the thread's record must be back
 * outside any operation. A failure shows up as a wrong depth at once,
 * without waiting for the use-after-free it leads to. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ccoll.h"
#include "smr/smr_internal.h"

#define THREADS 4
#define KEYS 256
#define SECONDS 2

typedef struct {
  cc_smr_t *d;
  cc_map_t *m;
  cc_atomic(unsigned) seed;
  cc_atomic(int) bad; /* first bad record state seen, as depth * 8 + phase + 1 */
} ctx_t;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* After a call returns, this thread is outside every operation. */
static void check_idle(ctx_t *c) {
  cc__smr_thr_t *t = cc__smr_thr(c->d);
  int ph = cc_atomic_load_relaxed(&t->phase);
  if (t->depth != 0 || ph != CC__SMR_IDLE) {
    int expected = 0;
    cc_atomic_cas_strong_seq_cst(&c->bad, &expected, (int)(t->depth % 1024) * 8 + ph + 1);
  }
}

static void *worker(void *arg) {
  ctx_t *c = arg;
  unsigned s = cc_atomic_fetch_add_relaxed(&c->seed, 0x9e3779b9u) + 0x9e3779b9u;
  double end = now() + SECONDS;
  while (now() < end && cc_atomic_load_relaxed(&c->bad) == 0) {
    for (int i = 0; i < 256; i++) {
      s = s * 1103515245u + 12345u;
      uint64_t k = (s >> 8) % KEYS, found;
      void *v;
      switch ((s >> 4) % 8) {
      case 0: (void)cc_map_insert(c->m, k, (void *)(uintptr_t)(k + 1)); break;
      case 1: (void)cc_map_remove(c->m, k, NULL); break;
      case 2: (void)cc_map_pop_first(c->m, &found, &v); break;
      case 3: (void)cc_map_floor(c->m, k, &found, &v); break;
      case 4: (void)cc_map_ceiling(c->m, k, &found, &v); break;
      default: (void)cc_map_get(c->m, k, &v); break; /* ends in its read phase */
      }
      check_idle(c);
    }
  }
  cc_thread_detach();
  return NULL;
}

Test(debrap, end_never_jumps_back, .timeout = 60) {
  /* read when the domain is created: a signal every other read or write phase */
  cr_assert_eq(setenv("CCOLL_DEBRA_NEUTRALIZE_EVERY", "2", 1), 0);
  cc_smr_config_t sc = {CC_SMR_DEBRA_PLUS, 0, 0};
  ctx_t c = {.d = cc_smr_new(&sc)};
  cc_atomic_store_relaxed(&c.seed, (unsigned)time(NULL));
  cr_assert_not_null(c.d);
  cc_map_config_t mc = {.kind = CC_MAP_SKIPLIST, .key_kind = CC_KEY_U64, .smr = c.d};
  c.m = cc_map_new(&mc);
  cr_assert_not_null(c.m);
  for (uint64_t k = 0; k < KEYS; k += 2) cr_assert_eq(cc_map_insert(c.m, k, (void *)(uintptr_t)(k + 1)), CC_OK);

  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) cr_assert_eq(pthread_create(&th[i], NULL, worker, &c), 0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

  int bad = cc_atomic_load_relaxed(&c.bad);
  cr_expect_eq(bad, 0, "a call returned inside an operation: depth %d, phase %d", (bad - 1) / 8,
               (bad - 1) % 8);
  cc_smr_stats_t st;
  cc_smr_stats(c.d, &st);
  /* the test means nothing unless the signals did land */
  cr_expect_gt(st.neutralized, 100, "only %llu neutralisations", (unsigned long long)st.neutralized);
  cc_map_free(c.m);
  cc_smr_free(c.d);
  unsetenv("CCOLL_DEBRA_NEUTRALIZE_EVERY");
}
