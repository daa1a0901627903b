/* Stress of the reclamation domains, every scheme, many threads: Treiber
 * stacks (the inline contract) plus user-section readers (the public API),
 * thread churn, several domains at once, and DEBRA+ with forced
 * neutralisation. Checks: no value lost or duplicated, no node read after
 * it was reused (a checksum in every node), pending back to 0 after drain.
 * Under ASan a use after free aborts; under TSan, races are reported.
 *
 *   smr_stress [--short | --long]
 *
 * Prints one line per case and "N passed, N failed" last; exits non-zero
 * on any failure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccoll.h"
#include "../tests/smr_treiber.h"

static double seconds_per_case = 0.4;
static int passed, failed;

static void report(bool ok, const char *fmt, const char *kind, const char *detail) {
  printf("%s %s %s%s%s\n", ok ? "PASS" : "FAIL", fmt, kind, detail[0] ? ": " : "", detail);
  fflush(stdout);
  if (ok) passed++;
  else failed++;
}

/* A value carries its producer and sequence; nodes carry val and ~val in
 * the stack (val) and in a reader-checked copy. */
#define CHECK(v) ((v) ^ 0x9e3779b97f4a7c15ULL)

typedef struct {
  ts_stack_t s;
  const ts_ops_t *ops;
  cc_atomic(int) stop;
  cc_atomic(uint64_t) pushed_sum, popped_sum, pushed_n, popped_n;
  cc_atomic(uint64_t) bad;
  cc_atomic(int) next_id;
  bool readers; /* user-section readers run too */
} stack_run_t;

static void *updater(void *arg) {
  stack_run_t *r = arg;
  uint64_t id = (uint64_t)cc_atomic_fetch_add_relaxed(&r->next_id, 1);
  cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
  if (t == NULL) {
    cc_atomic_fetch_add_relaxed(&r->bad, 1);
    return NULL;
  }
  uint64_t ps = 0, pn = 0, qs = 0, qn = 0, seq = 0;
  while (!cc_atomic_load_relaxed(&r->stop)) {
    for (int i = 0; i < 64; i++) {
      uint64_t v = (id << 40) | seq++, out;
      if (r->ops->push(&r->s, t, v) == CC_OK) {
        ps += v;
        pn++;
      }
      if (r->ops->pop(&r->s, t, &out) == CC_OK) {
        qs += out;
        qn++;
      }
    }
  }
  cc_atomic_fetch_add_relaxed(&r->pushed_sum, ps);
  cc_atomic_fetch_add_relaxed(&r->pushed_n, pn);
  cc_atomic_fetch_add_relaxed(&r->popped_sum, qs);
  cc_atomic_fetch_add_relaxed(&r->popped_n, qn);
  return NULL;
}

/* Reads the top node inside a user section: it must stay a node of this
 * stack (its value's producer id in range) until the section ends. */
static void *reader(void *arg) {
  stack_run_t *r = arg;
  uint64_t bad = 0;
  while (!cc_atomic_load_relaxed(&r->stop)) {
    cc_smr_enter(r->s.smr);
    ts_node_t *n = cc_smr_protect(r->s.smr, (void *const *)(void *)&r->s.top);
    if (n != NULL) {
      uint64_t v1 = n->val;
      for (volatile int spin = 0; spin < 200; spin++) {
      }
      uint64_t v2 = n->val;
      if (v1 != v2 || (v1 >> 40) > 64) bad++;
    }
    cc_smr_leave(r->s.smr);
  }
  cc_atomic_fetch_add_relaxed(&r->bad, bad);
  return NULL;
}

/* Runs updaters (and readers) on one domain of kind k; churn: the updater
 * threads are replaced by new ones every slice. */
static void stack_case(cc_smr_kind_t k, int updaters, int readers, int slices, const char *name) {
  stack_run_t *r = calloc(1, sizeof *r);
  cc_smr_config_t cfg = {k, 0, 0};
  ts_init(&r->s, cc_smr_new(&cfg));
  r->ops = ts_ops(k);
  pthread_t rd[8];
  for (int i = 0; i < readers; i++) pthread_create(&rd[i], NULL, reader, r);
  for (int sl = 0; sl < slices; sl++) {
    pthread_t up[16];
    cc_atomic_store_relaxed(&r->stop, 0);
    for (int i = 0; i < updaters; i++) pthread_create(&up[i], NULL, updater, r);
    usleep((useconds_t)(seconds_per_case / slices * 1e6));
    cc_atomic_store_relaxed(&r->stop, 1);
    for (int i = 0; i < updaters; i++) pthread_join(up[i], NULL);
  }
  cc_atomic_store_relaxed(&r->stop, 1);
  for (int i = 0; i < readers; i++) pthread_join(rd[i], NULL);

  cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
  uint64_t out, rest = 0, rn = 0;
  while (r->ops->pop(&r->s, t, &out) == CC_OK) {
    rest += out;
    rn++;
  }
  char detail[256] = "";
  bool ok = true;
  if (cc_atomic_load_relaxed(&r->popped_sum) + rest != cc_atomic_load_relaxed(&r->pushed_sum) ||
      cc_atomic_load_relaxed(&r->popped_n) + rn != cc_atomic_load_relaxed(&r->pushed_n)) {
    ok = false;
    snprintf(detail, sizeof detail, "values lost or duplicated");
  }
  if (cc_atomic_load_relaxed(&r->bad) != 0) {
    ok = false;
    snprintf(detail, sizeof detail, "%llu reads saw a reused node",
             (unsigned long long)cc_atomic_load_relaxed(&r->bad));
  }
  cc_smr_drain(r->s.smr);
  cc_smr_stats_t st;
  cc_smr_stats(r->s.smr, &st);
  if (ok && k != CC_SMR_NONE && st.pending != 0) {
    ok = false;
    snprintf(detail, sizeof detail, "%llu pending after drain", (unsigned long long)st.pending);
  }
  if (ok && st.retired != cc_atomic_load_relaxed(&r->popped_n) + rn) {
    ok = false;
    snprintf(detail, sizeof detail, "retired %llu != popped %llu", (unsigned long long)st.retired,
             (unsigned long long)(cc_atomic_load_relaxed(&r->popped_n) + rn));
  }
  if (ok)
    snprintf(detail, sizeof detail, "%llu ops, peak pending %llu, neutralised %llu",
             (unsigned long long)(2 * st.retired), (unsigned long long)st.pending_peak,
             (unsigned long long)st.neutralized);
  report(ok, name, cc_smr_kind_name(k), detail);
  ts_destroy(&r->s);
  cc_smr_free(r->s.smr);
  free(r);
}

/* DEBRA+ with neutralisation forced every few operations: the recovery
 * paths (jump back from a read phase, quiescent write phase) run all the
 * time, and still nothing is lost or freed early. */
static void forced_neutralisation_case(void) {
  setenv("CCOLL_DEBRA_NEUTRALIZE_EVERY", "7", 1);
  setenv("CCOLL_DEBRA_THRESHOLD", "16", 1);
  stack_run_t *r = calloc(1, sizeof *r);
  cc_smr_config_t cfg = {CC_SMR_DEBRA_PLUS, 0, 0};
  ts_init(&r->s, cc_smr_new(&cfg));
  unsetenv("CCOLL_DEBRA_NEUTRALIZE_EVERY");
  unsetenv("CCOLL_DEBRA_THRESHOLD");
  r->ops = ts_ops(CC_SMR_DEBRA_PLUS);
  pthread_t up[4], rd;
  pthread_create(&rd, NULL, reader, r);
  for (int i = 0; i < 4; i++) pthread_create(&up[i], NULL, updater, r);
  usleep((useconds_t)(seconds_per_case * 1e6));
  cc_atomic_store_relaxed(&r->stop, 1);
  for (int i = 0; i < 4; i++) pthread_join(up[i], NULL);
  pthread_join(rd, NULL);
  cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
  uint64_t out, rest = 0, rn = 0;
  while (r->ops->pop(&r->s, t, &out) == CC_OK) {
    rest += out;
    rn++;
  }
  cc_smr_stats_t st;
  cc_smr_drain(r->s.smr);
  cc_smr_stats(r->s.smr, &st);
  bool ok = cc_atomic_load_relaxed(&r->popped_sum) + rest == cc_atomic_load_relaxed(&r->pushed_sum) &&
            cc_atomic_load_relaxed(&r->popped_n) + rn == cc_atomic_load_relaxed(&r->pushed_n) &&
            cc_atomic_load_relaxed(&r->bad) == 0 && st.pending == 0;
  char detail[256];
#if CC__SMR_NEUTRALIZE
  /* the recovery paths must have run, many times */
  if (st.neutralized < 100) ok = false;
  snprintf(detail, sizeof detail, "%llu neutralisations, %llu ops, pending %llu",
           (unsigned long long)st.neutralized, (unsigned long long)(2 * st.retired),
           (unsigned long long)st.pending);
#else
  snprintf(detail, sizeof detail, "neutralisation compiled out (TSan): ran as DEBRA, %llu ops",
           (unsigned long long)(2 * st.retired));
#endif
  report(ok, "forced-neutralisation", "debra+", detail);
  ts_destroy(&r->s);
  cc_smr_free(r->s.smr);
  free(r);
}

/* Several domains of different kinds used by the same threads at once. */
typedef struct {
  stack_run_t *runs[4];
  cc_atomic(int) stop;
} multi_t;

static void *multi_worker(void *arg) {
  multi_t *m = arg;
  cc__smr_thr_t *t[4];
  for (int k = 0; k < 4; k++) t[k] = cc__smr_thr(m->runs[k]->s.smr);
  uint64_t seq = 0;
  while (!cc_atomic_load_relaxed(&m->stop)) {
    for (int k = 0; k < 4; k++) {
      stack_run_t *r = m->runs[k];
      uint64_t v = ++seq, out;
      if (r->ops->push(&r->s, t[k], v) == CC_OK) {
        cc_atomic_fetch_add_relaxed(&r->pushed_sum, v);
        cc_atomic_fetch_add_relaxed(&r->pushed_n, 1);
      }
      if (r->ops->pop(&r->s, t[k], &out) == CC_OK) {
        cc_atomic_fetch_add_relaxed(&r->popped_sum, out);
        cc_atomic_fetch_add_relaxed(&r->popped_n, 1);
      }
    }
  }
  return NULL;
}

static void multi_domain_case(void) {
  static const cc_smr_kind_t kinds[4] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
  multi_t m;
  memset(&m, 0, sizeof m);
  for (int k = 0; k < 4; k++) {
    m.runs[k] = calloc(1, sizeof *m.runs[k]);
    cc_smr_config_t cfg = {kinds[k], 0, 0};
    ts_init(&m.runs[k]->s, cc_smr_new(&cfg));
    m.runs[k]->ops = ts_ops(kinds[k]);
  }
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, multi_worker, &m);
  usleep((useconds_t)(seconds_per_case * 1e6));
  cc_atomic_store_relaxed(&m.stop, 1);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  bool ok = true;
  for (int k = 0; k < 4; k++) {
    stack_run_t *r = m.runs[k];
    cc__smr_thr_t *t = cc__smr_thr(r->s.smr);
    uint64_t out, rest = 0;
    while (r->ops->pop(&r->s, t, &out) == CC_OK) rest += out;
    if (cc_atomic_load_relaxed(&r->popped_sum) + rest != cc_atomic_load_relaxed(&r->pushed_sum)) ok = false;
    cc_smr_free(r->s.smr);
    free(r);
  }
  report(ok, "several-domains", "all kinds", ok ? "" : "values lost or duplicated");
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--short") == 0) seconds_per_case = 0.4;
    else if (strcmp(argv[i], "--long") == 0) seconds_per_case = 8;
    else {
      fprintf(stderr, "usage: %s [--short | --long]\n", argv[0]);
      return 2;
    }
  }
  static const cc_smr_kind_t kinds[4] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
  for (int k = 0; k < 4; k++) {
    stack_case(kinds[k], 4, 1, 1, "treiber+readers");
    stack_case(kinds[k], 3, 0, 8, "treiber+thread-churn");
  }
  forced_neutralisation_case();
  multi_domain_case();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
