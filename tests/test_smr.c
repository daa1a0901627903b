/* Reclamation domains: every scheme through the public API and through the
 * inline contract (a Treiber stack instantiated per scheme). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc_internal.h"
#include "ccoll/profiler.h"
#include "ccoll.h"
#include "smr_list.h"
#include "smr_treiber.h"

static const cc_smr_kind_t kinds[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static cc_smr_t *new_domain(cc_smr_kind_t k) {
  cc_smr_config_t c = {k, 0, 0};
  cc_smr_t *d = cc_smr_new(&c);
  cr_assert_not_null(d);
  return d;
}

static void run_threads(int n, void *(*fn)(void *), void *arg) {
  pthread_t th[64];
  cr_assert(n <= 64);
  for (int i = 0; i < n; i++) cr_assert_eq(pthread_create(&th[i], NULL, fn, arg), 0);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
}

/* Some reclamation pressure from the calling thread: allocations (IBR
 * epochs), retirements (scans, DEBRA bags), drains. */
static void churn(cc_smr_t *d, int rounds) {
  for (int i = 0; i < rounds; i++) {
    void *b = cc_smr_alloc(d, 24);
    cr_assert_not_null(b);
    cc_smr_retire(d, b);
    if (i % 64 == 0) cc_smr_drain(d);
  }
  cc_smr_drain(d);
}

/* ------------------------------------------------------------ domains */

Test(smr, kinds_resolve_and_bad_input_is_refused) {
  for (size_t i = 0; i < NKINDS; i++) {
    cc_smr_t *d = new_domain(kinds[i]);
    cr_expect_eq(cc_smr_kind(d), kinds[i]);
    cc_smr_free(d);
  }
  cc_smr_t *d = cc_smr_new(NULL);
  cr_assert_not_null(d);
  cr_expect_eq(cc_smr_kind(d), CC_SMR_IBR, "compiled default is IBR");
  cc_smr_free(d);
  cc_smr_config_t bad = {(cc_smr_kind_t)99, 0, 0};
  cr_expect_null(cc_smr_new(&bad));
  cr_expect_null(cc_smr_alloc(NULL, 8));
  cr_expect_null(cc_smr_protect(NULL, NULL));
  cr_expect_eq(cc_smr_kind(NULL), CC_SMR_DEFAULT);
  cc_smr_enter(NULL);
  cc_smr_leave(NULL);
  cc_smr_retire(NULL, NULL);
  cc_smr_drain(NULL);
  cc_smr_free(NULL);
  cc_smr_stats_t st;
  cc_smr_stats(NULL, &st);
  cr_expect_eq(st.retired, 0);
  d = new_domain(CC_SMR_IBR);
  cr_expect_null(cc_smr_alloc(d, 0));
  cr_expect_null(cc_smr_alloc(d, SIZE_MAX));
  cc_smr_leave(d); /* unbalanced: ignored */
  cc_smr_free(d);
}

/* A block's size word keeps its two top bits for flags: 1 GiB and more is
 * refused with NULL on every scheme, not truncated into a flag. */
Test(smr, alloc_refuses_a_gibibyte_and_more) {
  for (size_t i = 0; i < NKINDS; i++) {
    cc_smr_t *d = new_domain(kinds[i]);
    cr_expect_null(cc_smr_alloc(d, (size_t)1 << 30), "%s", cc_smr_kind_name(kinds[i]));
    cr_expect_null(cc_smr_alloc(d, ((size_t)1 << 31) + 64), "%s", cc_smr_kind_name(kinds[i]));
    void *p = cc_smr_alloc(d, 64);
    cr_assert_not_null(p);
    cc_smr_retire(d, p);
    cc_smr_free(d);
  }
}

Test(smr, default_domain_is_shared_and_survives_free) {
  cc_smr_t *d = cc_smr_default();
  cr_assert_not_null(d);
  cr_expect_eq(cc_smr_default(), d);
  cr_expect_eq(cc_smr_kind(d), (cc_smr_kind_t)cc_option_get(CC_OPT_SMR));
  cc_smr_free(d); /* refused: others share it */
  churn(d, 100);
  /* the kind is frozen once the default domain exists */
  long other = cc_smr_kind(d) == CC_SMR_DEBRA ? CC_SMR_NONE : CC_SMR_DEBRA;
  cr_expect_eq(cc_option_set(CC_OPT_SMR, other), CC_EINVAL);
}

/* The environment is read once, lazily: each case runs in a fresh child
 * that reads it first. */
static int child_kind(const char *env, long set_kind) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    if (env) setenv("CCOLL_SMR", env, 1);
    else unsetenv("CCOLL_SMR");
    if (set_kind != 0 && cc_option_set(CC_OPT_SMR, set_kind) != CC_OK) _exit(100);
    _exit((int)cc_smr_kind(cc_smr_default()));
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(smr, kind_by_environment_and_option) {
  cr_expect_eq(child_kind("debra", 0), CC_SMR_DEBRA);
  cr_expect_eq(child_kind("DEBRA+", 0), CC_SMR_DEBRA_PLUS);
  cr_expect_eq(child_kind("none", 0), CC_SMR_NONE);
  cr_expect_eq(child_kind("ibr", 0), CC_SMR_IBR);
  cr_expect_eq(child_kind(NULL, 0), CC_SMR_IBR);
  cr_expect_eq(child_kind("bogus", 0), CC_SMR_IBR);
  cr_expect_eq(child_kind("none", CC_SMR_DEBRA), CC_SMR_DEBRA, "cc_option_set beats the environment");
}

/* ------------------------------------------------------------ canaries */

typedef struct {
  cc_smr_t *d;
  void *shared;           /* the link the reader follows */
  cc_atomic(int) stage;   /* 1: reader holds it; 2: reader may leave; 3: left */
  cc_atomic(int) freed;   /* set by the canary's reclamation */
  cc_atomic(int) bad;     /* reader saw a freed canary */
  int nest;               /* sections the reader opens */
} canary_t;

typedef struct {
  uint64_t magic;
  canary_t *c;
} canary_obj_t;

#define MAGIC 0x5afe5afe5afe5afeULL

static void canary_free(void *p, void *ctx) {
  (void)ctx;
  canary_obj_t *o = p;
  cc_atomic_store_release(&o->c->freed, 1);
  o->magic = 0;
  free(o);
}

static void stage_wait(cc_atomic(int) *stage, int s) {
  while (cc_atomic_load_acquire(stage) < s) sched_yield();
}

static void wait_stage(canary_t *c, int s) { stage_wait(&c->stage, s); }

static void *canary_reader(void *arg) {
  canary_t *c = arg;
  for (int i = 0; i < c->nest; i++) cc_smr_enter(c->d);
  canary_obj_t *o = cc_smr_protect(c->d, &c->shared);
  cc_atomic_store_release(&c->stage, 1);
  wait_stage(c, 2);
  if (cc_atomic_load_acquire(&c->freed) || o->magic != MAGIC) cc_atomic_store_relaxed(&c->bad, 1);
  /* all but the outermost leave: still protected */
  for (int i = 1; i < c->nest; i++) cc_smr_leave(c->d);
  cc_atomic_store_release(&c->stage, 3);
  wait_stage(c, 4);
  if (cc_atomic_load_acquire(&c->freed) || o->magic != MAGIC) cc_atomic_store_relaxed(&c->bad, 1);
  cc_smr_leave(c->d);
  cc_atomic_store_release(&c->stage, 5);
  return NULL;
}

static void canary_case(cc_smr_kind_t k, int nest) {
  canary_t c = {.nest = nest};
  c.d = new_domain(k);
  canary_obj_t *o = malloc(sizeof *o);
  o->magic = MAGIC;
  o->c = &c;
  c.shared = o;
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, canary_reader, &c), 0);
  wait_stage(&c, 1);
  /* unlink, retire, then push reclamation as hard as possible */
  __atomic_store_n(&c.shared, NULL, __ATOMIC_SEQ_CST);
  cc_smr_retire_fn(c.d, o, canary_free, NULL);
  churn(c.d, 3000);
  cr_expect_eq(cc_atomic_load_acquire(&c.freed), 0, "%s: freed while a section holds it",
               cc_smr_kind_name(k));
  cc_atomic_store_release(&c.stage, 2);
  wait_stage(&c, 3);
  churn(c.d, 3000);
  cr_expect_eq(cc_atomic_load_acquire(&c.freed), 0, "%s: freed before the outermost leave",
               cc_smr_kind_name(k));
  cc_atomic_store_release(&c.stage, 4);
  wait_stage(&c, 5);
  pthread_join(th, NULL);
  cr_expect_eq(cc_atomic_load_relaxed(&c.bad), 0);
  churn(c.d, 3000);
  if (k != CC_SMR_NONE)
    cr_expect_eq(cc_atomic_load_acquire(&c.freed), 1, "%s: never freed after the section",
                 cc_smr_kind_name(k));
  else
    cr_expect_eq(cc_atomic_load_acquire(&c.freed), 0, "none frees only at cc_smr_free");
  cc_smr_free(c.d);
  cr_expect_eq(cc_atomic_load_acquire(&c.freed), 1, "%s: cc_smr_free frees it", cc_smr_kind_name(k));
}

Test(smr, canary_none) { canary_case(CC_SMR_NONE, 1); }
Test(smr, canary_debra) { canary_case(CC_SMR_DEBRA, 1); }
Test(smr, canary_debra_plus) { canary_case(CC_SMR_DEBRA_PLUS, 1); }
Test(smr, canary_ibr) { canary_case(CC_SMR_IBR, 1); }
Test(smr, canary_nested_sections) {
  for (size_t i = 0; i < NKINDS; i++) canary_case(kinds[i], 3);
}

/* ------------------------------------------------------------ Treiber stack */

typedef struct {
  ts_stack_t s;
  const ts_ops_t *ops;
  int per_thread;
  cc_atomic(uint64_t) pushed_sum, popped_sum, pops;
  cc_atomic(int) next_id;
} stack_case_t;

static void *stack_worker(void *arg) {
  stack_case_t *c = arg;
  uint64_t id = (uint64_t)cc_atomic_fetch_add_relaxed(&c->next_id, 1);
  cc__smr_thr_t *t = cc__smr_thr(c->s.smr);
  cr_assert_not_null(t);
  uint64_t pushed = 0, popped = 0, pops = 0;
  for (int i = 0; i < c->per_thread; i++) {
    uint64_t v = (id << 32) | (uint64_t)i, out;
    cr_assert_eq(c->ops->push(&c->s, t, v), CC_OK);
    pushed += v;
    if (c->ops->pop(&c->s, t, &out) == CC_OK) {
      popped += out;
      pops++;
    }
  }
  cc_atomic_fetch_add_relaxed(&c->pushed_sum, pushed);
  cc_atomic_fetch_add_relaxed(&c->popped_sum, popped);
  cc_atomic_fetch_add_relaxed(&c->pops, pops);
  return NULL;
}

static void stack_case(cc_smr_kind_t k, int threads, int per_thread) {
  stack_case_t c = {.per_thread = per_thread};
  ts_init(&c.s, new_domain(k));
  c.ops = ts_ops(k);
  run_threads(threads, stack_worker, &c);
  /* drain what is left from this thread and count it */
  cc__smr_thr_t *t = cc__smr_thr(c.s.smr);
  uint64_t rest = 0, out, n = 0;
  while (c.ops->pop(&c.s, t, &out) == CC_OK) {
    rest += out;
    n++;
  }
  cr_expect_eq(cc_atomic_load_relaxed(&c.popped_sum) + rest, cc_atomic_load_relaxed(&c.pushed_sum),
               "%s: values lost or duplicated", cc_smr_kind_name(k));
  cr_expect_eq(cc_atomic_load_relaxed(&c.pops) + n, (uint64_t)threads * (uint64_t)per_thread);
  cc_smr_stats_t st;
  cc_smr_stats(c.s.smr, &st);
  cr_expect_eq(st.retired, (uint64_t)threads * (uint64_t)per_thread, "%s", cc_smr_kind_name(k));
  cr_expect_eq(st.pending, st.retired - st.freed);
  cr_expect_geq(st.pending_peak, st.pending);
  cc_smr_drain(c.s.smr);
  cc_smr_stats(c.s.smr, &st);
  if (k != CC_SMR_NONE)
    cr_expect_eq(st.pending, 0, "%s: %llu pending after drain with no thread inside",
                 cc_smr_kind_name(k), (unsigned long long)st.pending);
  else
    cr_expect_eq(st.freed, 0);
  cr_expect_eq(ts_destroy(&c.s), 0);
  cc_smr_free(c.s.smr);
}

Test(smr, treiber_every_scheme_4_threads) {
  for (size_t i = 0; i < NKINDS; i++) stack_case(kinds[i], 4, 20000);
}

/* ------------------------------------------------------------ lifecycle */

static void noop_fn(void *p, void *ctx) {
  (void)p, (void)ctx;
}

static void free_32(void *p, void *ctx) {
  (void)ctx;
  cc_free(p, 32);
}

Test(smr, everything_freed_by_cc_smr_free) {
  cc_alloc_stats_enable(true);
  for (size_t i = 0; i < NKINDS; i++) {
    cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
    stack_case_t c = {.per_thread = 5000};
    ts_init(&c.s, new_domain(kinds[i]));
    c.ops = ts_ops(kinds[i]);
    run_threads(3, stack_worker, &c);
    /* leave garbage pending in this thread and nodes in the stack */
    cc__smr_thr_t *t = cc__smr_thr(c.s.smr);
    for (int j = 0; j < 100; j++) cr_assert_eq(c.ops->push(&c.s, t, 1), CC_OK);
    uint64_t out;
    for (int j = 0; j < 50; j++) cr_assert_eq(c.ops->pop(&c.s, t, &out), CC_OK);
    for (int j = 0; j < 10; j++) cc_smr_retire_fn(c.s.smr, cc_alloc(32), free_32, NULL);
    ts_destroy(&c.s);
    cc_smr_free(c.s.smr);
    cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
    cr_expect_eq(after.alloc_count - before.alloc_count, after.free_count - before.free_count,
                 "%s: %llu blocks allocated, %llu freed", cc_smr_kind_name(kinds[i]),
                 (unsigned long long)(after.alloc_count - before.alloc_count),
                 (unsigned long long)(after.free_count - before.free_count));
    cr_expect_eq(after.current_allocated, before.current_allocated, "%s", cc_smr_kind_name(kinds[i]));
  }
}

typedef struct {
  stack_case_t c[4];
} churn_t;

static void *short_lived(void *arg) {
  churn_t *m = arg;
  for (int k = 0; k < 4; k++) {
    stack_case_t *c = &m->c[k];
    cc__smr_thr_t *t = cc__smr_thr(c->s.smr);
    cr_assert_not_null(t);
    uint64_t out;
    for (int i = 0; i < 4; i++) c->ops->push(&c->s, t, 1);
    for (int i = 0; i < 3; i++)
      if (c->ops->pop(&c->s, t, &out) == CC_OK) cc_atomic_fetch_add_relaxed(&c->pops, 1);
  }
  return NULL;
}

/* 10,000 threads come and go, 4 at a time, each using a domain of every
 * kind: records are reused, garbage left by exiting threads is adopted,
 * nothing grows per thread. */
Test(smr, thread_churn_10000, .timeout = 120) {
  cc_alloc_stats_enable(true);
  cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
  churn_t *m = calloc(1, sizeof *m);
  for (size_t i = 0; i < NKINDS; i++) {
    ts_init(&m->c[i].s, new_domain(kinds[i]));
    m->c[i].ops = ts_ops(kinds[i]);
  }
  for (int n = 0; n < 10000; n += 4) run_threads(4, short_lived, m);
  for (size_t i = 0; i < NKINDS; i++) {
    stack_case_t *c = &m->c[i];
    cr_expect_leq(cc_atomic_load_relaxed(&c->s.smr->nthreads), 4, "%s: %zu records for 4 threads at a time",
                  cc_smr_kind_name(kinds[i]), cc_atomic_load_relaxed(&c->s.smr->nthreads));
    cc_smr_stats_t st;
    cc_smr_drain(c->s.smr);
    cc_smr_stats(c->s.smr, &st);
    cr_expect_eq(st.retired, cc_atomic_load_relaxed(&c->pops), "%s: exact across exited threads",
                 cc_smr_kind_name(kinds[i]));
    if (kinds[i] != CC_SMR_NONE)
      cr_expect_eq(st.pending, 0, "%s: orphans adopted and freed (%llu pending)",
                   cc_smr_kind_name(kinds[i]), (unsigned long long)st.pending);
    ts_destroy(&c->s);
    cc_smr_free(c->s.smr);
  }
  free(m);
  cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
  cr_expect_eq(after.current_allocated, before.current_allocated, "per-thread leak: %lld bytes",
               (long long)(after.current_allocated - before.current_allocated));
}

static void *detach_worker(void *arg) {
  cc_smr_t **ds = arg;
  for (int r = 0; r < 50; r++) {
    for (size_t i = 0; i < NKINDS; i++) {
      void *b = cc_smr_alloc(ds[i], 16);
      cc_smr_retire(ds[i], b);
    }
    cc_thread_detach();
  }
  return NULL;
}

Test(smr, detach_gives_records_back) {
  cc_smr_t *ds[NKINDS];
  for (size_t i = 0; i < NKINDS; i++) ds[i] = new_domain(kinds[i]);
  run_threads(2, detach_worker, ds);
  for (size_t i = 0; i < NKINDS; i++) {
    cr_expect_leq(cc_atomic_load_relaxed(&ds[i]->nthreads), 2);
    cc_smr_stats_t st;
    cc_smr_stats(ds[i], &st);
    cr_expect_eq(st.retired, 100);
    cc_smr_free(ds[i]);
  }
}

/* A thread that outlives a domain it used, then exits. */
static void *outlive(void *arg) {
  cc_smr_t *d = new_domain(CC_SMR_DEBRA);
  cc_smr_retire(d, cc_smr_alloc(d, 8));
  cc_smr_free(d);
  cc_smr_t *e = new_domain(CC_SMR_IBR);
  cc_smr_retire(e, cc_smr_alloc(e, 8));
  *(cc_smr_t **)arg = e;
  return NULL;
}

Test(smr, thread_exit_after_domain_free) {
  cc_smr_t *e = NULL;
  run_threads(1, outlive, &e);
  cc_smr_drain(e);
  cc_smr_stats_t st;
  cc_smr_stats(e, &st);
  cr_expect_eq(st.retired, 1);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(e);
}

/* ------------------------------------------------------------ several domains */

typedef struct {
  stack_case_t c[NKINDS];
} multi_t;

static void *multi_worker(void *arg) {
  multi_t *m = arg;
  for (size_t i = 0; i < NKINDS; i++) stack_worker(&m->c[i]);
  return NULL;
}

Test(smr, several_domains_of_every_kind_at_once) {
  multi_t *m = calloc(1, sizeof *m);
  for (size_t i = 0; i < NKINDS; i++) {
    m->c[i].per_thread = 5000;
    ts_init(&m->c[i].s, new_domain(kinds[i]));
    m->c[i].ops = ts_ops(kinds[i]);
  }
  run_threads(4, multi_worker, m);
  for (size_t i = 0; i < NKINDS; i++) {
    stack_case_t *c = &m->c[i];
    cc__smr_thr_t *t = cc__smr_thr(c->s.smr);
    uint64_t rest = 0, out;
    while (c->ops->pop(&c->s, t, &out) == CC_OK) rest += out;
    cr_expect_eq(cc_atomic_load_relaxed(&c->popped_sum) + rest, cc_atomic_load_relaxed(&c->pushed_sum));
    cc_smr_stats_t st;
    cc_smr_stats(c->s.smr, &st);
    cr_expect_eq(st.retired, 20000, "%s", cc_smr_kind_name(kinds[i]));
    cc_smr_free(c->s.smr);
  }
  free(m);
}

/* ------------------------------------------------------------ IBR specifics */

typedef struct {
  ts_stack_t s;
  const ts_ops_t *ops;
  cc_atomic(uint64_t) popped;
} drain_case_t;

static void *drainer(void *arg) {
  drain_case_t *c = arg;
  cc__smr_thr_t *t = cc__smr_thr(c->s.smr);
  uint64_t out, n = 0;
  while (c->ops->pop(&c->s, t, &out) == CC_OK) n++;
  cc_atomic_fetch_add_relaxed(&c->popped, n);
  return NULL;
}

/* Retiring without allocating (a structure being emptied) must still move
 * the epoch, or nothing is ever freed and scans grow quadratic. Alone, the
 * drainer keeps a few scans' worth pending; with two, a preempted drainer
 * legitimately reserves every block born before it stopped (all of them
 * here), but the run must stay linear and end with nothing pending. */
/* peak_scans: the bound on pending in scans' worth (empty_freq, which is
 * larger with the asymmetric fence), or 0 for peak_bound alone. */
static void retire_only_case(int drainers, uint64_t peak_scans, uint64_t peak_bound) {
  drain_case_t c = {0};
  ts_init(&c.s, new_domain(CC_SMR_IBR));
  if (peak_scans != 0) peak_bound = peak_scans * c.s.smr->empty_freq;
  c.ops = ts_ops(CC_SMR_IBR);
  cc__smr_thr_t *t = cc__smr_thr(c.s.smr);
  const int n = 200000;
  for (int i = 0; i < n; i++) cr_assert_eq(c.ops->push(&c.s, t, 1), CC_OK);
  cc_smr_stats_t st0;
  cc_smr_stats(c.s.smr, &st0);
  run_threads(drainers, drainer, &c);
  cr_expect_eq(cc_atomic_load_relaxed(&c.popped), (uint64_t)n);
  cc_smr_stats_t st;
  cc_smr_stats(c.s.smr, &st);
  cr_expect_gt(st.epoch, st0.epoch, "the epoch moved");
  cr_expect_lt(st.pending_peak, peak_bound, "pending peaked at %llu", (unsigned long long)st.pending_peak);
  cc_smr_drain(c.s.smr);
  cc_smr_stats(c.s.smr, &st);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(c.s.smr);
}

Test(smr, ibr_retire_only_one_drainer_stays_small, .timeout = 60) { retire_only_case(1, 16, 0); }
Test(smr, ibr_retire_only_two_drainers_finish, .timeout = 60) { retire_only_case(2, 0, 200001); }

static void *ibr_staller(void *arg) {
  canary_t *c = arg;
  cc_smr_enter(c->d);
  cc_atomic_store_release(&c->stage, 1);
  wait_stage(c, 2);
  cc_smr_leave(c->d);
  return NULL;
}

/* A thread stalled in a section reserves only the epochs it saw: blocks
 * born later are freed anyway (DEBRA would keep all of them). */
Test(smr, ibr_stalled_reader_bounds_garbage) {
  canary_t c = {0};
  cc_smr_config_t cfg = {CC_SMR_IBR, 16, 16};
  c.d = cc_smr_new(&cfg);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, ibr_staller, &c), 0);
  wait_stage(&c, 1);
  churn(c.d, 50000);
  cc_smr_stats_t st;
  cc_smr_stats(c.d, &st);
  cr_expect_lt(st.pending, 100, "IBR kept %llu blocks behind a stalled reader",
               (unsigned long long)st.pending);
  cc_atomic_store_release(&c.stage, 2);
  pthread_join(th, NULL);
  cc_smr_free(c.d);
}

/* DEBRA bounds nothing when a thread stalls: the property the stall
 * program measures, checked here in miniature. */
Test(smr, debra_stalled_reader_holds_everything) {
  canary_t c = {0};
  c.d = new_domain(CC_SMR_DEBRA);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, ibr_staller, &c), 0);
  wait_stage(&c, 1);
  churn(c.d, 5000);
  cc_smr_stats_t st;
  cc_smr_stats(c.d, &st);
  cr_expect_eq(st.pending, 5000);
  cc_atomic_store_release(&c.stage, 2);
  pthread_join(th, NULL);
  churn(c.d, 10);
  cc_smr_stats(c.d, &st);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(c.d);
}

static void push_pop_pairs(ts_stack_t *s, const ts_ops_t *ops, cc__smr_thr_t *t, int pairs) {
  uint64_t out;
  for (int i = 0; i < pairs; i++) {
    cr_assert_eq(ops->push(s, t, 1), CC_OK);
    cr_assert_eq(ops->pop(s, t, &out), CC_OK);
  }
}

/* With the asymmetric fence a DEBRA thread pays a membarrier (counted in
 * scans) to advance the epoch only once it retired advance_at blocks in
 * the epoch (between advance_min and advance_retires, after what the
 * membarriers cost), or ran epoch_ops operations: operations that retire
 * nothing (pops of an empty stack) cost none, retiring ones move the
 * epoch about once per advance_at, and pending stays within about four
 * epochs' worth of advance_retires. With advance_min at advance_retires
 * (no adaptation), once per advance_retires. */
static void debra_advance_check(size_t min) {
  char v[16];
  snprintf(v, sizeof v, "%zu", min);
  setenv("CCOLL_DEBRA_ADVANCE_MIN", v, 1);
  cc_smr_t *d = new_domain(CC_SMR_DEBRA);
  unsetenv("CCOLL_DEBRA_ADVANCE_MIN");
  if (!d->asym) {
    cc_smr_free(d);
    cr_skip_test("no membarrier: every round advances, nothing to check");
  }
  cr_assert_eq(d->advance_retires, 4096);
  cr_assert_eq(d->advance_min, min);
  cr_assert_eq(d->epoch_ops, 65536);
  ts_stack_t s;
  ts_init(&s, d);
  const ts_ops_t *ops = ts_ops(CC_SMR_DEBRA);
  cc__smr_thr_t *t = cc__smr_thr(d);
  uint64_t out;
  cc_smr_stats_t st0, st;
  cc_smr_stats(d, &st0);
  for (int i = 0; i < 60000; i++) cr_assert_eq(ops->pop(&s, t, &out), CC_EMPTY);
  cc_smr_stats(d, &st);
  cr_expect_eq(st.scans, st0.scans, "%llu membarriers for operations that retire nothing",
               (unsigned long long)(st.scans - st0.scans));
  cr_expect_eq(st.epoch, st0.epoch);
  const int pairs = 40000;
  push_pop_pairs(&s, ops, t, pairs);
  cc_smr_stats(d, &st);
  uint64_t advances = st.epoch - st0.epoch, scans = st.scans - st0.scans;
  /* one try per advance_at retirements, a round of checks (about 64 operations) late */
  cr_expect_geq(advances, pairs / 4096 - 2, "%llu advances", (unsigned long long)advances);
  cr_expect_leq(scans, pairs / min + 1, "%llu membarriers", (unsigned long long)scans);
  cr_expect_leq(st.pending_peak, 5 * 4096, "pending peaked at %llu", (unsigned long long)st.pending_peak);
  cc_smr_drain(d);
  cc_smr_stats(d, &st);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(d);
}

Test(smr, debra_advances_when_garbage_calls_for_it) { debra_advance_check(256); }

Test(smr, debra_advances_every_advance_retires_unadapted) { debra_advance_check(4096); }

/* An idle registered thread (quiescent in an old epoch) used to cost a
 * membarrier per advance: its announcement might have been stale. Now
 * one membarrier proves it idle and parks it, and the advances after it
 * need none, as those with every thread at the current epoch. Back at
 * work, the parked thread's section holds the epoch and what is retired
 * during it as any other. */
typedef struct {
  cc_smr_t *d;
  cc__smr_thr_t *rec;   /* the idle thread's record */
  cc_atomic(int) stage; /* 1: registered, idle; 2: enter; 3: inside; 4: leave; 5: left */
} idler_t;

static void idler_wait(idler_t *c, int s) { stage_wait(&c->stage, s); }

static void *idler(void *arg) {
  idler_t *c = arg;
  cc_smr_enter(c->d);
  cc_smr_leave(c->d);
  c->rec = cc__smr_thr(c->d);
  cc_atomic_store_release(&c->stage, 1);
  idler_wait(c, 2);
  cc_smr_enter(c->d);
  cc_atomic_store_release(&c->stage, 3);
  idler_wait(c, 4);
  cc_smr_leave(c->d);
  cc_atomic_store_release(&c->stage, 5);
  return NULL;
}

static void set_flag(void *p, void *ctx) {
  (void)ctx;
  cc_atomic_store_release((cc_atomic(int) *)p, 1);
}

static void park_case(cc_smr_kind_t k) {
  cc_smr_t *d = new_domain(k);
  if (!d->asym) {
    cc_smr_free(d);
    cr_skip_test("no membarrier: announcements are fenced, nothing to park");
  }
  idler_t c = {.d = d};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, idler, &c), 0);
  idler_wait(&c, 1);
  ts_stack_t s;
  ts_init(&s, d);
  const ts_ops_t *ops = ts_ops(k);
  cc__smr_thr_t *t = cc__smr_thr(d);
  cc_smr_stats_t st0, st;
  cc_smr_stats(d, &st0);
  const int pairs = 40000;
  push_pop_pairs(&s, ops, t, pairs);
  cc_smr_stats(d, &st);
  uint64_t advances = st.epoch - st0.epoch, scans = st.scans - st0.scans;
  /* a try every advance_min retirements (no membarrier to adapt it to) */
  cr_expect_geq(advances, pairs / d->advance_min / 2, "%s: %llu advances", cc_smr_kind_name(k),
                (unsigned long long)advances);
  cr_expect_leq(scans, 2, "%s: %llu membarriers for %llu advances", cc_smr_kind_name(k),
                (unsigned long long)scans,
                (unsigned long long)advances);
  uint64_t idle = cc_atomic_load_acquire(&c.rec->announce);
  cr_expect_eq(idle, CC__SMR_PARKED, "%s: the idle thread's announcement: %#llx",
               cc_smr_kind_name(k),
               (unsigned long long)idle);

  cc_atomic(int) freed = 0;
  cc_atomic_store_release(&c.stage, 2);
  idler_wait(&c, 3);
  uint64_t inside = cc_atomic_load_acquire(&c.rec->announce);
  cr_expect(inside != CC__SMR_PARKED && !(inside & CC__SMR_QUIESCENT), "announced: %#llx",
            (unsigned long long)inside);
  cc_smr_stats(d, &st0);
  cc_smr_retire_fn(d, &freed, set_flag, NULL);
  push_pop_pairs(&s, ops, t, pairs);
  cc_smr_stats(d, &st);
  cr_expect_leq(st.epoch - st0.epoch, 1, "%s: the epoch passed a section by %llu",
                cc_smr_kind_name(k), (unsigned long long)(st.epoch - st0.epoch));
  cr_expect_eq(cc_atomic_load_acquire(&freed), 0, "%s: freed during the section",
               cc_smr_kind_name(k));
  cc_atomic_store_release(&c.stage, 4);
  idler_wait(&c, 5);
  pthread_join(th, NULL);
  push_pop_pairs(&s, ops, t, pairs);
  cc_smr_drain(d);
  cr_expect_eq(cc_atomic_load_acquire(&freed), 1, "%s: never freed after the section",
               cc_smr_kind_name(k));
  cc_smr_stats(d, &st);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(d);
}

Test(smr, debra_parks_an_idle_thread) { park_case(CC_SMR_DEBRA); }
Test(smr, debra_plus_parks_an_idle_thread) { park_case(CC_SMR_DEBRA_PLUS); }

/* A record's announcement carries its owner's epoch from the claim on:
 * parking relies on the two being equal whenever the owner stored it. */
static void *announce_probe(void *arg) {
  cc_smr_t *d = arg;
  cc__smr_thr_t *t = cc__smr_thr(d);
  uint64_t a = cc_atomic_load_acquire(&t->announce);
  cr_expect_eq(a, CC__SMR_QUIET(t->local_epoch), "claimed: %#llx, epoch %llu",
               (unsigned long long)a, (unsigned long long)t->local_epoch);
  cc_thread_detach();
  return NULL;
}

Test(smr, debra_record_claim_announces_its_epoch) {
  for (int plus = 0; plus < 2; plus++) {
    cc_smr_t *d = new_domain(plus ? CC_SMR_DEBRA_PLUS : CC_SMR_DEBRA);
    for (int i = 0; i < 4; i++) {
      churn(d, 600); /* the epoch moves between the claims of one record */
      run_threads(1, announce_probe, d);
    }
    cc_smr_free(d);
  }
}

/* The retirements per advance try follow the membarrier's share of the
 * time between two: doubled past 1/128, halved under 1/1024, clamped. */
Test(smr, debra_advance_follows_membarrier_cost) {
  cr_expect_eq(cc__smr_fence_pace(256, 40000, 400000, 256, 4096), 512);  /* 10%: IPIs */
  cr_expect_eq(cc__smr_fence_pace(4096, 40000, 400000, 256, 4096), 4096);
  cr_expect_eq(cc__smr_fence_pace(3000, 40000, 400000, 256, 4096), 4096);
  cr_expect_eq(cc__smr_fence_pace(1024, 1000, 200000, 256, 4096), 1024); /* 0.5%: keep */
  cr_expect_eq(cc__smr_fence_pace(1024, 1000, 100000, 256, 4096), 2048); /* 1% */
  cr_expect_eq(cc__smr_fence_pace(1024, 1000, 2000000, 256, 4096), 512); /* 0.05% */
  cr_expect_eq(cc__smr_fence_pace(300, 1000, 2000000, 256, 4096), 256);
  cr_expect_eq(cc__smr_fence_pace(4096, 1000, 2000000, 4096, 4096), 4096); /* adaptation off */
}

static void count_call(void *p, void *ctx) {
  (void)p;
  cc_atomic_fetch_add_relaxed((cc_atomic(uint64_t) *)ctx, 1);
}

/* A retire_fn record among the nodes DEBRA's allocations take back from
 * its freeable list (they take only blocks of their size) is still
 * reclaimed while the workload runs, without a drain, and before the
 * domain goes. */
Test(smr, debra_records_among_reused_nodes_are_reclaimed) {
  for (int plus = 0; plus < 2; plus++) {
    cc_smr_kind_t k = plus ? CC_SMR_DEBRA_PLUS : CC_SMR_DEBRA;
    ts_stack_t s;
    ts_init(&s, new_domain(k));
    const ts_ops_t *ops = ts_ops(k);
    cc__smr_thr_t *t = cc__smr_thr(s.smr);
    cc_atomic(uint64_t) calls = 0;
    uint64_t out;
    const int records = 50;
    for (int i = 0; i < 200000; i++) {
      cr_assert_eq(ops->push(&s, t, 1), CC_OK);
      cr_assert_eq(ops->pop(&s, t, &out), CC_OK);
      if (i % 1000 == 0 && i / 1000 < records) cc_smr_retire_fn(s.smr, &calls, count_call, &calls);
    }
    cr_expect_eq(cc_atomic_load_relaxed(&calls), (uint64_t)records, "%s: %llu of %d callbacks ran",
                 cc_smr_kind_name(k), (unsigned long long)cc_atomic_load_relaxed(&calls), records);
    if (cc__alloc_backend_is_mimalloc())
      cr_expect_gt(cc__smr_reused(s.smr), 100000, "%s: reclaimed nodes served allocations",
                   cc_smr_kind_name(k));
    cc_smr_free(s.smr);
  }
}

/* ------------------------------------------------------------ allocation failure */

/* Every third allocation fails: node allocations report it (CC_ENOMEM,
 * NULL), the stack and the domain stay consistent, and the domain's own
 * bookkeeping (records, limbo blocks, orphans) never fails. */
Test(smr, allocation_failure_is_reported_and_leaks_nothing) {
  cc_alloc_stats_enable(true);
  for (size_t i = 0; i < NKINDS; i++) {
    cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
    cc_smr_t *d = new_domain(kinds[i]);
    ts_stack_t s;
    ts_init(&s, d);
    const ts_ops_t *ops = ts_ops(kinds[i]);
    cc__smr_thr_t *t = cc__smr_thr(d);
    cc__alloc_fail_every(3);
    int ok = 0, nomem = 0, nulls = 0;
    for (int j = 0; j < 3000; j++) {
      int rc = ops->push(&s, t, (uint64_t)j);
      if (rc == CC_OK) ok++;
      else if (rc == CC_ENOMEM) nomem++;
      void *b = cc_smr_alloc(d, 40);
      if (b == NULL) nulls++;
      else cc_smr_retire(d, b);
      cc_smr_retire_fn(d, NULL, noop_fn, NULL);
    }
    cc__alloc_fail_every(0);
    cr_expect_gt(nomem, 0);
    cr_expect_gt(nulls, 0);
    uint64_t v;
    int popped = 0;
    while (ops->pop(&s, t, &v) == CC_OK) popped++;
    cr_expect_eq(popped, ok, "%s: every successful push is in the stack", cc_smr_kind_name(kinds[i]));
    cc_smr_free(d);
    cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
    cr_expect_eq(after.current_allocated, before.current_allocated, "%s", cc_smr_kind_name(kinds[i]));
    cr_expect_eq(after.alloc_count - before.alloc_count, after.free_count - before.free_count);
  }
}

/* ------------------------------------------------------------ limbo and fence */

typedef struct {
  cc_smr_t *d;
  cc_atomic(int) stage; /* 1: inside its section; 2: may leave; 3: left */
} holder_t;

static void *hold_section(void *arg) {
  holder_t *h = arg;
  cc_smr_enter(h->d);
  cc_atomic_store_release(&h->stage, 1);
  while (cc_atomic_load_acquire(&h->stage) < 2) sched_yield();
  cc_smr_leave(h->d);
  cc_atomic_store_release(&h->stage, 3);
  return NULL;
}

/* A scan frees the unreserved entries of a limbo spanning several blocks
 * and packs the reserved ones, which must come out intact: blocks born
 * before a reader's section (reserved) interleaved with blocks born after
 * the epoch moved past it (free to go). */
Test(smr, ibr_scan_keeps_exactly_the_reserved_blocks) {
  enum { OLD = 300, MAGIC_OLD = 0x0d };
  cc_smr_t *d = new_domain(CC_SMR_IBR);
  uint64_t *old[OLD];
  for (int i = 0; i < OLD; i++) {
    old[i] = cc_smr_alloc(d, 32);
    cr_assert_not_null(old[i]);
    old[i][0] = MAGIC_OLD + (uint64_t)i;
  }
  holder_t h = {.d = d};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, hold_section, &h), 0);
  while (cc_atomic_load_acquire(&h.stage) < 1) sched_yield();
  cc_smr_drain(d); /* the epoch moves past the reader's reservation */
  cc_smr_stats_t st0, st;
  cc_smr_stats(d, &st0);
  for (int i = 0; i < OLD; i++) {
    cc_smr_retire(d, old[i]);
    void *young = cc_smr_alloc(d, 32);
    cr_assert_not_null(young);
    cc_smr_retire(d, young);
  }
  cc_smr_drain(d);
  cc_smr_stats(d, &st);
  cr_expect_eq(st.retired - st0.retired, 2 * OLD);
  cr_expect_eq(st.pending, (uint64_t)OLD, "only the reserved blocks wait (pending %llu)",
               (unsigned long long)st.pending);
  for (int i = 0; i < OLD; i++) cr_expect_eq(old[i][0], MAGIC_OLD + (uint64_t)i);
  cc_atomic_store_release(&h.stage, 2);
  pthread_join(th, NULL);
  cc_smr_drain(d);
  cc_smr_stats(d, &st);
  cr_expect_eq(st.pending, 0);
  cc_smr_free(d);
}

/* Whether a fresh child, with CCOLL_SMR_MEMBARRIER set to env (NULL:
 * unset), gives its domains the asymmetric fence; -1 on a failed child. */
static int child_asym(const char *env) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    if (env) setenv("CCOLL_SMR_MEMBARRIER", env, 1);
    else unsetenv("CCOLL_SMR_MEMBARRIER");
    cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){CC_SMR_DEBRA, 0, 0});
    cc__smr_thr_t *t = cc__smr_thr(d);
    _exit(d->asym == t->asym ? (int)d->asym : 100);
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(smr, membarrier_choice_by_environment) {
  cr_expect_eq(child_asym("0"), 0, "CCOLL_SMR_MEMBARRIER=0 keeps the seq_cst stores");
#if defined(__linux__) && !CC_TSAN
  long cmds = syscall(__NR_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0);
  int can = cmds > 0 && (cmds & (1 << 3)) /* PRIVATE_EXPEDITED */;
  cr_expect_eq(child_asym(NULL), can, "membarrier is used where the kernel has it");
#endif
}

/* ------------------------------------------------------------ reuse pool */

/* Blocks held by the reuse pools of d's records, checked for consistency. */
static size_t pooled_blocks(cc_smr_t *d) {
  size_t n = 0;
  for (cc__smr_thr_t *t = cc_atomic_load_acquire(&d->threads); t != NULL;
       t = cc_atomic_load_acquire(&t->next)) {
    size_t bytes = 0;
    for (unsigned i = 0; i < CC__SMR_REUSE_CLASSES; i++) {
      size_t k = 0;
      for (cc__smr_hdr_t *h = t->reuse[i].head; h != NULL; h = h->chain) {
        cr_assert_eq(h->size, t->reuse[i].size, "sizes never mix in a class");
        k++;
      }
      cr_assert_eq(k, t->reuse[i].n);
      bytes += k * cc__smr_reuse_bytes(t->reuse[i].size);
      n += k;
    }
    cr_assert_eq(bytes, t->reuse_bytes);
    cr_assert_leq(bytes, CC__SMR_REUSE_MAX_BYTES);
  }
  return n;
}

static void *pool_worker(void *arg) {
  stack_case_t *c = arg;
  stack_worker(c);
  /* leave this thread with blocks pooled (what it reclaims next), for its
   * exit to give back */
  cc__smr_thr_t *t = cc__smr_thr(c->s.smr);
  uint64_t out;
  for (int i = 0; i < 1000000 && t->reuse_bytes == 0; i++) {
    cr_assert_eq(c->ops->push(&c->s, t, 1), CC_OK);
    cr_assert_eq(c->ops->pop(&c->s, t, &out), CC_OK);
    cc_atomic_fetch_add_relaxed(&c->pops, 1);
  }
  cr_expect_gt(t->reuse_bytes, 0, "%s", cc_smr_kind_name(c->s.smr->kind));
  return NULL;
}

/* Plain mimalloc: reclaimed blocks serve the next allocations, within the
 * bound; thread exit and cc_smr_drain give them back; the domain's
 * statistics count a pooled block as freed. */
static void pool_case(cc_smr_kind_t k) {
  stack_case_t c = {.per_thread = 30000};
  ts_init(&c.s, new_domain(k));
  c.ops = ts_ops(k);
  run_threads(2, pool_worker, &c);
  cr_expect_gt(cc__smr_reused(c.s.smr), 0, "%s: the pool served no allocation", cc_smr_kind_name(k));
  cr_expect_eq(pooled_blocks(c.s.smr), 0, "%s: exited threads left blocks pooled", cc_smr_kind_name(k));
  cc__smr_thr_t *t = cc__smr_thr(c.s.smr);
  uint64_t out;
  uint64_t reused = cc__smr_reused(c.s.smr);
  /* Whether the pool holds blocks at a given round depends on how the paced
   * advances sized the last bags (DEBRA feeds it from its freeable list's
   * surplus only), so run until it does, as pool_worker does: the drain
   * below must have something to give back. */
  for (int round = 0; round < 40000 || (t->reuse_bytes == 0 && round < 1000000); round++) {
    cr_assert_eq(c.ops->push(&c.s, t, 1), CC_OK);
    cr_assert_eq(c.ops->pop(&c.s, t, &out), CC_OK);
  }
  cr_expect_gt(cc__smr_reused(c.s.smr), reused, "%s: reclaimed blocks served this thread", cc_smr_kind_name(k));
  cr_expect_gt(pooled_blocks(c.s.smr), 0, "%s", cc_smr_kind_name(k));
  while (c.ops->pop(&c.s, t, &out) == CC_OK) {
  }
  cc_smr_drain(c.s.smr);
  cc_smr_stats_t st;
  cc_smr_stats(c.s.smr, &st);
  cr_expect_eq(st.pending, 0, "%s: pooled blocks count as freed", cc_smr_kind_name(k));
  cr_expect_eq(pooled_blocks(c.s.smr), 0, "%s: cc_smr_drain empties the pool", cc_smr_kind_name(k));
  cr_expect_eq(ts_destroy(&c.s), 0);
  cc_smr_free(c.s.smr);
}

Test(smr, reuse_pool_serves_reclaimed_blocks_and_gives_them_back) {
  if (!cc__alloc_backend_is_mimalloc()) cr_skip_test("the libc backend never arms the gate");
  pool_case(CC_SMR_DEBRA);
  pool_case(CC_SMR_DEBRA_PLUS);
  pool_case(CC_SMR_IBR);
}

/* A domain that reuses blocks fetches the next one ahead (PREFETCHW where
 * the CPU has it); CCOLL_SMR_PREFETCH=0 at creation, or no pool, turns
 * that off. */
Test(smr, reuse_prefetch_follows_the_pool_and_the_environment) {
  if (!cc__smr_reuse_allowed()) cr_skip_test("the pool is off in this environment");
  cc_smr_t *on = new_domain(CC_SMR_IBR);
  setenv("CCOLL_SMR_PREFETCH", "0", 1);
  cc_smr_t *off = new_domain(CC_SMR_DEBRA);
  unsetenv("CCOLL_SMR_PREFETCH");
  cc_smr_t *none = new_domain(CC_SMR_NONE);
  cr_expect_neq(on->prefetch, CC__SMR_PF_OFF);
  cr_expect_eq(off->prefetch, CC__SMR_PF_OFF);
  cr_expect_eq(none->prefetch, CC__SMR_PF_OFF, "NONE never reuses");
  cr_expect_eq(cc__smr_thr(on)->prefetch, on->prefetch, "a record copies it at claim");
  cr_expect_eq(cc__smr_thr(off)->prefetch, CC__SMR_PF_OFF);
  cc_smr_free(on);
  cc_smr_free(off);
  cc_smr_free(none);
}

/* IBR dates a reused block as a new one. */
Test(smr, reuse_pool_ibr_reused_block_is_born_now) {
  if (!cc__alloc_backend_is_mimalloc()) return;
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){CC_SMR_IBR, 4, 8});
  cr_assert_not_null(d);
  for (int i = 0; i < 64; i++) cc_smr_retire(d, cc_smr_alloc(d, 40));
  cr_assert_gt(pooled_blocks(d), 0);
  cc_smr_stats_t st0, st;
  cc_smr_stats(d, &st0); /* every pooled block was born before this epoch */
  uint64_t reused = cc__smr_reused(d);
  void *other[16];
  for (int i = 0; i < 16; i++) other[i] = cc_smr_alloc(d, 1000); /* another size: moves the epoch */
  cc_smr_stats(d, &st);
  cr_assert_gt(st.epoch, st0.epoch);
  cc__smr_hdr_t *h = (cc__smr_hdr_t *)cc_smr_alloc(d, 40) - 1;
  cr_assert_eq(cc__smr_reused(d), reused + 1, "a 40-byte block came from the pool");
  cr_expect_geq(h->birth, st.epoch, "birth %llu, epoch before it %llu", (unsigned long long)h->birth,
                (unsigned long long)st.epoch);
  cr_expect_eq(h->size, sizeof *h + 40);
  cc_smr_retire(d, h + 1);
  for (int i = 0; i < 16; i++) cc_smr_retire(d, other[i]);
  cc_smr_free(d);
}

/* IBR's paired read: returns both links as stored and, once the epoch
 * moved within the operation, raises upper to it (lower stays), as two
 * single reads would. */
Test(smr, ibr_read_pair_raises_upper_once_the_epoch_moved) {
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){CC_SMR_IBR, 4, 8});
  cr_assert_not_null(d);
  cc__smr_thr_t *t = cc__smr_thr(d);
  cr_assert_not_null(t);
  cc_atomic(uintptr_t) a, b;
  cc_atomic_store_relaxed(&a, (uintptr_t)0x1000 | 1);
  cc_atomic_store_relaxed(&b, (uintptr_t)0x2040);
  CC__SMR(ibr, begin)(t);
  uint64_t e0 = cc_atomic_load_relaxed(&t->lower);
  cc__smr_pair_t p = CC__SMR(ibr, read_pair)(t, &a, &b);
  cr_expect(p.a == ((uintptr_t)0x1000 | 1) && p.b == 0x2040);
  cr_expect_eq(cc_atomic_load_relaxed(&t->upper), e0, "no move, no raise");
  void *blk[16];
  for (int i = 0; i < 16; i++) blk[i] = cc_smr_alloc(d, 1000); /* epoch_freq 4: moves the epoch */
  uint64_t e1 = cc_atomic_load_relaxed(&d->epoch);
  cr_assert_gt(e1, e0);
  p = CC__SMR(ibr, read_pair)(t, &a, &b);
  cr_expect(p.a == ((uintptr_t)0x1000 | 1) && p.b == 0x2040);
  cr_expect_eq(cc_atomic_load_relaxed(&t->upper), e1, "upper %llu, epoch %llu",
               (unsigned long long)cc_atomic_load_relaxed(&t->upper), (unsigned long long)e1);
  cr_expect_eq(cc_atomic_load_relaxed(&t->lower), e0);
  CC__SMR(ibr, end)(t);
  for (int i = 0; i < 16; i++) cc_smr_retire(d, blk[i]);
  cc_smr_free(d);
}

/* Workload on a domain of kind k; returns the allocations its pool served. */
static uint64_t pool_workload(cc_smr_kind_t k) {
  stack_case_t c = {.per_thread = 20000};
  ts_init(&c.s, new_domain(k));
  c.ops = ts_ops(k);
  run_threads(2, stack_worker, &c);
  cc__smr_thr_t *t = cc__smr_thr(c.s.smr);
  uint64_t out;
  for (int i = 0; i < 20000; i++) {
    cr_assert_eq(c.ops->push(&c.s, t, 1), CC_OK);
    cr_assert_eq(c.ops->pop(&c.s, t, &out), CC_OK);
  }
  uint64_t reused = cc__smr_reused(c.s.smr);
  cr_expect_eq(pooled_blocks(c.s.smr), 0, "%s: nothing pooled", cc_smr_kind_name(k));
  cc_smr_drain(c.s.smr);
  ts_destroy(&c.s);
  cc_smr_free(c.s.smr);
  return reused;
}

/* With allocation statistics on every allocation and free reaches the
 * allocator (the pool would hide both): the counts balance after drain. */
Test(smr, reuse_pool_idle_while_statistics_count) {
  cc_alloc_stats_enable(true);
  for (size_t i = 1; i < NKINDS; i++) {
    cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
    cr_expect_eq(pool_workload(kinds[i]), 0, "%s", cc_smr_kind_name(kinds[i]));
    cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
    cr_expect_eq(after.alloc_count - before.alloc_count, after.free_count - before.free_count, "%s",
                 cc_smr_kind_name(kinds[i]));
    cr_expect_eq(after.current_allocated, before.current_allocated, "%s", cc_smr_kind_name(kinds[i]));
  }
}

/* Tracking records who allocated and freed every block: a domain created
 * with tracking on never pools, whatever the allocator's mode. */
Test(smr, reuse_pool_never_used_with_tracking) {
  cr_assert_eq(cc_option_set(CC_OPT_TRACK, 1), CC_OK);
  for (size_t i = 1; i < NKINDS; i++) {
    cc_smr_t *d = new_domain(kinds[i]);
    cr_expect(!d->reuse, "%s", cc_smr_kind_name(kinds[i]));
    cc_smr_free(d);
    cr_expect_eq(pool_workload(kinds[i]), 0, "%s", cc_smr_kind_name(kinds[i]));
  }
}

/* A profiler that remembers blocks sees every allocation and free. */
Test(smr, reuse_pool_idle_while_a_profiler_records_blocks) {
  cc_profiler_options_t o = cc_profiler_default_options();
  o.sample_rate = 1.0;
  o.leaks = true;
  cc_profiler_t *p = cc_profiler_new(&o);
  cr_assert_not_null(p);
  cr_assert_eq(cc_profiler_start(p), CC_OK);
  for (size_t i = 1; i < NKINDS; i++) cr_expect_eq(pool_workload(kinds[i]), 0, "%s", cc_smr_kind_name(kinds[i]));
  cc_profiler_free(p);
}

/* CCOLL_SMR_REUSE=0 turns the pool off (child process: read per domain). */
Test(smr, reuse_pool_off_by_environment) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    setenv("CCOLL_SMR_REUSE", "0", 1);
    cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){CC_SMR_DEBRA, 0, 0});
    _exit(d->reuse ? 1 : 0);
  }
  int st;
  waitpid(pid, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  cc_smr_t *d = new_domain(CC_SMR_DEBRA);
  cr_expect(d->reuse, "on by default");
  cc_smr_free(d);
}

/* One reclaiming kind in leak mode: the reclaimed nodes stay allocated
 * (none reached the pool or the allocator) until cc_smr_free gives every
 * one back. */
static bool leak_case(cc_smr_kind_t k) {
  cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
  stack_case_t c = {.per_thread = 20000};
  ts_init(&c.s, new_domain(k));
  c.ops = ts_ops(k);
  bool ok = c.s.smr->leak && !c.s.smr->reuse;
  run_threads(2, stack_worker, &c);
  cc_smr_drain(c.s.smr);
  cc_smr_stats_t st;
  cc_smr_stats(c.s.smr, &st);
  cc_alloc_snapshot_t mid = cc_alloc_stats_snapshot();
  ok = ok && st.freed > 1000 && cc__smr_reused(c.s.smr) == 0;
  ok = ok && mid.current_allocated - before.current_allocated >= st.freed * sizeof(ts_node_t);
  ts_destroy(&c.s);
  cc_smr_free(c.s.smr);
  return ok && cc_alloc_stats_snapshot().current_allocated == before.current_allocated;
}

/* CCOLL_SMR_LEAK=1, a measurement mode (child process: read per domain). */
Test(smr, leak_mode_keeps_reclaimed_nodes_until_free) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    setenv("CCOLL_SMR_LEAK", "1", 1);
    cc_alloc_stats_enable(true);
    bool ok = true;
    for (size_t i = 1; i < NKINDS; i++) ok = leak_case(kinds[i]) && ok;
    _exit(ok ? 0 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  cc_smr_t *d = new_domain(CC_SMR_IBR);
  cr_expect(!d->leak, "off by default");
  cc_smr_free(d);
}

#if CC_ASAN
/* ASan with mimalloc (the pool's backend): a read of a pooled block is
 * reported, as a read of a freed one would be. Child process: the report
 * ends it. */
Test(smr, reuse_pool_poisoned_under_asan) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    if (cc_option_set(CC_OPT_ALLOC, CC_ALLOC_MIMALLOC) != CC_OK) _exit(3);
    cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){CC_SMR_IBR, 4, 8});
    volatile uint64_t *kept[64];
    for (int i = 0; i < 64; i++) {
      kept[i] = cc_smr_alloc(d, 40);
      cc_smr_retire(d, (void *)kept[i]);
    }
    /* the first blocks were reclaimed by the scans into the pool */
    if (cc__smr_thr(d)->reuse_bytes == 0) _exit(4);
    dup2(open("/dev/null", O_WRONLY), 2);
    uint64_t sum = 0;
    for (int i = 0; i < 64; i++) sum += kept[i][0];
    _exit(sum == 12345 ? 5 : 0); /* reached only without a report */
  }
  int st;
  waitpid(pid, &st, 0);
  cr_expect(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 1),
            "a read of a pooled block went unreported (status %d)", st);
}
#endif

/* ------------------------------------------------------------ sorted list */


static uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* The list's content against a sequential model, then the domain's
 * counters: one retirement per successful remove, all freed by a drain
 * (none by NONE), and every block given back by cc_smr_free. */
static void list_model_case(cc_smr_kind_t k) {
  enum { KEYS = 64, OPS = 20000 };
  cc_alloc_stats_enable(true);
  cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
  sl_list_t l;
  sl_init(&l, new_domain(k));
  const sl_ops_t *ops = sl_ops(k);
  cc__smr_thr_t *t = cc__smr_thr(l.smr);
  cr_assert_not_null(t);
  bool in[KEYS] = {false};
  uint64_t seed = 0x9e3779b97f4a7c15u, removes = 0, sum = 0;
  size_t count = 0;
  for (int i = 0; i < OPS; i++) {
    uint64_t r = xorshift64(&seed), key = (r >> 1) % KEYS;
    if (r & 1) {
      int rc = ops->insert(&l, t, key);
      cr_assert_eq(rc, in[key] ? CC_EXISTS : CC_OK, "%s: insert %llu", cc_smr_kind_name(k),
                   (unsigned long long)key);
      if (!in[key]) sum += key, count++;
      in[key] = true;
    } else {
      int rc = ops->remove(&l, t, key);
      cr_assert_eq(rc, in[key] ? CC_OK : CC_NOT_FOUND, "%s: remove %llu", cc_smr_kind_name(k),
                   (unsigned long long)key);
      if (in[key]) sum -= key, count--, removes++;
      in[key] = false;
    }
  }
  size_t n;
  bool sorted;
  cr_expect_eq(sl_sum(&l, &n, &sorted), sum, "%s", cc_smr_kind_name(k));
  cr_expect_eq(n, count);
  cr_expect(sorted);
  cc_smr_stats_t st;
  cc_smr_drain(l.smr);
  cc_smr_stats(l.smr, &st);
  cr_expect_eq(st.retired, removes, "%s", cc_smr_kind_name(k));
  if (k != CC_SMR_NONE)
    cr_expect_eq(st.pending, 0, "%s: %llu pending after drain", cc_smr_kind_name(k),
                 (unsigned long long)st.pending);
  else
    cr_expect_eq(st.freed, 0);
  cr_expect_eq(sl_destroy(&l), count);
  cc_smr_free(l.smr);
  cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
  cr_expect_eq(after.alloc_count - before.alloc_count, after.free_count - before.free_count,
               "%s: blocks left after cc_smr_free", cc_smr_kind_name(k));
  cr_expect_eq(after.current_allocated, before.current_allocated, "%s", cc_smr_kind_name(k));
}

Test(smr, list_matches_sequential_model_every_scheme) {
  for (size_t i = 0; i < NKINDS; i++) list_model_case(kinds[i]);
}

/* An insert allocates its node only once a search found the key absent:
 * with every allocation failing, inserting a present key still answers
 * CC_EXISTS, and an absent one CC_ENOMEM with the list as it was. */
Test(smr, list_insert_allocates_only_for_an_absent_key) {
  for (size_t i = 0; i < NKINDS; i++) {
    cc_smr_kind_t k = kinds[i];
    sl_list_t l;
    sl_init(&l, new_domain(k));
    const sl_ops_t *ops = sl_ops(k);
    cc__smr_thr_t *t = cc__smr_thr(l.smr);
    cr_assert_not_null(t);
    for (uint64_t key = 0; key < 16; key += 2) cr_assert_eq(ops->insert(&l, t, key), CC_OK);
    cc__alloc_fail_every(1);
    for (uint64_t key = 0; key < 16; key++) {
      int rc = ops->insert(&l, t, key);
      cr_expect_eq(rc, key % 2 == 0 ? CC_EXISTS : CC_ENOMEM, "%s: insert %llu gave %d",
                   cc_smr_kind_name(k), (unsigned long long)key, rc);
    }
    cc__alloc_fail_every(0);
    size_t n;
    bool sorted;
    cr_expect_eq(sl_sum(&l, &n, &sorted), 56, "%s", cc_smr_kind_name(k));
    cr_expect_eq(n, 8);
    cr_expect(sorted);
    cr_expect_eq(sl_destroy(&l), 8);
    cc_smr_free(l.smr);
  }
}

typedef struct {
  sl_list_t l;
  const sl_ops_t *ops;
  int per_thread;
  uint64_t keys;
  cc_atomic(uint64_t) sum, count, removes;
  cc_atomic(int) next_id;
} list_case_t;

/* setbench's key-sum: each thread adds the keys it inserted and subtracts
 * those it removed (mod 2^64, so a thread's own sum may wrap). */
static void *list_worker(void *arg) {
  list_case_t *c = arg;
  uint64_t seed = 0x2545f4914f6cdd1du * (uint64_t)(cc_atomic_fetch_add_relaxed(&c->next_id, 1) + 1);
  cc__smr_thr_t *t = cc__smr_thr(c->l.smr);
  cr_assert_not_null(t);
  uint64_t sum = 0, count = 0, removes = 0;
  for (int i = 0; i < c->per_thread; i++) {
    uint64_t r = xorshift64(&seed), key = (r >> 1) % c->keys;
    if (r & 1) {
      int rc = c->ops->insert(&c->l, t, key);
      cr_assert(rc == CC_OK || rc == CC_EXISTS);
      if (rc == CC_OK) sum += key, count++;
    } else {
      int rc = c->ops->remove(&c->l, t, key);
      cr_assert(rc == CC_OK || rc == CC_NOT_FOUND);
      if (rc == CC_OK) sum -= key, count--, removes++;
    }
  }
  cc_atomic_fetch_add_relaxed(&c->sum, sum);
  cc_atomic_fetch_add_relaxed(&c->count, count);
  cc_atomic_fetch_add_relaxed(&c->removes, removes);
  return NULL;
}

static void list_keysum_case(cc_smr_kind_t k, int threads, const char *neutralize_every) {
  cc_alloc_stats_enable(true);
  cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
  list_case_t c = {.per_thread = 20000, .keys = 128};
  if (neutralize_every) setenv("CCOLL_DEBRA_NEUTRALIZE_EVERY", neutralize_every, 1);
  sl_init(&c.l, new_domain(k));
  unsetenv("CCOLL_DEBRA_NEUTRALIZE_EVERY");
  c.ops = sl_ops(k);
  cc__smr_thr_t *t = cc__smr_thr(c.l.smr);
  cr_assert_not_null(t);
  /* prefilled to half, counted as this thread's */
  for (uint64_t key = 1; key < c.keys; key += 2) {
    cr_assert_eq(c.ops->insert(&c.l, t, key), CC_OK);
    cc_atomic_fetch_add_relaxed(&c.sum, key);
    cc_atomic_fetch_add_relaxed(&c.count, 1);
  }
  run_threads(threads, list_worker, &c);
  size_t n;
  bool sorted;
  cr_expect_eq(sl_sum(&c.l, &n, &sorted), cc_atomic_load_relaxed(&c.sum),
               "%s, %d threads: key sum differs", cc_smr_kind_name(k), threads);
  cr_expect_eq((uint64_t)n, cc_atomic_load_relaxed(&c.count), "%s", cc_smr_kind_name(k));
  cr_expect(sorted, "%s: list not strictly sorted", cc_smr_kind_name(k));
  cc_smr_stats_t st;
  cc_smr_drain(c.l.smr);
  cc_smr_stats(c.l.smr, &st);
  /* each removed node is retired exactly once, by whoever unlinked it */
  cr_expect_eq(st.retired, cc_atomic_load_relaxed(&c.removes), "%s", cc_smr_kind_name(k));
  if (k != CC_SMR_NONE)
    cr_expect_eq(st.pending, 0, "%s: %llu pending after drain", cc_smr_kind_name(k),
                 (unsigned long long)st.pending);
  if (neutralize_every)
    cr_expect_geq(st.neutralized, 1000, "recovery ran %llu times", (unsigned long long)st.neutralized);
  cr_expect_eq(sl_destroy(&c.l), n, "%s: marked nodes left linked", cc_smr_kind_name(k));
  cc_smr_free(c.l.smr);
  cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
  cr_expect_eq(after.alloc_count - before.alloc_count, after.free_count - before.free_count,
               "%s: blocks left after cc_smr_free", cc_smr_kind_name(k));
}

Test(smr, list_key_sum_every_scheme_2_to_4_threads, .timeout = 60) {
  for (int threads = 2; threads <= 4; threads++)
    for (size_t i = 0; i < NKINDS; i++) list_keysum_case(kinds[i], threads, NULL);
}

/* Neutralisation forced every few phases lands in the search's read phase
 * (restart) and in the unlink and update write phases (slots). */
Test(smr, list_key_sum_debra_plus_forced_neutralisation, .timeout = 60) {
  list_keysum_case(CC_SMR_DEBRA_PLUS, 3, "3");
}
