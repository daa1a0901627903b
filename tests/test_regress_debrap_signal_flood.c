/* Regression (found by ccoll-stress --neutralize-every 64 on the MS queue):
 * forced neutralisation (CCOLL_DEBRA_NEUTRALIZE_EVERY) sent a signal to a
 * thread in an operation on every forced round, with no limit on signals in
 * flight. The signal is real-time (queued, not merged) and its handler runs
 * with SA_NODEFER, so a victim that could not run for a moment later took
 * every queued signal as one nested handler frame on top of the other:
 * stack overflow (SIGSEGV).
 *
 * Deterministic form: the victim sits in an operation's write phase with
 * the signal blocked while another thread runs 20000 operations with
 * forced neutralisation on; then the victim unblocks the signal. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#include "smr/smr_internal.h"

static cc_smr_t *dom;
static cc_atomic(int) victim_ready;
static cc_atomic(int) flood_done;

static void *victim(void *arg) {
  (void)arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, dom->signo);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  cc__smr_thr_t *t = cc__smr_thr(dom);
  cr_assert_not_null(t);
  CC__SMR(debrap, begin)(t);
  CC__SMR_READ_PHASE(debrap, t);
  CC__SMR(debrap, write_phase)(t);
  cc_atomic_store_seq_cst(&victim_ready, 1);
  while (!cc_atomic_load_seq_cst(&flood_done)) sched_yield();
  pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* every pending signal is delivered here */
  CC__SMR(debrap, end)(t);
  return NULL;
}

Test(regress_debrap, forced_neutralisation_does_not_flood_a_thread) {
  setenv("CCOLL_DEBRA_NEUTRALIZE_EVERY", "1", 1);
  cc_smr_config_t cfg = { .kind = CC_SMR_DEBRA_PLUS };
  dom = cc_smr_new(&cfg);
  cr_assert_not_null(dom);
  if (dom->signo == 0) {
    cc_smr_free(dom);
    cr_skip_test("neutralisation unavailable in this build");
  }
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, victim, NULL), 0);
  while (!cc_atomic_load_seq_cst(&victim_ready)) sched_yield();
  cc__smr_thr_t *t = cc__smr_thr(dom);
  cr_assert_not_null(t);
  for (int i = 0; i < 20000; i++) {
    CC__SMR(debrap, begin)(t);
    CC__SMR(debrap, end)(t);
  }
  cc_atomic_store_seq_cst(&flood_done, 1);
  cr_assert_eq(pthread_join(th, NULL), 0);
  cc_smr_stats_t s;
  cc_smr_stats(dom, &s);
  cr_expect_geq(s.neutralized, 1, "the victim was never neutralised");
  cc_smr_free(dom);
}
