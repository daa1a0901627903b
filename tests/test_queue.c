/* The queue: FIFO against a model for every kind x scheme, any value (NULL
 * and the queue's own state constants included), exact size, P producers and
 * C consumers with tagged values, empty polling keeps memory flat,
 * allocation failure leaves the queue unchanged and leak-free, bad
 * arguments. Criterion runs each test in a fresh process. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "alloc/alloc_internal.h"
#include "containers/queue_internal.h"
#include "ccoll/alloc.h"
#include "ccoll/queue.h"
#include "ccoll/smr.h"
#include "ccoll/status.h"

/* Not a public kind: the segment queue built with segments of
 * CC__SEGQ_TINY_CELLS cells (cc__queue_new_tiny_segments), so that every
 * test also crosses hundreds of segment boundaries. */
#define KIND_TINY ((cc_queue_kind_t)0x7e)

static const cc_queue_kind_t kinds[] = {CC_QUEUE_SEGMENT, CC_QUEUE_MS, KIND_TINY};
static const cc_smr_kind_t schemes[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
#define NKINDS 3
#define NSCHEMES 4

static const char *kind_name(cc_queue_kind_t k) {
  return k == CC_QUEUE_MS ? "ms" : k == KIND_TINY ? "segment-tiny" : "segment";
}

static cc_queue_t *new_queue(cc_queue_kind_t kind, cc_smr_t *d) {
  if (kind == KIND_TINY) return cc__queue_new_tiny_segments(&(cc_queue_config_t){.smr = d});
  return cc_queue_new(&(cc_queue_config_t){.kind = kind, .smr = d});
}

/* Cells per segment (0 for MS). */
static uint64_t seg_cells(cc_queue_kind_t kind) {
  return kind == CC_QUEUE_MS ? 0 : kind == KIND_TINY ? CC__SEGQ_TINY_CELLS : 1024;
}

typedef struct {
  cc_smr_t *d;
  cc_queue_t *q;
} fixture_t;

static fixture_t make(cc_queue_kind_t kind, cc_smr_kind_t scheme) {
  fixture_t f;
  f.d = cc_smr_new(&(cc_smr_config_t){.kind = scheme});
  cr_assert_not_null(f.d);
  cr_assert_eq(cc_smr_kind(f.d), scheme);
  f.q = new_queue(kind, f.d);
  cr_assert_not_null(f.q, "cc_queue_new(%s, %s)", kind_name(kind), cc_smr_kind_name(scheme));
  return f;
}

static void unmake(fixture_t *f) {
  cc_queue_free(f->q);
  cc_smr_free(f->d);
}

/* A ring-buffer model of the queue. */
typedef struct {
  void **v;
  size_t cap, head, n;
} model_t;

static void model_push(model_t *m, void *x) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    void **v = malloc(cap * sizeof *v);
    cr_assert_not_null(v);
    for (size_t i = 0; i < m->n; i++) v[i] = m->v[(m->head + i) % m->cap];
    free(m->v);
    m->v = v, m->cap = cap, m->head = 0;
  }
  m->v[(m->head + m->n++) % m->cap] = x;
}

static void *model_pop(model_t *m) {
  void *x = m->v[m->head];
  m->head = (m->head + 1) % m->cap, m->n--;
  return x;
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}

/* Values a queue might be tempted to use internally. */
static void *interesting_value(uint64_t r) {
  static void *const special[] = {NULL, (void *)1, (void *)2, (void *)3, (void *)UINTPTR_MAX,
                                  (void *)(UINTPTR_MAX - 1), (void *)64};
  if (r % 4 == 0) return special[(r >> 8) % (sizeof special / sizeof special[0])];
  return (void *)(uintptr_t)(r >> 3);
}

/* Random enqueues/dequeues in phases that grow the queue over several
 * segments, then shrink it to empty; every result and size is checked. */
static void fifo_against_model(cc_queue_kind_t kind, cc_smr_kind_t scheme, bool inject) {
  cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
  fixture_t f = make(kind, scheme);
  model_t m = {0};
  uint64_t rng = 0x9e3779b97f4a7c15u ^ (uint64_t)kind ^ ((uint64_t)scheme << 8);
  size_t enomem = 0;
  if (inject) cc__alloc_fail_every(7);
  for (int phase = 0; phase < 6; phase++) {
    unsigned grow = phase % 2 == 0 ? 70 : 30; /* percent enqueues */
    for (int i = 0; i < 3000; i++) {
      uint64_t r = rng_next(&rng);
      if (r % 100 < grow) {
        void *x = interesting_value(rng_next(&rng));
        int st = cc_queue_enqueue(f.q, x);
        if (st == CC_ENOMEM && inject) {
          enomem++;
        } else {
          cr_assert_eq(st, CC_OK, "%s/%s enqueue: %d", kind_name(kind), cc_smr_kind_name(scheme), st);
          model_push(&m, x);
        }
      } else {
        void *got = (void *)0xdead;
        int st = cc_queue_dequeue(f.q, &got);
        if (m.n == 0) {
          cr_assert_eq(st, CC_EMPTY, "%s/%s: dequeue on empty gave %d", kind_name(kind),
                       cc_smr_kind_name(scheme), st);
          cr_assert_eq(got, (void *)0xdead, "an empty dequeue wrote *val");
        } else {
          cr_assert_eq(st, CC_OK);
          void *want = model_pop(&m);
          cr_assert_eq(got, want, "%s/%s: got %p want %p", kind_name(kind), cc_smr_kind_name(scheme), got,
                       want);
        }
      }
      cr_assert_eq(cc_queue_size(f.q), m.n, "%s/%s: size %zu model %zu", kind_name(kind),
                   cc_smr_kind_name(scheme), cc_queue_size(f.q), m.n);
    }
  }
  cc__alloc_fail_every(0);
  if (inject) cr_assert_gt(enomem, 0, "fault injection never hit an enqueue");
  while (m.n) {
    void *got;
    cr_assert_eq(cc_queue_dequeue(f.q, &got), CC_OK);
    cr_assert_eq(got, model_pop(&m));
  }
  void *got;
  cr_assert_eq(cc_queue_dequeue(f.q, &got), CC_EMPTY);
  cr_assert_eq(cc_queue_size(f.q), 0);
  free(m.v);
  unmake(&f);
  cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
  cr_assert_eq(after.current_allocated, before.current_allocated, "%s/%s leaked %lld bytes",
               kind_name(kind), cc_smr_kind_name(scheme),
               (long long)(after.current_allocated - before.current_allocated));
}

Test(queue, fifo_model_every_kind_and_scheme) {
  cc_alloc_stats_enable(true);
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) fifo_against_model(kinds[k], schemes[s], false);
}

Test(queue, allocation_failure_leaves_queue_consistent) {
  cc_alloc_stats_enable(true);
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) fifo_against_model(kinds[k], schemes[s], true);
}

/* With every allocation failing, a full segment (or any MS enqueue) gives
 * CC_ENOMEM and leaves contents and size as they were. */
Test(queue, enomem_when_no_segment_can_be_allocated) {
  cc_alloc_stats_enable(true);
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) {
      cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
      fixture_t f = make(kinds[k], schemes[s]);
      cc__alloc_fail_every(1);
      size_t n = 0;
      int st;
      while ((st = cc_queue_enqueue(f.q, (void *)(uintptr_t)n)) == CC_OK) n++;
      cr_assert_eq(st, CC_ENOMEM);
      cr_assert_eq(cc_queue_enqueue(f.q, NULL), CC_ENOMEM, "ENOMEM must repeat, not corrupt");
      cr_assert_eq(cc_queue_size(f.q), n);
      cr_assert_eq(n, seg_cells(kinds[k]), "%s: the first segment is usable without allocating",
                   kind_name(kinds[k]));
      cc__alloc_fail_every(0);
      cr_assert_eq(cc_queue_enqueue(f.q, (void *)(uintptr_t)n), CC_OK);
      for (size_t i = 0; i <= n; i++) {
        void *v;
        cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_OK);
        cr_assert_eq(v, (void *)(uintptr_t)i);
      }
      void *v;
      cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_EMPTY);
      unmake(&f);
      cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
      cr_assert_eq(after.current_allocated, before.current_allocated);
    }
}

Test(queue, new_fails_cleanly_under_fault_injection) {
  cc_alloc_stats_enable(true);
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = CC_SMR_IBR});
  cr_assert_not_null(d);
  cc_queue_free(cc_queue_new(&(cc_queue_config_t){.smr = d})); /* this thread's record */
  for (int k = 0; k < NKINDS; k++)
    for (uint64_t every = 1; every <= 2; every++) {
      cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
      cc__alloc_fail_every(every);
      cc_queue_t *q = new_queue(kinds[k], d);
      cc__alloc_fail_every(0);
      if (q) cc_queue_free(q);
      cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
      cr_assert_eq(after.current_allocated, before.current_allocated);
    }
  cc_smr_free(d);
}

Test(queue, null_and_reserved_values_round_trip) {
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) {
      fixture_t f = make(kinds[k], schemes[s]);
      void *vals[] = {NULL, NULL, (void *)1, (void *)2, (void *)UINTPTR_MAX, NULL};
      for (size_t i = 0; i < 6; i++) cr_assert_eq(cc_queue_enqueue(f.q, vals[i]), CC_OK);
      cr_assert_eq(cc_queue_size(f.q), 6);
      for (size_t i = 0; i < 6; i++) {
        void *v = (void *)0x1234;
        cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_OK);
        cr_assert_eq(v, vals[i]);
      }
      void *v;
      cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_EMPTY);
      unmake(&f);
    }
}

Test(queue, bad_arguments) {
  void *v = (void *)0x77;
  cr_assert_eq(cc_queue_enqueue(NULL, NULL), CC_EINVAL);
  cr_assert_eq(cc_queue_dequeue(NULL, &v), CC_EINVAL);
  cr_assert_eq(v, (void *)0x77);
  cr_assert_eq(cc_queue_size(NULL), 0);
  cc_queue_free(NULL);
  cr_assert_null(cc_queue_new(&(cc_queue_config_t){.kind = (cc_queue_kind_t)42}));
  cr_assert_null(cc_queue_new(&(cc_queue_config_t){.kind = (cc_queue_kind_t)-1}));
  cc_queue_t *q = cc_queue_new(NULL);
  cr_assert_not_null(q);
  cr_assert_eq(cc_queue_dequeue(q, NULL), CC_EINVAL);
  cr_assert_eq(cc_queue_enqueue(q, (void *)5), CC_OK);
  cr_assert_eq(cc_queue_dequeue(q, NULL), CC_EINVAL);
  cr_assert_eq(cc_queue_size(q), 1, "a rejected dequeue must not consume");
  cr_assert_eq(cc_queue_dequeue(q, &v), CC_OK);
  cr_assert_eq(v, (void *)5);
  cc_queue_free(q);
}

Test(queue, default_config_uses_default_domain) {
  cc_queue_t *q = cc_queue_new(&(cc_queue_config_t){0});
  cr_assert_not_null(q);
  for (uintptr_t i = 0; i < 5000; i++) cr_assert_eq(cc_queue_enqueue(q, (void *)i), CC_OK);
  cr_assert_eq(cc_queue_size(q), 5000);
  for (uintptr_t i = 0; i < 5000; i++) {
    void *v;
    cr_assert_eq(cc_queue_dequeue(q, &v), CC_OK);
    cr_assert_eq(v, (void *)i);
  }
  cc_queue_free(q);
}

Test(queue, free_with_values_inside_frees_everything) {
  cc_alloc_stats_enable(true);
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) {
      cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
      fixture_t f = make(kinds[k], schemes[s]);
      for (uintptr_t i = 0; i < 5000; i++) cr_assert_eq(cc_queue_enqueue(f.q, (void *)i), CC_OK);
      for (uintptr_t i = 0; i < 2500; i++) {
        void *v;
        cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_OK);
      }
      unmake(&f);
      cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
      cr_assert_eq(after.current_allocated, before.current_allocated, "%s/%s leaked",
                   kind_name(kinds[k]), cc_smr_kind_name(schemes[s]));
    }
}

/* ---------------------------------------------------------------- threads */

#define TAG_SHIFT 40

typedef struct {
  cc_queue_t *q;
  int producers;
  uint64_t per;
  _Atomic uint64_t taken;
  _Atomic uint8_t *seen;
  _Atomic int bad;
  _Atomic int go;
} mpmc_t;

typedef struct {
  mpmc_t *r;
  int id;
} mpmc_arg_t;

static void *mpmc_producer(void *a) {
  mpmc_arg_t *g = a;
  while (!atomic_load(&g->r->go)) {
  }
  for (uint64_t s = 0; s < g->r->per; s++)
    if (cc_queue_enqueue(g->r->q, (void *)(uintptr_t)(((uint64_t)g->id << TAG_SHIFT) | s)) != CC_OK)
      atomic_fetch_add(&g->r->bad, 1);
  return NULL;
}

static void *mpmc_consumer(void *a) {
  mpmc_arg_t *g = a;
  mpmc_t *r = g->r;
  uint64_t last[8] = {0}, total = (uint64_t)r->producers * r->per;
  while (!atomic_load(&r->go)) {
  }
  while (atomic_load_explicit(&r->taken, memory_order_relaxed) < total) {
    void *v;
    if (cc_queue_dequeue(r->q, &v) != CC_OK) continue;
    uint64_t x = (uint64_t)(uintptr_t)v, p = x >> TAG_SHIFT, s = x & ((UINT64_C(1) << TAG_SHIFT) - 1);
    if (p >= (uint64_t)r->producers || s >= r->per || s + 1 <= last[p] ||
        atomic_exchange(&r->seen[p * r->per + s], 1))
      atomic_fetch_add(&r->bad, 1);
    else
      last[p] = s + 1;
    atomic_fetch_add_explicit(&r->taken, 1, memory_order_relaxed);
  }
  return NULL;
}

Test(queue, mpmc_tagged_values_every_kind_and_scheme) {
  enum { P = 3, C = 3, PER = 20000 };
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) {
      fixture_t f = make(kinds[k], schemes[s]);
      mpmc_t r = {.q = f.q, .producers = P, .per = PER};
      r.seen = calloc(P * PER, 1);
      cr_assert_not_null(r.seen);
      pthread_t th[P + C];
      mpmc_arg_t args[P + C];
      for (int i = 0; i < P + C; i++) {
        args[i] = (mpmc_arg_t){&r, i < P ? i : i - P};
        pthread_create(&th[i], NULL, i < P ? mpmc_producer : mpmc_consumer, &args[i]);
      }
      atomic_store(&r.go, 1);
      for (int i = 0; i < P + C; i++) pthread_join(th[i], NULL);
      cr_assert_eq(atomic_load(&r.bad), 0, "%s/%s: lost order, duplicate or foreign value",
                   kind_name(kinds[k]), cc_smr_kind_name(schemes[s]));
      for (size_t i = 0; i < (size_t)P * PER; i++)
        cr_assert(atomic_load(&r.seen[i]), "%s/%s: value %zu lost", kind_name(kinds[k]),
                  cc_smr_kind_name(schemes[s]), i);
      cr_assert_eq(cc_queue_size(f.q), 0);
      free(r.seen);
      unmake(&f);
    }
}

/* Empty polling: 4 threads poll a queue 10M times in all, first empty, then
 * while a fifth thread trickles values in. Without the emptiness check
 * before the FAA every poll would burn a cell, and each trickled value
 * would then need a fresh segment; with it, memory stays flat when the
 * queue is empty and grows only with what is really enqueued (a racing
 * poller burns at most one cell per value). */
typedef struct {
  cc_queue_t *q;
  long polls;
  pthread_barrier_t *start, *stop;
  _Atomic long got;
  _Atomic int pollers_done;
} poll_t;

static void *poller(void *a) {
  poll_t *p = a;
  void *v;
  (void)cc_queue_dequeue(p->q, &v); /* registers this thread before the snapshot */
  pthread_barrier_wait(p->start);
  pthread_barrier_wait(p->start);
  for (long i = 0; i < p->polls; i++)
    if (cc_queue_dequeue(p->q, &v) == CC_OK) atomic_fetch_add(&p->got, 1);
  pthread_barrier_wait(p->stop);
  pthread_barrier_wait(p->stop); /* stay registered until the snapshot */
  return NULL;
}

typedef struct {
  poll_t *p;
  long items;
} trickle_t;

static void *trickler(void *a) {
  trickle_t *tr = a;
  while (atomic_load(&tr->p->pollers_done) == 0) {
    if (cc_queue_enqueue(tr->p->q, (void *)(uintptr_t)tr->items) == CC_OK) tr->items++;
    for (volatile int i = 0; i < 2000; i++) {
    }
  }
  return NULL;
}

static void poll_round(cc_queue_kind_t kind, cc_smr_kind_t scheme, bool trickle) {
  enum { T = 4 };
  fixture_t f = make(kind, scheme);
  /* leave the head segment part-used, as in real life */
  for (uintptr_t i = 0; i < 1500; i++) cc_queue_enqueue(f.q, (void *)i);
  for (uintptr_t i = 0; i < 1500; i++) {
    void *v;
    cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_OK);
  }
  pthread_barrier_t start, stop;
  pthread_barrier_init(&start, NULL, T + 1);
  pthread_barrier_init(&stop, NULL, T + 1);
  poll_t p = {.q = f.q, .polls = 10000000 / T, .start = &start, .stop = &stop};
  trickle_t tr = {.p = &p};
  pthread_t th[T], tt;
  for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, poller, &p);
  pthread_barrier_wait(&start);
  void *v;
  (void)cc_queue_dequeue(f.q, &v); /* registers the trickler's parent too */
  cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
  if (trickle) pthread_create(&tt, NULL, trickler, &tr);
  pthread_barrier_wait(&start);
  pthread_barrier_wait(&stop);
  atomic_store(&p.pollers_done, 1);
  if (trickle) pthread_join(tt, NULL);
  cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
  pthread_barrier_wait(&stop);
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  long left = 0;
  while (cc_queue_dequeue(f.q, &v) == CC_OK) left++;
  cr_assert_eq(atomic_load(&p.got) + left, tr.items, "values lost or invented");
  uint64_t allocs = after.alloc_count - before.alloc_count;
  /* MS: one node per value; both: reclamation bookkeeping (the trickler's
   * thread record, limbo blocks of a few dozen retires each) */
  uint64_t bound = kind == CC_QUEUE_MS ? (uint64_t)tr.items + (uint64_t)tr.items / 16 + 16
                                       : (uint64_t)tr.items * T / seg_cells(kind) + 16;
  cr_assert_leq(allocs, bound, "%s/%s: %llu allocations for %ld values while polling (bound %llu)",
                kind_name(kind), cc_smr_kind_name(scheme), (unsigned long long)allocs, tr.items,
                (unsigned long long)bound);
  if (!trickle) cr_assert_eq(after.current_allocated, before.current_allocated);
  cr_assert_eq(cc_queue_enqueue(f.q, (void *)9), CC_OK);
  cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_OK);
  cr_assert_eq(v, (void *)9);
  pthread_barrier_destroy(&start);
  pthread_barrier_destroy(&stop);
  unmake(&f);
}

Test(queue, empty_polling_keeps_memory_flat) {
  cc_alloc_stats_enable(true);
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) poll_round(kinds[k], schemes[s], false);
}

Test(queue, polling_with_trickle_allocates_only_for_values) {
  cc_alloc_stats_enable(true);
  for (int k = 0; k < NKINDS; k++)
    for (int s = 0; s < NSCHEMES; s++) poll_round(kinds[k], schemes[s], true);
}

/* A dequeue right after this thread's enqueue skips the emptiness check
 * and FAAs at once. When another thread took the value first, that FAA
 * burns one cell; the dequeues after it must check again. Each round: the
 * main thread enqueues, a helper takes the value, the main thread polls
 * the empty queue. At most two cells a round (the value, one burnt cell);
 * an unchecked FAA on every poll would burn all of them. */
typedef struct {
  cc_queue_t *q;
  _Atomic long want, done; /* values asked for, values taken */
  _Atomic int stop, bad;
} taker_t;

static void *taker(void *a) {
  taker_t *tk = a;
  void *v;
  (void)cc_queue_dequeue(tk->q, &v); /* registers this thread before the snapshot */
  atomic_store(&tk->done, 0);
  for (long n = 1;; n++) {
    while (atomic_load(&tk->want) < n)
      if (atomic_load(&tk->stop)) return NULL;
    while (cc_queue_dequeue(tk->q, &v) != CC_OK) {
    }
    if (v != (void *)(uintptr_t)n) atomic_store(&tk->bad, 1);
    atomic_store(&tk->done, n);
  }
}

Test(queue, unchecked_dequeue_burns_at_most_one_cell_per_value) {
  enum { ROUNDS = 400, POLLS = 20 };
  cc_alloc_stats_enable(true);
  for (int s = 0; s < NSCHEMES; s++) {
    fixture_t f = make(KIND_TINY, schemes[s]);
    taker_t tk = {.q = f.q, .done = -1};
    pthread_t th;
    pthread_create(&th, NULL, taker, &tk);
    while (atomic_load(&tk.done) < 0) {
    }
    void *v;
    cc_alloc_snapshot_t before = cc_alloc_stats_snapshot();
    for (long r = 1; r <= ROUNDS; r++) {
      cr_assert_eq(cc_queue_enqueue(f.q, (void *)(uintptr_t)r), CC_OK);
      atomic_store(&tk.want, r);
      while (atomic_load(&tk.done) < r) {
      }
      for (int p = 0; p < POLLS; p++) cr_assert_eq(cc_queue_dequeue(f.q, &v), CC_EMPTY);
    }
    cc_alloc_snapshot_t after = cc_alloc_stats_snapshot();
    atomic_store(&tk.stop, 1);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&tk.bad), 0, "%s: values out of order", cc_smr_kind_name(schemes[s]));
    uint64_t allocs = after.alloc_count - before.alloc_count;
    uint64_t bound = 2 * ROUNDS / CC__SEGQ_TINY_CELLS + 16;
    cr_assert_leq(allocs, bound, "%s: %llu allocations for %d values (bound %llu)",
                  cc_smr_kind_name(schemes[s]), (unsigned long long)allocs, ROUNDS,
                  (unsigned long long)bound);
    unmake(&f);
  }
}
