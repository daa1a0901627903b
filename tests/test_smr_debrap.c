/* DEBRA+: neutralisation of a thread stopped in a read phase (it restarts),
 * in a write phase (its protected nodes stay alive), and forced
 * neutralisation under concurrent updates (nothing lost). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "ccoll.h"
#include "smr_treiber.h"

static cc_smr_t *new_domain(cc_smr_kind_t k, const char *threshold, const char *every) {
  if (threshold) setenv("CCOLL_DEBRA_THRESHOLD", threshold, 1);
  if (every) setenv("CCOLL_DEBRA_NEUTRALIZE_EVERY", every, 1);
  cc_smr_config_t c = {k, 0, 0};
  cc_smr_t *d = cc_smr_new(&c);
  unsetenv("CCOLL_DEBRA_THRESHOLD");
  unsetenv("CCOLL_DEBRA_NEUTRALIZE_EVERY");
  cr_assert_not_null(d);
  return d;
}

typedef struct {
  ts_stack_t s;
  cc_atomic(int) entries;  /* read phases begun by the stopped thread */
  cc_atomic(int) ready;    /* it reached the point where it stops */
  cc_atomic(int) release;  /* it may go on */
  cc_atomic(int) popped_ok;
  uint64_t popped;
  uint64_t protected_val;  /* what the write-phase thread read after release */
} stop_t;

/* A pop that stops inside its read phase until released, for scheme S. */
#define STOP_IN_READ_PHASE(S)                                                        \
  static void *stop_in_read_phase_##S(void *arg) {                                   \
    stop_t *c = arg;                                                                 \
    cc__smr_thr_t *t = cc__smr_thr(c->s.smr);                                        \
    CC__SMR(S, begin)(t);                                                            \
    for (;;) {                                                                       \
      CC__SMR_READ_PHASE(S, t);                                                      \
      cc_atomic_fetch_add_relaxed(&c->entries, 1);                                   \
      uintptr_t top = CC__SMR(S, read)(t, &c->s.top);                                \
      cc_atomic_store_release(&c->ready, 1);                                         \
      while (!cc_atomic_load_acquire(&c->release)) cc_atomic_pause(); /* no syscall */ \
      ts_node_t *n = (ts_node_t *)top;                                               \
      uintptr_t next = cc_atomic_load_acquire(&n->next);                             \
      CC__SMR(S, protect)(t, 0, n);                                                  \
      CC__SMR(S, write_phase)(t);                                                    \
      if (cc_atomic_cas_strong_acq_rel(&c->s.top, &top, next)) {                     \
        c->popped = n->val;                                                          \
        CC__SMR(S, retire)(t, n);                                                    \
        break;                                                                       \
      }                                                                              \
    }                                                                                \
    CC__SMR(S, end)(t);                                                              \
    cc_atomic_store_release(&c->popped_ok, 1);                                       \
    return NULL;                                                                     \
  }
STOP_IN_READ_PHASE(debrap)
STOP_IN_READ_PHASE(debra)

static void churn(cc_smr_t *d, int n) {
  for (int i = 0; i < n; i++) cc_smr_retire(d, cc_smr_alloc(d, 16));
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Retires in rounds until `enough` holds or 10 s passed: a signal reaches
 * its thread only when that thread runs, which on a loaded machine can take
 * a while. Returns the last statistics. */
static cc_smr_stats_t churn_until(cc_smr_t *d, bool (*enough)(const cc_smr_stats_t *), int rounds_min) {
  cc_smr_stats_t st;
  double end = now() + 10;
  for (int r = 0;; r++) {
    churn(d, 1000);
    cc_smr_stats(d, &st);
    if ((r >= rounds_min && enough(&st)) || now() > end) return st;
    sched_yield();
  }
}

/* bounded: a few epochs' worth of this thread's retirements, however many */
static bool neutralised_thrice_and_bounded(const cc_smr_stats_t *st) {
  return st->neutralized >= 3 && st->pending < st->retired / 4;
}

static bool always(const cc_smr_stats_t *st) {
  (void)st;
  return true;
}

static void read_phase_case(cc_smr_kind_t kind) {
  stop_t c = {0};
  ts_init(&c.s, new_domain(kind, "64", NULL));
  const ts_ops_t *ops = ts_ops(kind);
  cc__smr_thr_t *t = cc__smr_thr(c.s.smr);
  for (uint64_t v = 1; v <= 3; v++) cr_assert_eq(ops->push(&c.s, t, v), CC_OK);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL,
                              kind == CC_SMR_DEBRA ? stop_in_read_phase_debra : stop_in_read_phase_debrap,
                              &c),
               0);
  while (!cc_atomic_load_acquire(&c.ready)) sched_yield();
  /* take the node the stopped thread is looking at, then retire a lot */
  uint64_t v;
  cr_assert_eq(ops->pop(&c.s, t, &v), CC_OK);
  cr_assert_eq(v, 3);
  cc_smr_stats_t st =
      churn_until(c.s.smr, kind == CC_SMR_DEBRA ? always : neutralised_thrice_and_bounded, 20);
  if (kind == CC_SMR_DEBRA) {
    cr_expect_geq(st.pending, 20000, "DEBRA: a stopped thread holds everything");
  } else {
    cr_expect_geq(st.neutralized, 3, "the stopped thread was neutralised, again and again");
    cr_expect_geq(cc_atomic_load_relaxed(&c.entries), 4, "and restarted its read phase each time");
    cr_expect_lt(st.pending, st.retired / 4, "garbage stays bounded: %llu pending (neutralised %llu, entries %d, epoch %llu)",
                 (unsigned long long)st.pending, (unsigned long long)st.neutralized,
                 cc_atomic_load_relaxed(&c.entries), (unsigned long long)st.epoch);
  }
  cc_atomic_store_release(&c.release, 1);
  pthread_join(th, NULL);
  /* after a restart it saw the current top (2), not the node popped here */
  cr_expect_eq(c.popped, 2);
  cr_assert_eq(ops->pop(&c.s, t, &v), CC_OK);
  cr_expect_eq(v, 1);
  cr_expect_eq(ops->pop(&c.s, t, &v), CC_EMPTY);
  cc_smr_free(c.s.smr);
}

Test(debra_plus, stopped_in_read_phase_is_neutralised_and_restarts) {
  read_phase_case(CC_SMR_DEBRA_PLUS);
}

Test(debra_plus, control_debra_holds_everything_behind_a_stopped_thread) {
  read_phase_case(CC_SMR_DEBRA);
}

/* Stops in its write phase holding the top node in a slot. */
static void *stop_in_write_phase(void *arg) {
  stop_t *c = arg;
  cc__smr_thr_t *t = cc__smr_thr(c->s.smr);
  CC__SMR(debrap, begin)(t);
  CC__SMR_READ_PHASE(debrap, t);
  cc_atomic_fetch_add_relaxed(&c->entries, 1);
  uintptr_t top = CC__SMR(debrap, read)(t, &c->s.top);
  ts_node_t *n = (ts_node_t *)top;
  CC__SMR(debrap, protect)(t, 0, n);
  CC__SMR(debrap, write_phase)(t);
  cc_atomic_store_release(&c->ready, 1);
  while (!cc_atomic_load_acquire(&c->release)) sched_yield(); /* write phase: anything goes */
  c->protected_val = n->val; /* must still be the node it protected */
  CC__SMR(debrap, end)(t);
  return NULL;
}

static bool neutralised_once(const cc_smr_stats_t *st) { return st->neutralized >= 1; }

Test(debra_plus, stopped_in_write_phase_keeps_protected_nodes) {
  stop_t c = {0};
  ts_init(&c.s, new_domain(CC_SMR_DEBRA_PLUS, "64", NULL));
  const ts_ops_t *ops = ts_ops(CC_SMR_DEBRA_PLUS);
  cc__smr_thr_t *t = cc__smr_thr(c.s.smr);
  cr_assert_eq(ops->push(&c.s, t, 77), CC_OK);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, stop_in_write_phase, &c), 0);
  while (!cc_atomic_load_acquire(&c.ready)) sched_yield();
  uint64_t v;
  cr_assert_eq(ops->pop(&c.s, t, &v), CC_OK); /* retires the protected node */
  cr_assert_eq(v, 77);
  cc_smr_stats_t st = churn_until(c.s.smr, neutralised_once, 20);
  for (int i = 0; i < 8; i++) cc_smr_drain(c.s.smr);
  cc_smr_stats(c.s.smr, &st);
  cr_expect_geq(st.neutralized, 1, "the stopped thread was neutralised");
  cr_expect_eq(st.pending, 1, "all but the protected node freed (%llu pending)",
               (unsigned long long)st.pending);
  cc_atomic_store_release(&c.release, 1);
  pthread_join(th, NULL);
  cr_expect_eq(c.protected_val, 77);
  churn(c.s.smr, 100);
  for (int i = 0; i < 4; i++) cc_smr_drain(c.s.smr);
  cc_smr_stats(c.s.smr, &st);
  cr_expect_eq(st.pending, 0, "released once the slot is cleared");
  cc_smr_free(c.s.smr);
}

/* A user section is never jumped out of, and holds DEBRA+ back as DEBRA. */
typedef struct {
  cc_smr_t *d;
  cc_atomic(int) in, go;
} section_t;

static void *sit_in_section(void *arg) {
  section_t *s = arg;
  cc_smr_enter(s->d);
  cc_atomic_store_release(&s->in, 1);
  while (!cc_atomic_load_acquire(&s->go)) cc_atomic_pause();
  cc_smr_leave(s->d);
  return NULL;
}

Test(debra_plus, user_sections_are_not_neutralised) {
  section_t s = {0};
  s.d = new_domain(CC_SMR_DEBRA_PLUS, "16", NULL);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, sit_in_section, &s), 0);
  while (!cc_atomic_load_acquire(&s.in)) sched_yield();
  churn(s.d, 5000);
  cc_smr_stats_t st;
  cc_smr_stats(s.d, &st);
  cr_expect_eq(st.neutralized, 0);
  cr_expect_eq(st.pending, 5000);
  cc_atomic_store_release(&s.go, 1);
  pthread_join(th, NULL);
  churn(s.d, 10);
  cc_smr_drain(s.d);
  cc_smr_stats(s.d, &st);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(s.d);
}

/* ------------------------------------------------------------ forced */

typedef struct {
  ts_stack_t s;
  const ts_ops_t *ops;
  cc_atomic(uint64_t) pushed, popped, pops;
} forced_t;

static void *forced_worker(void *arg) {
  forced_t *f = arg;
  cc__smr_thr_t *t = cc__smr_thr(f->s.smr);
  uint64_t id = (uint64_t)(uintptr_t)pthread_self() & 0xffff, ps = 0, qs = 0, qn = 0;
  for (uint64_t i = 0; i < 20000; i++) {
    uint64_t v = (id << 32) | i, out;
    cr_assert_eq(f->ops->push(&f->s, t, v), CC_OK);
    ps += v;
    if (f->ops->pop(&f->s, t, &out) == CC_OK) {
      qs += out;
      qn++;
    }
  }
  cc_atomic_fetch_add_relaxed(&f->pushed, ps);
  cc_atomic_fetch_add_relaxed(&f->popped, qs);
  cc_atomic_fetch_add_relaxed(&f->pops, qn);
  return NULL;
}

Test(debra_plus, forced_neutralisation_loses_nothing) {
  forced_t f = {0};
  ts_init(&f.s, new_domain(CC_SMR_DEBRA_PLUS, "16", "5"));
  f.ops = ts_ops(CC_SMR_DEBRA_PLUS);
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, forced_worker, &f);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  cc__smr_thr_t *t = cc__smr_thr(f.s.smr);
  uint64_t out, rest = 0, n = 0;
  while (f.ops->pop(&f.s, t, &out) == CC_OK) {
    rest += out;
    n++;
  }
  cr_expect_eq(cc_atomic_load_relaxed(&f.popped) + rest, cc_atomic_load_relaxed(&f.pushed));
  cr_expect_eq(cc_atomic_load_relaxed(&f.pops) + n, 80000);
  cc_smr_stats_t st;
  cc_smr_drain(f.s.smr);
  cc_smr_stats(f.s.smr, &st);
  cr_expect_geq(st.neutralized, 1000, "recovery ran %llu times", (unsigned long long)st.neutralized);
  cr_expect_eq(st.retired, 80000);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(f.s.smr);
}
