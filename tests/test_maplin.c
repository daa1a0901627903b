/* cc_map linearizability: short bursts of concurrent operations (3 threads
 * x 6 operations on 4 keys, every point operation of the API in random
 * mixes) are recorded with invocation and response stamps from one global
 * counter and checked by a Wing-Gong search for a sequential order that
 * respects real time and the map's sequential specification. The search
 * memoises (linearized set, model state) pairs that failed (Lowe 2017).
 * Every kind x scheme runs many bursts; a failure prints the history. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccoll.h"
#include "ccoll/map.h"
#include "containers/map_internal.h"

/* INTEGRATION SCAFFOLD (remove with map.c's weak references): pulls the
 * skip list out of the static library, which map.c's weak references do not. */
const void *const cc__test_force_skiplist_lin = &cc__skiplist_none_ops;

#define NTHR 3
#define NOPS 6
#define NHIST (NTHR * NOPS)
#define NKEYS 4

typedef enum {
  OP_INSERT, OP_PUT, OP_REMOVE, OP_REPLACE, OP_GET, OP_CEILING, OP_FLOOR, OP_LOWER, OP_HIGHER,
  OP_FIRST, OP_LAST, OP_POP, OP_COUNT
} op_kind;
static const char *const op_names[] = {"insert", "put", "remove", "replace", "get", "ceiling",
                                       "floor", "lower", "higher", "first", "last", "pop_first"};

typedef struct {
  op_kind op;
  int thr;
  uint64_t key;      /* argument key (or query) */
  unsigned val, exp; /* value ids: desired / expected */
  int ret;
  uint64_t rkey;     /* returned key */
  unsigned rval;     /* returned value id (put's old, remove's, nav's) */
  uint64_t inv, res; /* stamps */
} hop_t;

static uint64_t key_of(unsigned i) { return 10 * (i + 1); } /* 10 20 30 40 */
static void *vp(unsigned id) { return (void *)(uintptr_t)(id * 8); }
static unsigned vid(void *p) { return (unsigned)((uintptr_t)p / 8); }

/* ------------------------------------------------------------------ sequential model */

/* State: 5 bits of value id per key (0: absent). */
typedef uint32_t mstate;
static unsigned st_get(mstate s, unsigned i) { return (s >> (5 * i)) & 31; }
static mstate st_set(mstate s, unsigned i, unsigned v) {
  return (s & ~((mstate)31 << (5 * i))) | ((mstate)v << (5 * i));
}
static int key_index(uint64_t k) {
  for (unsigned i = 0; i < NKEYS; i++)
    if (key_of(i) == k) return (int)i;
  return -1;
}

/* Applies h to s; true when the recorded results agree (then *out is the next state). */
static bool model_apply(mstate s, const hop_t *h, mstate *out) {
  int i = key_index(h->key);
  unsigned cur = i >= 0 ? st_get(s, (unsigned)i) : 0;
  *out = s;
  switch (h->op) {
    case OP_INSERT:
      if (cur) return h->ret == CC_EXISTS;
      *out = st_set(s, (unsigned)i, h->val);
      return h->ret == CC_OK;
    case OP_PUT:
      *out = st_set(s, (unsigned)i, h->val);
      return cur ? (h->ret == CC_EXISTS && h->rval == cur) : h->ret == CC_OK;
    case OP_REMOVE:
      if (!cur) return h->ret == CC_NOT_FOUND;
      *out = st_set(s, (unsigned)i, 0);
      return h->ret == CC_OK && h->rval == cur;
    case OP_REPLACE:
      if (!cur) return h->ret == CC_NOT_FOUND;
      if (cur != h->exp) return h->ret == CC_CHANGED;
      *out = st_set(s, (unsigned)i, h->val);
      return h->ret == CC_OK;
    case OP_GET:
      return cur ? (h->ret == CC_OK && h->rval == cur) : h->ret == CC_NOT_FOUND;
    default: break;
  }
  /* navigation, first/last, pop_first: the qualifying key */
  int best = -1;
  for (unsigned j = 0; j < NKEYS; j++) {
    if (!st_get(s, j)) continue;
    uint64_t k = key_of(j);
    bool ok;
    switch (h->op) {
      case OP_CEILING: ok = k >= h->key; break;
      case OP_FLOOR: ok = k <= h->key; break;
      case OP_LOWER: ok = k < h->key; break;
      case OP_HIGHER: ok = k > h->key; break;
      default: ok = true; break;
    }
    if (!ok) continue;
    bool down = h->op == OP_FLOOR || h->op == OP_LOWER || h->op == OP_LAST;
    if (best < 0 || (down ? j > (unsigned)best : j < (unsigned)best)) best = (int)j;
  }
  bool nav = h->op >= OP_CEILING && h->op <= OP_HIGHER;
  if (best < 0) return h->ret == (nav ? CC_NOT_FOUND : CC_EMPTY);
  if (h->ret != CC_OK || h->rkey != key_of((unsigned)best) || h->rval != st_get(s, (unsigned)best))
    return false;
  if (h->op == OP_POP) *out = st_set(s, (unsigned)best, 0);
  return true;
}

/* ------------------------------------------------------------------ Wing-Gong search */

#define MEMO_BITS 16
typedef struct {
  const hop_t *h;
  int n;
  uint64_t memo[1u << MEMO_BITS]; /* failed (mask << 32 | state) + 1; 0 empty */
  unsigned memo_n;
} search_t;

static bool memo_seen(search_t *se, uint32_t mask, mstate s, bool insert) {
  uint64_t key = (((uint64_t)mask << 32) | s) + 1;
  uint64_t hsh = key * 0x9e3779b97f4a7c15ull;
  for (unsigned i = (unsigned)(hsh >> (64 - MEMO_BITS));; i = (i + 1) & ((1u << MEMO_BITS) - 1)) {
    if (se->memo[i] == key) return true;
    if (se->memo[i] == 0) {
      if (insert && se->memo_n < (1u << MEMO_BITS) / 2) se->memo[i] = key, se->memo_n++;
      return false;
    }
  }
}

static bool linearize(search_t *se, uint32_t mask, mstate s) {
  if (mask == (1u << se->n) - 1) return true;
  if (memo_seen(se, mask, s, false)) return false;
  /* candidates: pending operations invoked before every pending response */
  uint64_t min_res = UINT64_MAX;
  for (int i = 0; i < se->n; i++)
    if (!(mask & (1u << i)) && se->h[i].res < min_res) min_res = se->h[i].res;
  for (int i = 0; i < se->n; i++) {
    if ((mask & (1u << i)) || se->h[i].inv > min_res) continue;
    mstate next;
    if (model_apply(s, &se->h[i], &next) && linearize(se, mask | (1u << i), next)) return true;
  }
  memo_seen(se, mask, s, true);
  return false;
}

static void print_history(const hop_t *h, int n, mstate init) {
  fprintf(stderr, "initial map:");
  for (unsigned j = 0; j < NKEYS; j++)
    if (st_get(init, j)) fprintf(stderr, " %llu=v%u", (unsigned long long)key_of(j), st_get(init, j));
  fprintf(stderr, "\n");
  for (int i = 0; i < n; i++) {
    const hop_t *o = &h[i];
    fprintf(stderr, "  [%3llu,%3llu] T%d %-9s key=%-3llu val=v%-2u exp=v%-2u -> ret=%d key=%llu val=v%u\n",
            (unsigned long long)o->inv, (unsigned long long)o->res, o->thr, op_names[o->op],
            (unsigned long long)o->key, o->val, o->exp, o->ret, (unsigned long long)o->rkey, o->rval);
  }
}

static search_t searcher;

static bool check_history(const hop_t *h, int n, mstate init) {
  memset(searcher.memo, 0, sizeof searcher.memo);
  searcher.memo_n = 0;
  searcher.h = h;
  searcher.n = n;
  return linearize(&searcher, 0, init);
}

/* ------------------------------------------------------------------ running a burst */

typedef struct {
  cc_map_t *m;
  _Atomic uint64_t clock;
  _Atomic unsigned gen, arrived, done;
  hop_t hist[NTHR][NOPS];
  _Atomic int quit;
} burst_t;

static void run_op(cc_map_t *m, hop_t *o, _Atomic uint64_t *clock) {
  void *v = NULL;
  uint64_t k = 0;
  o->inv = atomic_fetch_add(clock, 1);
  switch (o->op) {
    case OP_INSERT: o->ret = cc_map_insert(m, o->key, vp(o->val)); break;
    case OP_PUT: o->ret = cc_map_put(m, o->key, vp(o->val), &v); break;
    case OP_REMOVE: o->ret = cc_map_remove(m, o->key, &v); break;
    case OP_REPLACE: o->ret = cc_map_replace(m, o->key, vp(o->exp), vp(o->val)); break;
    case OP_GET: o->ret = cc_map_get(m, o->key, &v); break;
    case OP_CEILING: o->ret = cc_map_ceiling(m, o->key, &k, &v); break;
    case OP_FLOOR: o->ret = cc_map_floor(m, o->key, &k, &v); break;
    case OP_LOWER: o->ret = cc_map_lower(m, o->key, &k, &v); break;
    case OP_HIGHER: o->ret = cc_map_higher(m, o->key, &k, &v); break;
    case OP_FIRST: o->ret = cc_map_first(m, &k, &v); break;
    case OP_LAST: o->ret = cc_map_last(m, &k, &v); break;
    default: o->ret = cc_map_pop_first(m, &k, &v); break;
  }
  o->res = atomic_fetch_add(clock, 1);
  o->rkey = k;
  o->rval = vid(v);
}

typedef struct {
  burst_t *b;
  int id;
} worker_arg;

static void *burst_worker(void *arg) {
  worker_arg *wa = arg;
  burst_t *b = wa->b;
  unsigned seen = 0;
  for (;;) {
    unsigned g;
    while ((g = atomic_load(&b->gen)) == seen && !atomic_load(&b->quit)) sched_yield();
    if (atomic_load(&b->quit)) return NULL;
    seen = g;
    /* all threads start together */
    atomic_fetch_add(&b->arrived, 1);
    for (unsigned spin = 0; atomic_load(&b->arrived) < NTHR * seen; spin++)
      if (spin > 2000) sched_yield();
    /* Small random pauses between operations shuffle the interleavings
     * beyond what the start skew of the threads gives. */
    uint64_t r = (uint64_t)(wa->id + 1) * 0x9e3779b97f4a7c15ull * seen;
    for (int i = 0; i < NOPS; i++) {
      r ^= r << 13, r ^= r >> 7, r ^= r << 17;
      for (volatile unsigned p = (unsigned)(r % 64) * (r & 1); p > 0; p--) {
      }
      run_op(b->m, &b->hist[wa->id][i], &b->clock);
    }
    atomic_fetch_add(&b->done, 1);
  }
}

static uint64_t rs = 0x2545f4914f6cdd1dull;
static unsigned rnd(unsigned n) {
  rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
  return (unsigned)((rs >> 11) % n);
}

/* Biases: some bursts are mostly pops and inserts (the known trap), some
 * mostly navigation against updates, the rest uniform. */
static op_kind pick_op(unsigned mix) {
  static const op_kind popmix[] = {OP_POP, OP_POP, OP_INSERT, OP_INSERT, OP_FIRST, OP_GET, OP_REMOVE, OP_CEILING};
  static const op_kind navmix[] = {OP_CEILING, OP_FLOOR, OP_LOWER, OP_HIGHER, OP_FIRST, OP_LAST,
                                   OP_INSERT, OP_REMOVE, OP_PUT, OP_REPLACE};
  if (mix == 0) return popmix[rnd(sizeof popmix / sizeof popmix[0])];
  if (mix == 1) return navmix[rnd(sizeof navmix / sizeof navmix[0])];
  return (op_kind)rnd(OP_COUNT);
}

/* Pairs of operations of different threads whose intervals overlap. */
static unsigned overlaps(const hop_t *h, int n) {
  unsigned c = 0;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (h[i].thr != h[j].thr && h[i].inv < h[j].res && h[j].inv < h[i].res) c++;
  return c;
}

static unsigned long total_overlaps;

static unsigned run_bursts(cc_map_kind_t kind, cc_smr_kind_t sk, unsigned nbursts) {
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = sk});
  cr_assert_not_null(d);
  cc_map_t *probe = cc_map_new(&(cc_map_config_t){.kind = kind, .smr = d});
  if (!probe && kind == CC_MAP_BST) { /* BST-ABSENT: remove at integration */
    fprintf(stderr, "note: BST kind absent in this build, its linearizability bursts are skipped\n");
    cc_smr_free(d);
    return 0;
  }
  cr_assert_not_null(probe);
  cc_map_free(probe);
  burst_t *b = calloc(1, sizeof *b);
  cr_assert_not_null(b);
  pthread_t th[NTHR];
  worker_arg wa[NTHR];
  for (int i = 0; i < NTHR; i++) {
    wa[i] = (worker_arg){b, i};
    pthread_create(&th[i], NULL, burst_worker, &wa[i]);
  }
  unsigned checked = 0;
  for (unsigned burst = 1; burst <= nbursts; burst++) {
    b->m = cc_map_new(&(cc_map_config_t){.kind = kind, .smr = d});
    cr_assert_not_null(b->m);
    mstate init = 0;
    unsigned next_val = 1;
    for (unsigned j = 0; j < NKEYS; j++)
      if (rnd(2)) {
        init = st_set(init, j, next_val);
        cr_assert_eq(cc_map_insert(b->m, key_of(j), vp(next_val)), CC_OK);
        next_val++;
      }
    unsigned mix = rnd(3);
    for (int t = 0; t < NTHR; t++)
      for (int i = 0; i < NOPS; i++) {
        hop_t *o = &b->hist[t][i];
        memset(o, 0, sizeof *o);
        o->op = pick_op(mix);
        o->thr = t;
        bool nav = o->op >= OP_CEILING && o->op <= OP_HIGHER;
        o->key = nav ? 5 * rnd(10) : key_of(rnd(NKEYS));
        o->val = next_val++;
        o->exp = rnd(next_val); /* often a value that was or will be there */
      }
    atomic_store(&b->clock, 0);
    atomic_store(&b->done, 0);
    atomic_fetch_add(&b->gen, 1);
    while (atomic_load(&b->done) < NTHR) sched_yield();
    if (!check_history(&b->hist[0][0], NHIST, init)) {
      fprintf(stderr, "NOT LINEARIZABLE (%s map, %s reclamation, burst %u):\n",
              kind == CC_MAP_SKIPLIST ? "skiplist" : "bst", cc_smr_kind_name(sk), burst);
      print_history(&b->hist[0][0], NHIST, init);
      cr_assert_fail("non-linearizable history");
    }
    checked++;
    total_overlaps += overlaps(&b->hist[0][0], NHIST);
    cc_map_free(b->m);
  }
  atomic_store(&b->quit, 1);
  for (int i = 0; i < NTHR; i++) pthread_join(th[i], NULL);
  free(b);
  cc_smr_free(d);
  return checked;
}

static const cc_smr_kind_t schemes[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};

static void run_kind(cc_map_kind_t kind) {
  unsigned total = 0;
  for (int s = 0; s < 4; s++) total += run_bursts(kind, schemes[s], 1500);
  fprintf(stderr, "%s: %u concurrent histories linearizable (%lu overlapping pairs)\n",
          kind == CC_MAP_SKIPLIST ? "skiplist" : "bst", total, total_overlaps);
}

Test(maplin, skiplist_every_scheme) { run_kind(CC_MAP_SKIPLIST); }
Test(maplin, bst_every_scheme) { run_kind(CC_MAP_BST); }

/* The checker itself must reject what the naive pop_first can produce:
 * T0 inserts 10 and returns; T1, invoked after that, pops 20. */
Test(maplin, checker_rejects_naive_pop_first) {
  mstate init = st_set(0, 1, 1); /* 20 = v1 */
  hop_t h[2] = {
    {.op = OP_INSERT, .thr = 0, .key = 10, .val = 2, .ret = CC_OK, .inv = 0, .res = 1},
    {.op = OP_POP, .thr = 1, .ret = CC_OK, .rkey = 20, .rval = 1, .inv = 2, .res = 3},
  };
  cr_assert_not(check_history(h, 2, init));
  /* overlapping, the same results are fine */
  h[1].inv = 0, h[0].res = 2;
  cr_assert(check_history(h, 2, init));
}

/* ... and a put that succeeded on a key whose removal had completed. */
Test(maplin, checker_rejects_put_on_removed_key) {
  mstate init = st_set(0, 0, 1); /* 10 = v1 */
  hop_t h[2] = {
    {.op = OP_REMOVE, .thr = 0, .key = 10, .ret = CC_OK, .rval = 1, .inv = 0, .res = 1},
    {.op = OP_PUT, .thr = 1, .key = 10, .val = 2, .ret = CC_EXISTS, .rval = 1, .inv = 2, .res = 3},
  };
  cr_assert_not(check_history(h, 2, init));
}
