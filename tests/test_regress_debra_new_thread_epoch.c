/* Regression (found by ccoll-stress --churn and --stall under ASan/TSan:
 * use-after-free in skip list and BST traversals under DEBRA and DEBRA+):
 * a thread record fresh from record_claim() has cursor == NULL, which
 * cc__smr_debra_check() reads as "every thread checked", so the first
 * epoch check of every newly registered thread (after the minimum number
 * of operations) advances the global epoch without looking at anyone. A few threads starting while an operation or
 * section runs push the epoch past it, and blocks that section can still
 * reach are freed.
 *
 * Deterministic form, public API only: the main thread holds a section
 * open; one thread retires an object (its free callback records the free)
 * and exits; then threads start one after the other, each entering and
 * leaving a few hundred sections. DEBRA lets the epoch run at most one
 * past a thread in a section, and nothing retired after the section began
 * may be freed before it ends. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ccoll/alloc.h"
#include "ccoll/smr.h"

static cc_smr_t *dom;
static atomic_int freed;

static void on_free(void *p, void *ctx) {
  (void)ctx;
  atomic_store(&freed, 1);
  cc_free(p, 16);
}

static void *retirer(void *arg) {
  (void)arg;
  void *p = cc_alloc(16);
  cr_assert_not_null(p);
  cc_smr_enter(dom);
  cc_smr_retire_fn(dom, p, on_free, NULL);
  cc_smr_leave(dom);
  return NULL; /* exit: the garbage goes to the domain */
}

/* A new thread's first few dozen sections (DEBRA waits a minimum number
 * of operations before trying to advance, which only delays the bug). */
static void *some_sections(void *arg) {
  (void)arg;
  for (int i = 0; i < 256; i++) {
    cc_smr_enter(dom);
    cc_smr_leave(dom);
  }
  return NULL;
}

static void run(cc_smr_kind_t kind) {
  cc_smr_config_t cfg = { .kind = kind };
  dom = cc_smr_new(&cfg);
  cr_assert_not_null(dom);
  atomic_store(&freed, 0);
  cc_smr_enter(dom);
  cc_smr_stats_t s0, s1;
  cc_smr_stats(dom, &s0);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, retirer, NULL), 0);
  pthread_join(th, NULL);
  for (int i = 0; i < 16; i++) {
    cr_assert_eq(pthread_create(&th, NULL, some_sections, NULL), 0);
    pthread_join(th, NULL);
  }
  cc_smr_stats(dom, &s1);
  int was_freed = atomic_load(&freed);
  cc_smr_leave(dom);
  cc_smr_free(dom);
  cr_expect_leq(s1.epoch, s0.epoch + 1, "%s: epoch went from %llu to %llu past a thread in a section",
                cc_smr_kind_name(kind), (unsigned long long)s0.epoch, (unsigned long long)s1.epoch);
  cr_expect_eq(was_freed, 0, "%s: an object retired during a section was freed before it ended",
               cc_smr_kind_name(kind));
}

Test(regress_debra, new_threads_do_not_advance_past_a_section) { run(CC_SMR_DEBRA); }
Test(regress_debra, new_threads_do_not_advance_past_a_section_plus) { run(CC_SMR_DEBRA_PLUS); }
