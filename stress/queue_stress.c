/* Queue stress: every queue kind x every reclamation scheme, P producers
 * and C consumers on one queue, then a pairs phase (every thread enqueues
 * then dequeues). Values are tagged (producer << 40 | sequence; producer 0's
 * first value is NULL), and the checker verifies that nothing is lost,
 * nothing is duplicated, and every consumer sees each producer's values in
 * increasing order. At the end the queue must be empty with size 0, and
 * after cc_queue_free + cc_smr_free the allocation statistics must be back
 * where they started. DEBRA+ runs twice: as configured, and with
 * neutralisation forced every few steps. The segment queue runs twice too:
 * as built, and with segments of CC__SEGQ_TINY_CELLS cells, so that linking,
 * moving head and tail and retiring segments race all the time.
 *
 *   queue_stress [--short | --long]
 * Prints one line per combination and "N passed, N failed" last. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "containers/queue_internal.h"
#include "ccoll/alloc.h"
#include "ccoll/queue.h"
#include "ccoll/smr.h"
#include "ccoll/status.h"

#define TAG_SHIFT 40
/* Not a public kind: the segment queue with tiny segments. */
#define KIND_TINY ((cc_queue_kind_t)0x7e)
#define MAX_THREADS 16

typedef struct {
  cc_queue_t *q;
  int producers, consumers;
  uint64_t per_producer;
  _Atomic uint64_t dequeued;
  _Atomic uint8_t *seen; /* producers * per_producer flags */
  _Atomic int errors;
  _Atomic int ready;
  int nthreads;
} run_t;

typedef struct {
  run_t *r;
  int id;
} arg_t;

static void fail(run_t *r, const char *what, uint64_t v) {
  if (atomic_fetch_add(&r->errors, 1) < 5) fprintf(stderr, "  error: %s (value %#llx)\n", what, (unsigned long long)v);
}

static void start_together(run_t *r) {
  atomic_fetch_add(&r->ready, 1);
  while (atomic_load(&r->ready) < r->nthreads) {
  }
}

/* Records one dequeued value; last[] is this consumer's per-producer
 * high-water mark (sequence + 1). */
static void check_value(run_t *r, uint64_t v, uint64_t *last) {
  uint64_t p = v >> TAG_SHIFT, seq = v & ((UINT64_C(1) << TAG_SHIFT) - 1);
  if (p >= (uint64_t)r->producers || seq >= r->per_producer) {
    fail(r, "value never enqueued", v);
    return;
  }
  if (seq + 1 <= last[p]) fail(r, "producer order broken", v);
  last[p] = seq + 1;
  if (atomic_exchange(&r->seen[p * r->per_producer + seq], 1)) fail(r, "value dequeued twice", v);
}

static void *producer(void *a) {
  arg_t *g = a;
  run_t *r = g->r;
  start_together(r);
  for (uint64_t s = 0; s < r->per_producer; s++) {
    void *v = (void *)(uintptr_t)(((uint64_t)g->id << TAG_SHIFT) | s);
    int st;
    while ((st = cc_queue_enqueue(r->q, v)) == CC_ENOMEM) {
    }
    if (st != CC_OK) fail(r, "enqueue status", (uint64_t)st);
  }
  return NULL;
}

static void *consumer(void *a) {
  arg_t *g = a;
  run_t *r = g->r;
  uint64_t last[MAX_THREADS] = {0};
  uint64_t total = (uint64_t)r->producers * r->per_producer;
  start_together(r);
  while (atomic_load_explicit(&r->dequeued, memory_order_relaxed) < total) {
    void *v;
    int st = cc_queue_dequeue(r->q, &v);
    if (st == CC_EMPTY) continue;
    if (st != CC_OK) {
      fail(r, "dequeue status", (uint64_t)st);
      break;
    }
    check_value(r, (uint64_t)(uintptr_t)v, last);
    atomic_fetch_add_explicit(&r->dequeued, 1, memory_order_relaxed);
  }
  return NULL;
}

/* Pairs: thread id enqueues its own tagged values and dequeues one value
 * after each; what it dequeues is anyone's. */
static void *pairs(void *a) {
  arg_t *g = a;
  run_t *r = g->r;
  uint64_t last[MAX_THREADS] = {0};
  start_together(r);
  for (uint64_t s = 0; s < r->per_producer; s++) {
    void *v = (void *)(uintptr_t)(((uint64_t)g->id << TAG_SHIFT) | s);
    if (cc_queue_enqueue(r->q, v) != CC_OK) fail(r, "pairs enqueue", s);
    int st = cc_queue_dequeue(r->q, &v);
    /* this thread's own enqueue precedes the dequeue: never empty */
    if (st != CC_OK) {
      fail(r, "pairs dequeue found the queue empty", (uint64_t)st);
      continue;
    }
    check_value(r, (uint64_t)(uintptr_t)v, last);
    atomic_fetch_add_explicit(&r->dequeued, 1, memory_order_relaxed);
  }
  return NULL;
}

static bool run_phase(cc_queue_t *q, int producers, int consumers, bool pairs_mode,
                      uint64_t per_producer) {
  run_t r = {.q = q, .producers = producers, .consumers = consumers, .per_producer = per_producer};
  r.nthreads = pairs_mode ? producers : producers + consumers;
  r.seen = calloc((size_t)producers * per_producer, 1);
  if (!r.seen) return false;
  pthread_t th[MAX_THREADS];
  arg_t args[MAX_THREADS];
  for (int i = 0; i < r.nthreads; i++) {
    args[i] = (arg_t){&r, pairs_mode ? i : (i < producers ? i : i - producers)};
    void *(*fn)(void *) = pairs_mode ? pairs : (i < producers ? producer : consumer);
    pthread_create(&th[i], NULL, fn, &args[i]);
  }
  for (int i = 0; i < r.nthreads; i++) pthread_join(th[i], NULL);
  uint64_t total = (uint64_t)producers * per_producer;
  if (atomic_load(&r.dequeued) != total) fail(&r, "dequeued count", atomic_load(&r.dequeued));
  for (uint64_t i = 0; i < total; i++)
    if (!atomic_load(&r.seen[i])) {
      fail(&r, "value lost", ((i / per_producer) << TAG_SHIFT) | (i % per_producer));
      break;
    }
  void *v;
  if (cc_queue_size(q) != 0) fail(&r, "size after the run", cc_queue_size(q));
  if (cc_queue_dequeue(q, &v) != CC_EMPTY) fail(&r, "queue not empty after the run", 0);
  free(r.seen);
  return atomic_load(&r.errors) == 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* forced: DEBRA+ neutralises some thread every few reads/write phases
 * (CCOLL_DEBRA_NEUTRALIZE_EVERY, read when the domain is created), so the
 * queue's read phases really restart and its write phases really run
 * neutralised; TSan builds compile neutralisation out. */
static bool run_combo(cc_queue_kind_t kind, cc_smr_kind_t smr_kind, bool forced, uint64_t n) {
  cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
  if (forced) setenv("CCOLL_DEBRA_NEUTRALIZE_EVERY", "37", 1);
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = smr_kind});
  if (forced) unsetenv("CCOLL_DEBRA_NEUTRALIZE_EVERY");
  if (!d) return false;
  cc_queue_t *q = kind == KIND_TINY ? cc__queue_new_tiny_segments(&(cc_queue_config_t){.smr = d})
                                    : cc_queue_new(&(cc_queue_config_t){.kind = kind, .smr = d});
  if (!q) {
    cc_smr_free(d);
    return false;
  }
  double t0 = now();
  bool ok = run_phase(q, 3, 3, false, n);   /* 3 producers, 3 consumers */
  ok = run_phase(q, 1, 4, false, n) && ok;  /* dequeuers overtake the enqueuer */
  ok = run_phase(q, 4, 1, false, n) && ok;  /* the queue grows */
  ok = run_phase(q, 4, 0, true, n) && ok;   /* pairs, near-empty queue */
  double secs = now() - t0;
  cc_queue_free(q);
  cc_smr_stats_t st;
  cc_smr_stats(d, &st);
  if (forced && !CC_TSAN && st.neutralized == 0) {
    fprintf(stderr, "  error: forced neutralisation never happened\n");
    ok = false;
  }
  cc_smr_free(d);
  cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
  int64_t leaked = (int64_t)(after.current_allocated - before.current_allocated);
  if (leaked != 0) {
    fprintf(stderr, "  error: %lld bytes still allocated after free\n", (long long)leaked);
    ok = false;
  }
  printf("%-12s %-6s%-7s %8llu values/thread  %6.2fs  retired %8llu  neutralised %6llu  %s\n",
         kind == CC_QUEUE_MS ? "ms" : kind == KIND_TINY ? "segment-tiny" : "segment", cc_smr_kind_name(smr_kind), forced ? " forced" : "",
         (unsigned long long)n, secs, (unsigned long long)st.retired,
         (unsigned long long)st.neutralized, ok ? "ok" : "FAILED");
  fflush(stdout);
  return ok;
}

/* A combination that hangs (lost wake-up, livelock) must fail, not stall
 * the suite: the watchdog prints the tally and exits. */
static volatile sig_atomic_t passed_so_far, failed_so_far;
static unsigned watchdog_secs;

static void watchdog(int sig) {
  (void)sig;
  char buf[128];
  int n = snprintf(buf, sizeof buf, "TIMEOUT after %us: hung\n%d passed, %d failed\n", watchdog_secs,
                   (int)passed_so_far, (int)failed_so_far + 1);
  if (n > 0) (void)!write(STDOUT_FILENO, buf, (size_t)n);
  _exit(1);
}

int main(int argc, char **argv) {
  uint64_t n = 10000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--short")) n = 10000;
    else if (!strcmp(argv[i], "--long")) n = 1000000;
    else {
      fprintf(stderr, "usage: %s [--short | --long]\n", argv[0]);
      return 2;
    }
  }
  cc_alloc_stats_enable(true);
  const cc_queue_kind_t kinds[] = {CC_QUEUE_SEGMENT, KIND_TINY, CC_QUEUE_MS};
  const cc_smr_kind_t schemes[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
  int passed = 0, failed = 0;
  watchdog_secs = n > 100000 ? 1200 : 120;
  signal(SIGALRM, watchdog);
  for (size_t k = 0; k < 3; k++)
    for (size_t s = 0; s < 5; s++) {
      bool forced = s == 4; /* DEBRA+ again, neutralised all the time */
      alarm(watchdog_secs);
      if (run_combo(kinds[k], schemes[forced ? 2 : s], forced, n)) passed++;
      else failed++;
      passed_so_far = passed, failed_so_far = failed;
    }
  alarm(0);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
