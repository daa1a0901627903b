/* stress/track_stress: the registry, tracking mode and the profiler under
 * many threads, with blocks handed from thread to thread.
 *
 *   track_stress [--short | --long]
 *
 * Each phase runs in its own child process (tracking is fixed by a
 * process's first allocation): a private registry under 8 threads (own
 * pointers, neighbours' pointers, shared buffers whose aliases are
 * unregistered by different threads), tracking mode with cross-thread
 * frees and deliberate bad frees, the profiler at sample rate 1 with
 * snapshots taken concurrently (exact totals and cross-thread matrix at the
 * end), and the profiler sampling with resets racing the workload. Prints
 * "N passed, N failed" last; exit status 1 on any failure. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc/track_internal.h"
#include "ccoll.h"
#include "ccoll/profiler.h"
#include "ccoll/registry.h"

enum { THREADS = 8, RING = 256 };

static long ops_per_thread = 20000;
static int passed, failed;

static void check(bool ok, const char *what) {
  if (ok) passed++;
  else failed++;
  printf("  %s: %s\n", ok ? "ok  " : "FAIL", what);
  fflush(stdout);
}

/* ------------------------------------------------------------ SPSC rings: thread i -> thread (i+1) % THREADS */

typedef struct {
  _Alignas(64) cc_atomic(unsigned long) head; /* consumer */
  _Alignas(64) cc_atomic(unsigned long) tail; /* producer */
  void *slot[RING];
} ring_t;

static ring_t rings[THREADS];

static bool ring_put(ring_t *r, void *p) {
  unsigned long t = cc_atomic_load_relaxed(&r->tail); /* our own index */
  /* acquire: the consumer is done with the slot it released */
  if (t - cc_atomic_load_acquire(&r->head) == RING) return false;
  r->slot[t % RING] = p;
  cc_atomic_store_release(&r->tail, t + 1); /* publishes the slot */
  return true;
}

static void *ring_get(ring_t *r) {
  unsigned long h = cc_atomic_load_relaxed(&r->head); /* our own index */
  if (h == cc_atomic_load_acquire(&r->tail)) return NULL; /* acquire: the slot's contents */
  void *p = r->slot[h % RING];
  cc_atomic_store_release(&r->head, h + 1); /* the slot may be reused */
  return p;
}

static void rings_reset(void) {
  for (int i = 0; i < THREADS; i++) {
    cc_atomic_store_relaxed(&rings[i].head, 0); /* before the threads start */
    cc_atomic_store_relaxed(&rings[i].tail, 0);
  }
}

/* Each worker makes `ops` blocks; every other one goes to its right-hand
 * neighbour, which frees it. make/drop are the phase's alloc and free. */
typedef struct {
  int id;
  void *(*make)(int id, long i);
  void (*drop)(int id, void *p);
  long handed; /* out: blocks sent to the neighbour */
} worker_t;

static atomic_int workers_done;

static void *worker(void *arg) {
  worker_t *w = arg;
  ring_t *out = &rings[w->id], *in = &rings[(w->id + THREADS - 1) % THREADS];
  for (long i = 0; i < ops_per_thread; i++) {
    void *p = w->make(w->id, i);
    if (p == NULL) abort();
    if (i % 2 == 0 && ring_put(out, p)) w->handed++;
    else w->drop(w->id, p);
    void *q = ring_get(in);
    if (q) w->drop(w->id, q);
  }
  atomic_fetch_add(&workers_done, 1);
  /* drain until every producer is done and the ring is empty */
  for (;;) {
    void *q = ring_get(in);
    if (q) {
      w->drop(w->id, q);
      continue;
    }
    if (atomic_load(&workers_done) == THREADS) {
      while ((q = ring_get(in)) != NULL) w->drop(w->id, q);
      break;
    }
    sched_yield();
  }
  return NULL;
}

static long run_workers(void *(*make)(int, long), void (*drop)(int, void *)) {
  rings_reset();
  atomic_store(&workers_done, 0);
  pthread_t t[THREADS];
  worker_t w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker_t){i, make, drop, 0};
    pthread_create(&t[i], NULL, worker, &w[i]);
  }
  long handed = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    handed += w[i].handed;
  }
  return handed;
}

/* ------------------------------------------------------------ phase 1: private registry */

static cc_registry_t *preg;
static atomic_long buffers_made, buffers_freed;

static void buffer_delete(void *p, size_t bytes) {
  (void)bytes;
  atomic_fetch_add(&buffers_freed, 1);
  free(p);
}

/* Every 16th block is a shared buffer: the real pointer travels, its three
 * aliases are unregistered at once by the maker; the last reference frees. */
static void *reg_make(int id, long i) {
  (void)id;
  size_t n = 16 + (size_t)(i % 200);
  char *p = malloc(n + 4);
  if (i % 16 == 0) {
    void *al[3] = {p + 1, p + 2, p + 3};
    if (cc_registry_register_buffer_with_aliases(preg, p, n, al, 3, CC_REG_CUSTOM, buffer_delete) == 0) abort();
    atomic_fetch_add(&buffers_made, 1);
    for (int k = 0; k < 3; k++)
      if (cc_registry_unregister_ptr(preg, al[k]) != CC_OK) abort();
    return p;
  }
  if (cc_registry_register_ptr(preg, p, n, CC_REG_MALLOC, NULL) != CC_OK) abort();
  if (!cc_registry_is_registered(preg, p)) abort();
  return p;
}

static atomic_long unregister_failures;
static void reg_drop(int id, void *p) {
  (void)id;
  if (cc_registry_unregister_ptr(preg, p) != CC_OK) atomic_fetch_add(&unregister_failures, 1);
}

static int phase_registry(void) {
  preg = cc_registry_new(0);
  long handed = run_workers(reg_make, reg_drop);
  cc_reg_stats_t st;
  cc_registry_stats(preg, &st);
  check(atomic_load(&unregister_failures) == 0, "every unregistration found its pointer");
  check(cc_registry_num_pointers(preg) == 0 && cc_registry_total_bytes(preg) == 0, "registry empty at the end");
  check(atomic_load(&buffers_freed) == atomic_load(&buffers_made) && cc_registry_num_buffers(preg) == 0,
        "every shared buffer freed exactly once");
  check(st.registered == st.unregistered && st.bad_frees == 0, "registered == unregistered, no bad frees");
  check(st.cross_thread_frees >= (uint64_t)handed, "cross-thread unregistrations counted");
  cc_registry_free(preg);
  return failed;
}

/* ------------------------------------------------------------ phase 2: tracking mode */

static void *cc_make(int id, long i) {
  (void)id;
  return i % 3 ? cc_alloc_node((size_t)(8 + i % 300)) : cc_alloc((size_t)(1 + i % 5000));
}
static void cc_drop(int id, void *p) {
  (void)id;
  cc_free_unsized(p);
}

static int phase_tracking(void) {
  if (cc_option_set(CC_OPT_TRACK, 1) != CC_OK) {
    check(false, "tracking switched on before the first allocation");
    return failed;
  }
  long handed = run_workers(cc_make, cc_drop);
  cc_registry_t *g = cc_registry_global();
  cc_reg_stats_t st;
  cc_registry_stats(g, &st);
  check(cc_registry_num_pointers(g) == 0, "every tracked block freed");
  check(st.registered == (uint64_t)THREADS * ops_per_thread && st.unregistered == st.registered,
        "every allocation tracked");
  check(st.cross_thread_frees == (uint64_t)handed, "cross-thread frees counted exactly");
  /* deliberate bad frees: reported (stderr silenced here), never passed on */
  void *p = cc_alloc(64);
  cc_free(p, 64);
  fflush(stderr);
  FILE *saved = fdopen(dup(2), "w");
  if (freopen("/dev/null", "w", stderr) == NULL) abort();
  int local;
  cc_free(p, 64);
  cc_free(&local, sizeof local);
  fflush(stderr);
  dup2(fileno(saved), 2);
  fclose(saved);
  cc_registry_stats(g, &st);
  check(st.bad_frees == 2, "double free and foreign pointer caught, process alive");
  return failed;
}

/* ------------------------------------------------------------ phase 3: profiler at rate 1 */

static atomic_bool snapping;

static void *snapshotter(void *arg) {
  cc_profiler_t *p = arg;
  FILE *null = fopen("/dev/null", "w");
  while (atomic_load(&snapping)) {
    cc_profile_t *s = cc_profiler_snapshot(p);
    if (s) {
      cc_profile_write(s, null, CC_PROFILE_JSON);
      cc_profile_write(s, null, CC_PROFILE_HTML);
      cc_profile_free(s);
    }
    usleep(1000);
  }
  fclose(null);
  return NULL;
}

static uint32_t tids[THREADS];
static void *tid_make(int id, long i) {
  tids[id] = cc__thread_id();
  return cc_make(id, i);
}

static int phase_profiler_exact(void) {
  cc_profiler_t *p = cc_profiler_new(NULL);
  cc_profiler_start(p);
  atomic_store(&snapping, true);
  pthread_t snap;
  pthread_create(&snap, NULL, snapshotter, p);
  long handed = run_workers(tid_make, cc_drop);
  atomic_store(&snapping, false);
  pthread_join(snap, NULL);
  cc_profile_t *s = cc_profiler_snapshot(p);
  uint64_t total = (uint64_t)THREADS * ops_per_thread;
  check(s->allocs == total && s->frees == total, "allocs and frees exact at rate 1");
  check(s->live_blocks == 0 && s->leak_blocks == 0, "nothing live at the end");
  check(s->cross_frees == (uint64_t)handed, "cross-thread frees exact");
  /* every cross free went from thread i to thread i+1 */
  uint64_t diag_ok = 0, expected_cells = 0;
  for (size_t a = 0; a < s->matrix_dim; a++)
    for (size_t f = 0; f < s->matrix_dim; f++) {
      uint64_t v = s->matrix[a * s->matrix_dim + f];
      bool neighbour = false;
      for (int i = 0; i < THREADS; i++)
        neighbour |= s->threads[a].tid == tids[i] && s->threads[f].tid == tids[(i + 1) % THREADS];
      expected_cells += neighbour;
      if (neighbour ? v > 0 : v == 0) diag_ok++;
    }
  check(expected_cells == THREADS && diag_ok == s->matrix_dim * s->matrix_dim,
        "matrix: only i -> i+1 cells, all of them used");
  cc_profile_free(s);
  cc_profiler_free(p);

  /* the counting profiler: every block counted, none remembered */
  cc_profiler_options_t o = cc_profiler_default_options();
  o.cross_thread = o.leaks = false;
  p = cc_profiler_new(&o);
  cc_profiler_start(p);
  atomic_store(&snapping, true);
  pthread_create(&snap, NULL, snapshotter, p);
  run_workers(cc_make, cc_drop);
  atomic_store(&snapping, false);
  pthread_join(snap, NULL);
  s = cc_profiler_snapshot(p);
  check(s->allocs == total && s->frees == total && s->live_blocks == 0, "counting profiler: exact totals");
  cc_profile_free(s);
  cc_profiler_free(p);
  return failed;
}

/* ------------------------------------------------------------ phase 4: sampling, resets racing */

static int phase_profiler_sampled(void) {
  cc_profiler_options_t o = cc_profiler_default_options();
  o.sample_rate = 0.1;
  o.stacks = false;
  cc_profiler_t *p = cc_profiler_new(&o);
  cc_profiler_start(p);
  long handed = run_workers(cc_make, cc_drop);
  cc_profile_t *s = cc_profiler_snapshot(p);
  double total = (double)THREADS * (double)ops_per_thread;
  check(s->allocs > 0.85 * total && s->allocs < 1.15 * total, "allocation estimate within 15%");
  check(s->cross_frees > 0.7 * (double)handed && s->cross_frees < 1.3 * (double)handed,
        "cross-thread estimate within 30%");
  cc_profile_free(s);
  /* resets and stop/start racing the workload: must stay consistent (TSan, ASan) */
  atomic_store(&snapping, true);
  pthread_t snap;
  pthread_create(&snap, NULL, snapshotter, p);
  for (int round = 0; round < 3; round++) {
    run_workers(cc_make, cc_drop);
    cc_profiler_reset(p);
    cc_profiler_stop(p);
    cc_profiler_start(p);
  }
  atomic_store(&snapping, false);
  pthread_join(snap, NULL);
  cc_profiler_reset(p);
  cc_free(cc_alloc(10), 10);
  s = cc_profiler_snapshot(p);
  check(s->allocs <= 20, "reset forgets the past");
  cc_profile_free(s);
  cc_profiler_free(p);
  return failed;
}

/* ------------------------------------------------------------ driver */

typedef struct {
  const char *name;
  int (*run)(void);
} phase_t;

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--long") == 0) ops_per_thread = 400000;
    else if (strcmp(argv[i], "--short") == 0) ops_per_thread = 20000;
    else {
      fprintf(stderr, "usage: %s [--short | --long]\n", argv[0]);
      return 2;
    }
  }
  static const phase_t phases[] = {
    {"private registry, 8 threads, shared buffers", phase_registry},
    {"tracking mode, cross-thread frees, bad frees", phase_tracking},
    {"profiler at rate 1 with concurrent snapshots", phase_profiler_exact},
    {"profiler sampling, resets racing the workload", phase_profiler_sampled},
  };
  int total_passed = 0, total_failed = 0;
  for (size_t k = 0; k < sizeof phases / sizeof phases[0]; k++) {
    printf("== %s (%d threads x %ld blocks)\n", phases[k].name, THREADS, ops_per_thread);
    fflush(stdout);
    int fd[2];
    if (pipe(fd) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) { /* a fresh process: its first allocation decides tracking */
      close(fd[0]);
      phases[k].run();
      int counts[2] = {passed, failed};
      if (write(fd[1], counts, sizeof counts) != sizeof counts) _exit(3);
      close(fd[1]);
      fflush(stdout);
      _exit(failed ? 1 : 0);
    }
    close(fd[1]);
    int counts[2] = {0, 1};
    ssize_t got = read(fd[0], counts, sizeof counts);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof counts || !WIFEXITED(status)) {
      printf("  FAIL: phase crashed (status %d)\n", status);
      counts[0] = 0;
      counts[1] = 1;
    }
    total_passed += counts[0];
    total_failed += counts[1];
  }
  printf("%d passed, %d failed\n", total_passed, total_failed);
  return total_failed ? 1 : 0;
}
