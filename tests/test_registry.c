/* The pointer registry: every kind freed by its own function, shared
 * buffers freed exactly once, queries, concurrent use, and tracking mode
 * (bad frees reported and survived, leaks reported at exit). Criterion runs
 * each test in a fresh process, so a test may switch tracking on before its
 * first allocation. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc/alloc_internal.h"
#include "alloc/track_internal.h"
#include "ccoll.h"
#include "ccoll/registry.h"

static atomic_int deleted;
static void *last_deleted;
static void count_delete(void *p, size_t bytes) {
  (void)bytes;
  last_deleted = p;
  atomic_fetch_add(&deleted, 1);
  free(p);
}

/* ------------------------------------------------------------ stderr capture */

typedef struct {
  int saved;
  char path[64];
} capture_t;

static void capture_begin(capture_t *c) {
  fflush(stderr);
  strcpy(c->path, "/tmp/ccoll-test-stderr-XXXXXX");
  int fd = mkstemp(c->path);
  cr_assert(fd >= 0);
  c->saved = dup(2);
  dup2(fd, 2);
  close(fd);
}

/* Returns the captured text (malloc'ed). */
static char *capture_end(capture_t *c) {
  fflush(stderr);
  dup2(c->saved, 2);
  close(c->saved);
  FILE *f = fopen(c->path, "r");
  cr_assert_not_null(f);
  char *buf = calloc(1, 1 << 16);
  size_t n = fread(buf, 1, (1 << 16) - 1, f);
  buf[n] = 0;
  fclose(f);
  unlink(c->path);
  return buf;
}

/* ------------------------------------------------------------ kinds and queries */

Test(registry, each_kind_freed_by_its_function) {
  cc_registry_t *r = cc_registry_new(4);
  cr_assert_not_null(r);
  void *m = malloc(100), *a = NULL, *c = cc_alloc(300), *u = malloc(50);
  cr_assert_eq(posix_memalign(&a, 256, 200), 0);
  cr_assert_eq(cc_registry_register_ptr(r, m, 100, CC_REG_MALLOC, NULL), CC_OK);
  cr_assert_eq(cc_registry_register_ptr(r, a, 200, CC_REG_ALIGNED, NULL), CC_OK);
  cr_assert_eq(cc_registry_register_ptr(r, c, 300, CC_REG_CCOLL, NULL), CC_OK);
  cr_assert_eq(cc_registry_register_ptr(r, u, 50, CC_REG_CUSTOM, count_delete), CC_OK);
  cr_expect_eq(cc_registry_num_pointers(r), 4);
  cr_expect_eq(cc_registry_total_bytes(r), 650);
  cr_expect(cc_registry_is_registered(r, a));
  cr_expect(!cc_registry_is_registered(r, (char *)a + 1));

  cc_reg_record_t rec;
  uint64_t before = cc__now_ns();
  cr_assert_eq(cc_registry_get_ptr_record(r, c, &rec), CC_OK);
  cr_expect_eq(rec.ptr, c);
  cr_expect_eq(rec.bytes, 300);
  cr_expect_eq(rec.kind, CC_REG_CCOLL);
  cr_expect_eq(rec.owner_thread, cc__thread_id());
  cr_expect(rec.time_ns <= before && before - rec.time_ns < 5000000000ull);
  cr_expect_eq(rec.buffer_id, 0);
  cr_expect_eq(rec.nframes, 0, "stacks are off by default");

  /* the ccoll block is freed with cc_free: the statistics see it */
  cc_alloc_stats_enable(true);
  cc_alloc_stats_reset();
  cr_expect_eq(cc_registry_unregister_ptr(r, c), CC_OK);
  cc_alloc_snapshot_t st = cc_alloc_stats_snapshot();
  cr_expect_eq(st.free_count, 1);
  cr_expect_eq(st.free_bytes, 300);

  cr_expect_eq(cc_registry_unregister_ptr(r, u), CC_OK);
  cr_expect_eq(atomic_load(&deleted), 1);
  cr_expect_eq(last_deleted, u);
  cr_expect_eq(cc_registry_unregister_ptr(r, m), CC_OK); /* free(): ASan would object to a mismatch */
  cr_expect_eq(cc_registry_unregister_ptr(r, a), CC_OK);
  cr_expect_eq(cc_registry_num_pointers(r), 0);
  cr_expect_eq(cc_registry_total_bytes(r), 0);
  cc_reg_stats_t rs;
  cc_registry_stats(r, &rs);
  cr_expect_eq(rs.registered, 4);
  cr_expect_eq(rs.unregistered, 4);
  cr_expect_eq(rs.bad_frees, 0);
  cr_expect_eq(rs.cross_thread_frees, 0);
  cc_registry_free(r);
}

Test(registry, bad_arguments_change_nothing) {
  cc_registry_t *r = cc_registry_new(0);
  void *p = malloc(8);
  cr_expect_eq(cc_registry_register_ptr(NULL, p, 8, CC_REG_MALLOC, NULL), CC_EINVAL);
  cr_expect_eq(cc_registry_register_ptr(r, NULL, 8, CC_REG_MALLOC, NULL), CC_EINVAL);
  cr_expect_eq(cc_registry_register_ptr(r, p, 8, (cc_reg_kind_t)9, NULL), CC_EINVAL);
  cr_expect_eq(cc_registry_register_ptr(r, p, 8, CC_REG_CUSTOM, NULL), CC_EINVAL, "custom needs a deleter");
  cr_expect_eq(cc_registry_num_pointers(r), 0);
  cr_expect_eq(cc_registry_register_ptr(r, p, 8, CC_REG_MALLOC, NULL), CC_OK);
  cr_expect_eq(cc_registry_register_ptr(r, p, 99, CC_REG_CCOLL, NULL), CC_EXISTS);
  cc_reg_record_t rec;
  cr_expect_eq(cc_registry_get_ptr_record(r, p, &rec), CC_OK);
  cr_expect_eq(rec.bytes, 8, "a refused registration leaves the first record");
  cr_expect_eq(cc_registry_unregister_ptr(NULL, p), CC_EINVAL);
  cr_expect_eq(cc_registry_unregister_ptr(r, NULL), CC_EINVAL);
  cr_expect_eq(cc_registry_get_ptr_record(r, NULL, &rec), CC_EINVAL);
  cr_expect_eq(cc_registry_forget_ptr(r, p), CC_OK);
  cr_expect(!cc_registry_is_registered(r, p));
  free(p); /* forgotten: ours again */
  cr_expect_null(cc_registry_new_array(r, SIZE_MAX / 2, 4), "count * size overflow");
  cr_expect_null(cc_registry_new_array(r, 0, 4));
  cr_expect_eq(cc_registry_num_pointers(r), 0);
  cc_registry_free(r);
}

Test(registry, new_array_is_zeroed_and_registered) {
  cc_registry_t *r = cc_registry_new(2);
  uint32_t *a = cc_registry_new_array(r, 1000, sizeof *a);
  cr_assert_not_null(a);
  for (int i = 0; i < 1000; i++) cr_assert_eq(a[i], 0);
  cc_reg_record_t rec;
  cr_assert_eq(cc_registry_get_ptr_record(r, a, &rec), CC_OK);
  cr_expect_eq(rec.bytes, 4000);
  cr_expect_eq(rec.kind, CC_REG_CCOLL);
  cr_expect_eq(cc_registry_unregister_ptr(r, a), CC_OK);
  cc_registry_free(r);
}

Test(registry, many_pointers_grow_the_shards) {
  cc_registry_t *r = cc_registry_new(3);
  enum { N = 50000 };
  static void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = malloc(16);
    cr_assert_eq(cc_registry_register_ptr(r, p[i], 16, CC_REG_MALLOC, NULL), CC_OK);
  }
  cr_expect_eq(cc_registry_num_pointers(r), N);
  cr_expect_eq(cc_registry_total_bytes(r), 16 * N);
  /* remove every other one: backward-shift deletion must keep the rest findable */
  for (int i = 0; i < N; i += 2) cr_assert_eq(cc_registry_unregister_ptr(r, p[i]), CC_OK);
  for (int i = 0; i < N; i++) cr_assert_eq(cc_registry_is_registered(r, p[i]), i % 2 == 1, "i=%d", i);
  cc_registry_free(r); /* frees the other half */
}

/* ------------------------------------------------------------ shared buffers */

Test(registry, buffer_with_aliases_freed_once) {
  cc_registry_t *r = cc_registry_new(0);
  char *buf = malloc(4096);
  void *aliases[3] = {buf + 1024, buf + 2048, buf + 3072};
  uint64_t id = cc_registry_register_buffer_with_aliases(r, buf, 4096, aliases, 3, CC_REG_CUSTOM, count_delete);
  cr_assert_neq(id, 0);
  cr_expect_eq(cc_registry_num_buffers(r), 1);
  cr_expect_eq(cc_registry_num_pointers(r), 4);
  cr_expect_eq(cc_registry_total_bytes(r), 4096, "a buffer counts once");
  cc_reg_buffer_t b;
  cr_assert_eq(cc_registry_get_buffer(r, id, &b), CC_OK);
  cr_expect_eq(b.refcount, 4);
  cr_expect_eq(b.real, buf);
  cr_expect_eq(b.bytes, 4096);
  cc_reg_record_t rec;
  cr_assert_eq(cc_registry_get_ptr_record(r, aliases[1], &rec), CC_OK);
  cr_expect_eq(rec.buffer_id, id);

  void *order[4] = {aliases[1], buf, aliases[0], aliases[2]}; /* the real pointer is not last */
  for (int i = 0; i < 4; i++) {
    cr_expect_eq(atomic_load(&deleted), 0, "freed early, before reference %d", i);
    cr_assert_eq(cc_registry_unregister_ptr(r, order[i]), CC_OK);
    if (i < 3) {
      cr_assert_eq(cc_registry_get_buffer(r, id, &b), CC_OK);
      cr_expect_eq(b.refcount, 3 - (unsigned)i);
    }
  }
  cr_expect_eq(atomic_load(&deleted), 1);
  cr_expect_eq(last_deleted, buf);
  cr_expect_eq(cc_registry_get_buffer(r, id, &b), CC_NOT_FOUND);
  cr_expect_eq(cc_registry_num_buffers(r), 0);
  cr_expect_eq(cc_registry_total_bytes(r), 0);

  capture_t c;
  capture_begin(&c);
  cr_expect_eq(cc_registry_unregister_ptr(r, aliases[0]), CC_NOT_FOUND, "an alias counts once");
  free(capture_end(&c));
  cr_expect_eq(atomic_load(&deleted), 1, "still freed exactly once");
  cc_registry_free(r);
}

Test(registry, buffer_registration_is_all_or_nothing) {
  cc_registry_t *r = cc_registry_new(0);
  char *buf = malloc(256), *other = malloc(8);
  cr_assert_eq(cc_registry_register_ptr(r, other, 8, CC_REG_MALLOC, NULL), CC_OK);
  void *clash[3] = {buf + 8, other, buf + 16};
  cr_expect_eq(cc_registry_register_buffer_with_aliases(r, buf, 256, clash, 3, CC_REG_MALLOC, NULL), 0);
  cr_expect_eq(cc_registry_num_pointers(r), 1, "rolled back");
  cr_expect(!cc_registry_is_registered(r, buf + 8));
  void *dup[2] = {buf + 8, buf + 8};
  cr_expect_eq(cc_registry_register_buffer_with_aliases(r, buf, 256, dup, 2, CC_REG_MALLOC, NULL), 0);
  void *self[1] = {buf};
  cr_expect_eq(cc_registry_register_buffer_with_aliases(r, buf, 256, self, 1, CC_REG_MALLOC, NULL), 0);
  cr_expect_eq(cc_registry_register_buffer_with_aliases(r, buf, 256, NULL, 1, CC_REG_MALLOC, NULL), 0);
  cr_expect_eq(cc_registry_num_pointers(r), 1);
  cr_expect_eq(cc_registry_num_buffers(r), 0);
  uint64_t id = cc_registry_register_buffer_with_aliases(r, buf, 256, NULL, 0, CC_REG_MALLOC, NULL);
  cr_expect_neq(id, 0, "no aliases: refcount 1");
  cc_registry_free(r); /* frees other and buf */
}

Test(registry, free_releases_what_is_left) {
  cc_registry_t *r = cc_registry_new(0);
  void *a = malloc(10), *b = malloc(10);
  char *buf = malloc(64);
  void *al[2] = {buf + 1, buf + 2};
  cr_assert_eq(cc_registry_register_ptr(r, a, 10, CC_REG_CUSTOM, count_delete), CC_OK);
  cr_assert_eq(cc_registry_register_ptr(r, b, 10, CC_REG_CUSTOM, count_delete), CC_OK);
  cr_assert_neq(cc_registry_register_buffer_with_aliases(r, buf, 64, al, 2, CC_REG_CUSTOM, count_delete), 0);
  cc_registry_free(r);
  cr_expect_eq(atomic_load(&deleted), 3, "two blocks and the buffer, once");
}

/* ------------------------------------------------------------ bad frees */

Test(registry, double_free_and_foreign_pointer_reported_not_freed) {
  cc_registry_t *r = cc_registry_new(0);
  cc_registry_capture_stacks(r, true);
  void *p = malloc(32);
  cr_assert_eq(cc_registry_register_ptr(r, p, 32, CC_REG_CUSTOM, count_delete), CC_OK);
  cc_reg_record_t rec;
  cr_assert_eq(cc_registry_get_ptr_record(r, p, &rec), CC_OK);
  cr_expect_gt(rec.nframes, 0, "stacks on: the registration stack is kept");
  cr_assert_eq(cc_registry_unregister_ptr(r, p), CC_OK);
  int local;
  capture_t c;
  capture_begin(&c);
  int s1 = cc_registry_unregister_ptr(r, p);
  int s2 = cc_registry_unregister_ptr(r, &local);
  char *out = capture_end(&c);
  cr_expect_eq(s1, CC_NOT_FOUND);
  cr_expect_eq(s2, CC_NOT_FOUND);
  cr_expect_eq(atomic_load(&deleted), 1, "the deleter ran for the first unregistration only");
  cr_expect_not_null(strstr(out, "double free"), "%s", out);
  cr_expect_not_null(strstr(out, "first free"), "first-free stack missing:\n%s", out);
  cr_expect_not_null(strstr(out, "allocation (thread"), "allocation stack missing:\n%s", out);
  cr_expect_not_null(strstr(out, "not registered"), "foreign pointer not reported:\n%s", out);
  free(out);
  cc_reg_stats_t st;
  cc_registry_stats(r, &st);
  cr_expect_eq(st.bad_frees, 2);
  cc_registry_free(r);
}

static void tracked_bad_frees(long backend) {
  cr_assert_eq(cc_option_set(CC_OPT_ALLOC, backend), CC_OK);
  cr_assert_eq(cc_option_set(CC_OPT_TRACK, 1), CC_OK);
  cc_registry_capture_stacks(cc_registry_global(), true);
  void *p = cc_alloc(48);
  cr_assert(cc_registry_is_registered(cc_registry_global(), p));
  cc_free(p, 48);
  cr_assert(!cc_registry_is_registered(cc_registry_global(), p));
  int on_stack;
  static char in_data[64];
  capture_t c;
  capture_begin(&c);
  cc_free(p, 48);           /* double free: the allocator would corrupt its lists */
  cc_free(&on_stack, 4);    /* foreign: the allocator would crash */
  cc_free_unsized(in_data + 8);
  char *out = capture_end(&c);
  cr_expect_not_null(strstr(out, "double free"), "%s", out);
  cr_expect_not_null(strstr(out, "first free"), "%s", out);
  cr_expect_not_null(strstr(out, "not registered"), "%s", out);
  free(out);
  cc_reg_stats_t st;
  cc_registry_stats(cc_registry_global(), &st);
  cr_expect_eq(st.bad_frees, 3);
  /* still alive, and the allocator still works */
  void *q = cc_alloc_node(100);
  cr_assert_not_null(q);
  cc_free(q, 100);
  cr_expect_eq(cc_registry_num_pointers(cc_registry_global()), 0);
}

Test(tracking, bad_frees_survived_mimalloc) { tracked_bad_frees(CC_ALLOC_MIMALLOC); }
Test(tracking, bad_frees_survived_libc) { tracked_bad_frees(CC_ALLOC_LIBC); }

Test(tracking, option_is_fixed_by_first_allocation) {
  void *p = cc_alloc(8);
  cr_expect_eq(cc_option_set(CC_OPT_TRACK, 1), CC_EINVAL, "blocks already out are not tracked");
  cr_expect_eq(cc_option_set(CC_OPT_TRACK, 0), CC_OK);
  cc_free(p, 8);
}

static void *alloc_for_other(void *arg) {
  void **slot = arg;
  for (int i = 0; i < 100; i++) slot[i] = cc_alloc_node(24);
  return NULL;
}

Test(tracking, cross_thread_frees_and_exact_sizes) {
  cr_assert_eq(cc_option_set(CC_OPT_TRACK, 1), CC_OK);
  cc_alloc_stats_enable(true);
  void *slot[100];
  pthread_t t;
  pthread_create(&t, NULL, alloc_for_other, slot);
  pthread_join(t, NULL);
  cr_expect_eq(cc_registry_num_pointers(cc_registry_global()), 100);
  cr_expect_eq(cc_registry_total_bytes(cc_registry_global()), 2400);
  for (int i = 0; i < 100; i++) cc_free_unsized(slot[i]);
  cc_reg_stats_t st;
  cc_registry_stats(cc_registry_global(), &st);
  cr_expect_eq(st.cross_thread_frees, 100);
  cr_expect_eq(st.bad_frees, 0);
  /* tracking knows the requested size, so unsized frees count exactly */
  cc_alloc_snapshot_t s = cc_alloc_stats_snapshot();
  cr_expect_eq(s.free_bytes, 2400);
  cr_expect_eq(s.current_allocated, 0);
}

Test(tracking, allocation_failure_leaves_nothing_registered) {
  cr_assert_eq(cc_option_set(CC_OPT_TRACK, 1), CC_OK);
  cc__alloc_fail_every(2);
  int got = 0;
  void *p[10];
  for (int i = 0; i < 10; i++)
    if ((p[i] = cc_alloc(16)) != NULL) got++;
  cc__alloc_fail_every(0);
  cr_expect_eq(got, 5);
  cr_expect_eq(cc_registry_num_pointers(cc_registry_global()), 5);
  for (int i = 0; i < 10; i++) cc_free(p[i], 16);
  cr_expect_eq(cc_registry_num_pointers(cc_registry_global()), 0);
}

/* ------------------------------------------------------------ leak report at exit */

/* Runs body in a child process with CCOLL_TRACK=1 (and stacks when asked);
 * returns the child's stderr. */
static char *child_stderr(void (*body)(void), bool stacks) {
  int fd[2];
  cr_assert_eq(pipe(fd), 0);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 2);
    setenv("CCOLL_TRACK", "1", 1);
    if (stacks) setenv("CCOLL_TRACK_STACKS", "1", 1);
    body();
    exit(0); /* atexit: the leak report */
  }
  close(fd[1]);
  char *buf = calloc(1, 1 << 16);
  size_t n = 0;
  ssize_t k;
  while ((k = read(fd[0], buf + n, (1 << 16) - 1 - n)) > 0) n += (size_t)k;
  close(fd[0]);
  int status;
  waitpid(pid, &status, 0);
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child died: %d", status);
  return buf;
}

static void leak_two(void) {
  void *keep1 = cc_alloc(1000), *keep2 = cc_alloc_node(10), *gone = cc_alloc(5);
  cc_free(gone, 5);
  (void)keep1;
  (void)keep2;
}

static void leak_none(void) { cc_free(cc_alloc(5), 5); }

Test(tracking, leaks_reported_at_exit) {
  char *out = child_stderr(leak_two, false);
  cr_expect_not_null(strstr(out, "3 allocations, 1 frees"), "%s", out);
  cr_expect_not_null(strstr(out, "2 leaked (1010 bytes)"), "%s", out);
  cr_expect_not_null(strstr(out, "1000 bytes (ccoll)"), "%s", out);
  cr_expect_not_null(strstr(out, "10 bytes (ccoll)"), "%s", out);
  free(out);
  out = child_stderr(leak_two, true);
  cr_expect_not_null(strstr(out, "#0 "), "stacks asked for but not printed:\n%s", out);
  free(out);
  out = child_stderr(leak_none, false);
  cr_expect_not_null(strstr(out, "0 leaked (0 bytes)"), "%s", out);
  free(out);
}

/* ------------------------------------------------------------ concurrency */

enum { THREADS = 8, PER = 20000 };
static cc_registry_t *shared;
static void *handoff[THREADS][PER];
static pthread_barrier_t bar;

static void *reg_worker(void *arg) {
  int id = (int)(intptr_t)arg;
  /* phase 1: own pointers, registered and unregistered by this thread */
  for (int i = 0; i < PER; i++) {
    void *p = malloc(8 + (size_t)(i % 64));
    if (cc_registry_register_ptr(shared, p, 8 + (size_t)(i % 64), CC_REG_MALLOC, NULL) != CC_OK) abort();
    if (!cc_registry_is_registered(shared, p)) abort();
    if (i % 3 == 0 && cc_registry_unregister_ptr(shared, p) != CC_OK) abort();
    handoff[id][i] = i % 3 == 0 ? NULL : p;
  }
  pthread_barrier_wait(&bar);
  /* phase 2: free the neighbour's pointers (cross-thread) */
  int peer = (id + 1) % THREADS;
  for (int i = 0; i < PER; i++)
    if (handoff[peer][i] && cc_registry_unregister_ptr(shared, handoff[peer][i]) != CC_OK) abort();
  return NULL;
}

Test(registry, eight_threads_register_and_unregister) {
  shared = cc_registry_new(0);
  pthread_barrier_init(&bar, NULL, THREADS);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, reg_worker, (void *)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  cc_reg_stats_t st;
  cc_registry_stats(shared, &st);
  int cross = PER - (PER + 2) / 3; /* per thread: the ones not freed in phase 1 */
  cr_expect_eq(st.registered, (uint64_t)THREADS * PER);
  cr_expect_eq(st.unregistered, (uint64_t)THREADS * PER);
  cr_expect_eq(st.cross_thread_frees, (uint64_t)THREADS * cross);
  cr_expect_eq(st.bad_frees, 0);
  cr_expect_eq(cc_registry_num_pointers(shared), 0);
  cr_expect_eq(cc_registry_total_bytes(shared), 0);
  cc_registry_free(shared);
  pthread_barrier_destroy(&bar);
}
