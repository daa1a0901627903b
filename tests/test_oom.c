/* Out of memory in the reclamation bookkeeping (limbo blocks, retire_fn
 * records, a leaving thread's hand-off, DEBRA+'s slot snapshot): container
 * calls report CC_ENOMEM with nothing changed, or wait (pop_first), or
 * defer reclamation; the user's retire calls wait for the readers and
 * free at once. Nothing aborts and no value is lost.
 *
 * cc__alloc_internal_fail_next makes this thread's bookkeeping
 * allocations fail, as a real out-of-memory would (fault injection leaves
 * them alone). Before the reservation (smr_types.h, cc__smr_reserve) and
 * the synchronous fallback (domain.c) each of these tests aborted the
 * process. */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "alloc/alloc_internal.h"
#include "ccoll.h"
#include "smr/smr_private.h"

static const cc_smr_kind_t schemes[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
static const cc_map_kind_t kinds[] = {CC_MAP_SKIPLIST, CC_MAP_BST};

static int freed_vals; /* sequential: the tests join before reading it */
static void count_free(void *v, void *ctx) {
  (void)v, (void)ctx;
  freed_vals++;
}

static cc_smr_t *domain(cc_smr_kind_t sk) {
  cc_smr_config_t sc = {.kind = sk};
  cc_smr_t *d = cc_smr_new(&sc);
  cr_assert_not_null(d);
  return d;
}

static cc_map_t *map_with(cc_map_kind_t kind, cc_smr_t *d, bool owned, uint64_t keys) {
  cc_map_config_t mc = {.kind = kind, .smr = d, .val_free = owned ? count_free : NULL};
  cc_map_t *m = cc_map_new(&mc);
  cr_assert_not_null(m);
  for (uint64_t k = 0; k < keys; k++) cr_assert_eq(cc_map_insert(m, k, (void *)(uintptr_t)(k + 100)), CC_OK);
  return m;
}

/* This thread's reservation spent: the next update must allocate for it. */
static void spend_reserve(cc_smr_t *d) {
  cc__smr_thr_t *t = cc__smr_thr(d);
  cr_assert_not_null(t);
  cc__smr_pool_drop(t);
  cc__smr_recs_drop(t);
}

static void expect_value(cc_map_t *m, uint64_t k, uintptr_t want, const char *what) {
  void *v = NULL;
  cr_expect_eq(cc_map_get(m, k, &v), CC_OK, "%s: key %llu lost", what, (unsigned long long)k);
  cr_expect_eq((uintptr_t)v, want, "%s: key %llu holds %p", what, (unsigned long long)k, v);
}

/* Every update on a spent reservation with no memory: CC_ENOMEM, the map as
 * it was (NONE without val_free needs no reservation: the calls succeed). */
static void updates_report_enomem(cc_map_kind_t kind, cc_smr_kind_t sk, bool owned) {
  cc_smr_t *d = domain(sk);
  cc_map_t *m = map_with(kind, d, owned, 16);
  const bool need = sk != CC_SMR_NONE || owned;
  const int want = need ? CC_ENOMEM : CC_OK;
  spend_reserve(d);
  cc__alloc_internal_fail_next(UINT_MAX);
  void *old = NULL;
  uint64_t found = 0;
  int rm = cc_map_remove(m, 5, NULL);
  int rp = cc_map_replace(m, 6, (void *)106, (void *)999);
  int pt = cc_map_put(m, 7, (void *)777, &old);
  int in = cc_map_insert(m, 100, (void *)1);
  int fl = cc_map_floor(m, 9, &found, NULL);
  cc__alloc_internal_fail_next(0);
  const char *what = kind == CC_MAP_BST ? "bst" : "skiplist";
  cr_expect_eq(rm, want, "%s/%d: remove %d", what, sk, rm);
  cr_expect_eq(rp, want, "%s/%d: replace %d", what, sk, rp);
  cr_expect_eq(pt, need ? CC_ENOMEM : CC_EXISTS, "%s/%d: put %d", what, sk, pt);
  cr_expect_eq(in, want, "%s/%d: insert %d", what, sk, in);
  /* the skip list's navigation never retires; the BST's may help a removal */
  cr_expect_eq(fl, kind == CC_MAP_BST ? want : CC_OK, "%s/%d: floor %d", what, sk, fl);
  if (need) {
    expect_value(m, 5, 105, what);
    expect_value(m, 6, 106, what);
    expect_value(m, 7, 107, what);
    cr_expect_eq(cc_map_get(m, 100, &old), CC_NOT_FOUND, "%s/%d: refused insert visible", what, sk);
    cr_expect_eq(cc_map_size(m), 16);
    cr_expect_eq(freed_vals, 0, "%s/%d: a refused update freed a value", what, sk);
  }
  /* memory again: the same calls go through */
  cr_expect_eq(cc_map_remove(m, 5, NULL), need ? CC_OK : CC_NOT_FOUND);
  cr_expect_eq(cc_map_replace(m, 6, (void *)106, (void *)999), need ? CC_OK : CC_CHANGED);
  cc_map_free(m);
  cc_smr_free(d);
}

Test(oom, updates_report_enomem_with_the_map_unchanged) {
  for (size_t k = 0; k < 2; k++)
    for (size_t s = 0; s < 4; s++)
      for (int owned = 0; owned < 2; owned++) {
        freed_vals = 0;
        updates_report_enomem(kinds[k], schemes[s], owned);
      }
}

/* A reservation made while memory lasted carries an update through an
 * out-of-memory that starts after it: no retirement allocates, so none
 * aborts; the updates that find it spent (until reclamation gives records
 * and blocks back) refuse. Every value is freed once in the end. */
static void reserve_carries_updates(cc_map_kind_t kind, cc_smr_kind_t sk) {
  cc_smr_t *d = domain(sk);
  cc_map_t *m = map_with(kind, d, true, 512);
  cr_assert_eq(cc_map_remove(m, 0, NULL), CC_OK);
  cr_assert(cc__smr_reserve(cc__smr_thr(d), true, true)); /* what the next update finds */
  cc__alloc_internal_fail_next(UINT_MAX);
  int ok = 0, refused = 0;
  for (uint64_t k = 1; k < 512; k++) {
    int rc = cc_map_remove(m, k, NULL);
    cr_assert(rc == CC_OK || rc == CC_ENOMEM, "remove %llu: %d", (unsigned long long)k, rc);
    if (rc == CC_OK) ok++;
    else refused++;
    void *v;
    cr_assert_eq(cc_map_get(m, k, &v), rc == CC_OK ? CC_NOT_FOUND : CC_OK);
  }
  cc__alloc_internal_fail_next(0);
  cr_expect_geq(ok, 1, "the reservation served no remove");
  cr_expect_geq(refused, 1, "no remove found the reservation spent");
  cr_expect_eq(cc_map_size(m), (size_t)refused);
  cc_map_free(m);
  cc_smr_free(d);
  cr_expect_eq(freed_vals, 512, "values freed %d of 512", freed_vals);
}

Test(oom, a_reservation_carries_updates_through) {
  for (size_t k = 0; k < 2; k++)
    for (size_t s = 0; s < 4; s++) {
      freed_vals = 0;
      reserve_carries_updates(kinds[k], schemes[s]);
    }
}

/* pop_first reports only CC_OK or CC_EMPTY: it waits for memory. */
Test(oom, pop_first_waits_for_memory) {
  for (size_t k = 0; k < 2; k++)
    for (size_t s = 1; s < 4; s++) {
      cc_smr_t *d = domain(schemes[s]);
      cc_map_t *m = map_with(kinds[k], d, true, 8);
      spend_reserve(d);
      cc__alloc_internal_fail_next(3); /* the first three refills fail */
      uint64_t key = 99;
      void *v = NULL;
      int rc = cc_map_pop_first(m, &key, &v);
      cc__alloc_internal_fail_next(0);
      cr_expect_eq(rc, CC_OK, "kind %d smr %d: pop_first %d", kinds[k], schemes[s], rc);
      cr_expect_eq(key, 0);
      cr_expect_eq((uintptr_t)v, 100);
      cr_expect_eq(cc_map_size(m), 7);
      cc_map_free(m);
      cc_smr_free(d);
    }
}

Test(oom, dequeue_reports_enomem_with_the_queue_unchanged) {
  const cc_queue_kind_t qk[] = {CC_QUEUE_MS, CC_QUEUE_SEGMENT};
  for (size_t k = 0; k < 2; k++)
    for (size_t s = 0; s < 4; s++) {
      cc_smr_t *d = domain(schemes[s]);
      cc_queue_config_t qc = {.kind = qk[k], .smr = d};
      cc_queue_t *q = cc_queue_new(&qc);
      cr_assert_not_null(q);
      enum { N = 2000 };
      for (uintptr_t i = 0; i < N; i++) cr_assert_eq(cc_queue_enqueue(q, (void *)i), CC_OK);
      spend_reserve(d);
      cc__alloc_internal_fail_next(UINT_MAX);
      void *v = NULL;
      int first = cc_queue_dequeue(q, &v);
      cr_expect_eq(first, schemes[s] == CC_SMR_NONE ? CC_OK : CC_ENOMEM, "kind %d smr %d: %d", qk[k],
                   schemes[s], first);
      uintptr_t next = first == CC_OK ? 1 : 0;
      if (first == CC_OK) cr_expect_eq((uintptr_t)v, 0);
      cr_expect_eq(cc_queue_size(q), N - next);
      cc__alloc_internal_fail_next(0);
      /* reserved again, then out of memory for the rest: FIFO throughout */
      cr_assert_eq(cc_queue_dequeue(q, &v), CC_OK);
      cr_expect_eq((uintptr_t)v, next++);
      cc__alloc_internal_fail_next(UINT_MAX);
      int rc;
      while ((rc = cc_queue_dequeue(q, &v)) == CC_OK) cr_assert_eq((uintptr_t)v, next++);
      cc__alloc_internal_fail_next(0);
      cr_expect(rc == CC_ENOMEM || (rc == CC_EMPTY && next == N), "dequeue %d after %zu", rc,
                (size_t)next);
      cr_expect_eq(cc_queue_size(q), N - next);
      while (cc_queue_dequeue(q, &v) == CC_OK) cr_assert_eq((uintptr_t)v, next++);
      cr_expect_eq(next, N);
      cc_queue_free(q);
      cc_smr_free(d);
    }
}

/* A thread leaves with garbage and no memory: the hand-off record was
 * allocated when it registered. */
typedef struct {
  cc_map_t *m;
  uint64_t lo, hi;
} leaver_t;

static void *leave_without_memory(void *p) {
  leaver_t *a = p;
  for (uint64_t k = a->lo; k < a->hi; k++) cc_map_remove(a->m, k, NULL);
  cc__alloc_internal_fail_next(UINT_MAX); /* this thread only; its exit frees the rest */
  return NULL;
}

Test(oom, a_thread_leaves_without_memory) {
  for (size_t s = 0; s < 4; s++) {
    freed_vals = 0;
    cc_smr_t *d = domain(schemes[s]);
    cc_map_t *m = map_with(CC_MAP_SKIPLIST, d, true, 256);
    leaver_t a = {m, 0, 200};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, leave_without_memory, &a), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_expect_eq(cc_map_size(m), 56);
    cc_map_free(m);
    cc_smr_free(d);
    cr_expect_eq(freed_vals, 256, "smr %d: values freed %d of 256", schemes[s], freed_vals);
  }
}

/* DEBRA+ checks safe blocks against the threads' slots before freeing
 * them; without memory for that snapshot it keeps them for a later epoch
 * instead of aborting. The current bag holds the last removes' garbage
 * when the memory goes; only gets run then (no reservation needed), and
 * enough of them for that bag to become safe (DEBRA tries an advance
 * every 65,536 operations when it retires nothing). */
Test(oom, debra_plus_defers_without_a_slot_snapshot) {
  freed_vals = 0;
  cc_smr_t *d = domain(CC_SMR_DEBRA_PLUS);
  cc_map_t *m = map_with(CC_MAP_SKIPLIST, d, true, 2048);
  for (uint64_t k = 0; k < 2048; k += 2) cr_assert_eq(cc_map_remove(m, k, NULL), CC_OK);
  cc__smr_thr_t *t = cc__smr_thr(d);
  cc__smr_scratch_free(t);
  cc_smr_stats_t s0, s1, s2;
  cc_smr_stats(d, &s0);
  cc__alloc_internal_fail_next(UINT_MAX);
  void *v;
  for (uint64_t i = 0; i < 400000; i++) (void)cc_map_get(m, i % 2048, &v);
  cc__alloc_internal_fail_next(0);
  cc_smr_stats(d, &s1);
  cr_expect_geq(s1.epoch, s0.epoch + 3, "epochs %llu -> %llu", (unsigned long long)s0.epoch,
                (unsigned long long)s1.epoch);
  cr_expect_eq(t->scratch_cap, 0, "the snapshot found memory");
  cc_smr_drain(d); /* memory again: what was kept is freed now */
  cc_smr_stats(d, &s2);
  cr_expect_gt(t->scratch_cap, 0, "no snapshot once memory was back");
  cr_expect_lt(s2.pending, s1.pending, "pending %llu -> %llu", (unsigned long long)s1.pending,
               (unsigned long long)s2.pending);
  cc_map_free(m);
  cc_smr_free(d);
  cr_expect_eq(freed_vals, 2048);
}

/* cc_smr_retire and cc_smr_retire_fn cannot report a failure: without
 * memory for their bookkeeping, outside any section, they wait for the
 * readers and free at once. A reader's section holds them back. */
typedef struct {
  cc_smr_t *d;
  _Atomic int stage; /* 1: the reader is inside its section; 2: leave */
  _Atomic int ran;
} sync_t;

static void mark_ran(void *p, void *ctx) {
  (void)ctx;
  ((sync_t *)p)->ran++;
}

static void *reader(void *p) {
  sync_t *s = p;
  cc_smr_enter(s->d);
  s->stage = 1;
  while (s->stage != 2) sched_yield();
  cc_smr_leave(s->d);
  return NULL;
}

static void *retire_without_memory(void *p) {
  sync_t *s = p;
  cc_smr_t *d = s->d;
  void *block = cc_smr_alloc(d, 48); /* registers, with memory */
  cr_assert_not_null(block);
  spend_reserve(d);
  cc__alloc_internal_fail_next(UINT_MAX);
  cc_smr_retire(d, block); /* freed at once (ASan would see a leak otherwise) */
  cc_smr_retire_fn(d, s, mark_ran, NULL);
  cc__alloc_internal_fail_next(0);
  return NULL;
}

Test(oom, user_retirements_wait_for_readers_without_memory) {
  for (size_t i = 1; i < 4; i++) {
    sync_t s = {.d = domain(schemes[i])};
    pthread_t rd, rt;
    cr_assert_eq(pthread_create(&rd, NULL, reader, &s), 0);
    while (s.stage != 1) sched_yield();
    cr_assert_eq(pthread_create(&rt, NULL, retire_without_memory, &s), 0);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cr_expect_eq(s.ran, 0, "smr %d: retire_fn ran while a section was open", schemes[i]);
    s.stage = 2;
    cr_assert_eq(pthread_join(rt, NULL), 0);
    cr_expect_eq(s.ran, 1, "smr %d: retire_fn ran %d times", schemes[i], s.ran);
    cr_assert_eq(pthread_join(rd, NULL), 0);
    cc_smr_stats_t st;
    cc_smr_stats(s.d, &st);
    cr_expect_eq(st.retired, 2);
    cr_expect_eq(st.freed, 2);
    cc_smr_free(s.d);
    cr_expect_eq(s.ran, 1, "smr %d: ran again at cc_smr_free", schemes[i]);
  }
}
