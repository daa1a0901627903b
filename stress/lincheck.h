/* Linearizability spot check: Wing & Gong's search over a recorded history,
 * with Lowe's memoisation of (linearized set, model state) configurations.
 *
 * A history is at most 64 completed operations, each with an invocation and
 * a response stamp from one global counter (taken just before the call and
 * just after it returns, so stamps respect real time). The search tries, at
 * each step, every pending operation invoked before the earliest pending
 * response, applies it to a sequential model, and keeps it when the model's
 * answer equals the recorded one. The history is linearizable when every
 * operation is placed and the model ends in the state observed afterwards.
 *
 * Models: an ordered map over at most LIN_MAXK keys (slot i holds the value of
 * key keys[i], 0 = absent; values in a history are nonzero and unique), and a
 * FIFO queue (w[0] = length, w[1..] = contents, oldest first). */
#ifndef CCOLL_STRESS_LINCHECK_H
#define CCOLL_STRESS_LINCHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccoll/status.h"
#include "stress_util.h"

#define LIN_MAXOPS 64
#define LIN_MAXK 8
#define LIN_WORDS (LIN_MAXOPS + 16) /* queue: length + up to 79 items */

typedef enum {
  LIN_INSERT, LIN_PUT, LIN_GET, LIN_REMOVE, LIN_REPLACE,
  LIN_FLOOR, LIN_CEILING, LIN_LOWER, LIN_HIGHER,
  LIN_FIRST, LIN_LAST, LIN_POP_FIRST,
  LIN_ENQ, LIN_DEQ,
  LIN_NOPS
} lin_kind_t;

static const char *const lin_names[LIN_NOPS] = {
  "insert", "put", "get", "remove", "replace", "floor", "ceiling", "lower", "higher",
  "first", "last", "pop_first", "enqueue", "dequeue",
};

typedef struct {
  uint8_t kind, thread;
  uint64_t inv, res; /* stamps */
  uint64_t k, a, b;  /* key; value or expected; desired */
  int rc;            /* recorded status */
  uint64_t rk, rv;   /* recorded key and value outputs */
} lin_op_t;

typedef struct { uint64_t w[LIN_WORDS]; } lin_state_t;

typedef struct {
  bool queue;                /* FIFO model, else map model */
  unsigned nkeys;            /* map: keys[0..nkeys) ascending */
  uint64_t keys[LIN_MAXK];
  unsigned nwords;           /* state words that matter (hash, compare) */
} lin_model_t;

/* ---------------------------------------------------------------- models */

static int lin_key_slot(const lin_model_t *m, uint64_t k) {
  for (unsigned i = 0; i < m->nkeys; i++)
    if (m->keys[i] == k) return (int)i;
  return -1;
}

/* Nearest present slot in direction dir from key q (inclusive or not). */
static int lin_nav(const lin_model_t *m, const lin_state_t *s, uint64_t q, bool up, bool incl) {
  int best = -1;
  for (unsigned i = 0; i < m->nkeys; i++) {
    if (!s->w[i]) continue;
    uint64_t k = m->keys[i];
    bool ok = up ? (incl ? k >= q : k > q) : (incl ? k <= q : k < q);
    if (!ok) continue;
    if (best < 0 || (up ? k < m->keys[best] : k > m->keys[best])) best = (int)i;
  }
  return best;
}

static bool lin_expect_slot(const lin_model_t *m, const lin_state_t *s, const lin_op_t *op, int slot,
                            int absent_rc) {
  if (slot < 0) return op->rc == absent_rc;
  return op->rc == CC_OK && op->rk == m->keys[slot] && op->rv == s->w[slot];
}

/* Applies op to s (in place) and says whether the recorded result matches. */
static bool lin_apply(const lin_model_t *m, lin_state_t *s, const lin_op_t *op) {
  if (m->queue) {
    uint64_t n = s->w[0];
    if (op->kind == LIN_ENQ) {
      if (op->rc != CC_OK || n + 1 >= LIN_WORDS) return false;
      s->w[1 + n] = op->a;
      s->w[0] = n + 1;
      return true;
    }
    if (n == 0) return op->rc == CC_EMPTY;
    if (op->rc != CC_OK || op->rv != s->w[1]) return false;
    memmove(&s->w[1], &s->w[2], (n - 1) * sizeof s->w[0]);
    s->w[n] = 0;
    s->w[0] = n - 1;
    return true;
  }
  int i = lin_key_slot(m, op->k);
  switch (op->kind) {
  case LIN_INSERT:
    if (s->w[i]) return op->rc == CC_EXISTS;
    if (op->rc != CC_OK) return false;
    s->w[i] = op->a;
    return true;
  case LIN_PUT:
    if (s->w[i]) {
      if (op->rc != CC_EXISTS || op->rv != s->w[i]) return false;
    } else if (op->rc != CC_OK) {
      return false;
    }
    s->w[i] = op->a;
    return true;
  case LIN_GET:
    if (!s->w[i]) return op->rc == CC_NOT_FOUND;
    return op->rc == CC_OK && op->rv == s->w[i];
  case LIN_REMOVE:
    if (!s->w[i]) return op->rc == CC_NOT_FOUND;
    if (op->rc != CC_OK || op->rv != s->w[i]) return false;
    s->w[i] = 0;
    return true;
  case LIN_REPLACE:
    if (!s->w[i]) return op->rc == CC_NOT_FOUND;
    if (s->w[i] != op->a) return op->rc == CC_CHANGED;
    if (op->rc != CC_OK) return false;
    s->w[i] = op->b;
    return true;
  case LIN_FLOOR:   return lin_expect_slot(m, s, op, lin_nav(m, s, op->k, false, true), CC_NOT_FOUND);
  case LIN_CEILING: return lin_expect_slot(m, s, op, lin_nav(m, s, op->k, true, true), CC_NOT_FOUND);
  case LIN_LOWER:   return lin_expect_slot(m, s, op, lin_nav(m, s, op->k, false, false), CC_NOT_FOUND);
  case LIN_HIGHER:  return lin_expect_slot(m, s, op, lin_nav(m, s, op->k, true, false), CC_NOT_FOUND);
  case LIN_FIRST:   return lin_expect_slot(m, s, op, lin_nav(m, s, 0, true, true), CC_EMPTY);
  case LIN_LAST:    return lin_expect_slot(m, s, op, lin_nav(m, s, UINT64_MAX, false, true), CC_EMPTY);
  case LIN_POP_FIRST: {
    int j = lin_nav(m, s, 0, true, true);
    if (!lin_expect_slot(m, s, op, j, CC_EMPTY)) return false;
    if (j >= 0) s->w[j] = 0;
    return true;
  }
  default:
    return false;
  }
}

/* ---------------------------------------------------------------- search */

#define LIN_MEMO_BITS 14
#define LIN_MEMO_SIZE (1u << LIN_MEMO_BITS)
#define LIN_MEMO_PROBE 32
#define LIN_BUDGET 4000000u /* search steps per history before giving up */

typedef struct {
  uint32_t stamp;
  uint64_t mask;
  uint64_t hash;
  lin_state_t st;
} lin_memo_t;

typedef struct {
  const lin_model_t *model;
  const lin_op_t *ops;
  unsigned n;
  const lin_state_t *final;
  lin_memo_t *memo;   /* LIN_MEMO_SIZE entries, reused across histories */
  uint32_t stamp;
  uint64_t steps;
  bool gave_up;
} lin_search_t;

static uint64_t lin_hash(const lin_search_t *c, uint64_t mask, const lin_state_t *s) {
  uint64_t h = st_mix64(mask);
  for (unsigned i = 0; i < c->model->nwords; i++) h = st_mix64(h ^ s->w[i]);
  return h;
}

/* True when (mask, s) was seen before; records it otherwise. A full probe
 * window just skips recording: memoisation is an optimisation only. */
static bool lin_seen(lin_search_t *c, uint64_t mask, const lin_state_t *s) {
  uint64_t h = lin_hash(c, mask, s);
  size_t bytes = c->model->nwords * sizeof s->w[0];
  for (unsigned p = 0; p < LIN_MEMO_PROBE; p++) {
    lin_memo_t *e = &c->memo[(h + p) & (LIN_MEMO_SIZE - 1)];
    if (e->stamp != c->stamp) {
      e->stamp = c->stamp;
      e->mask = mask;
      e->hash = h;
      memcpy(e->st.w, s->w, bytes);
      return false;
    }
    if (e->hash == h && e->mask == mask && memcmp(e->st.w, s->w, bytes) == 0) return true;
  }
  return false;
}

static bool lin_dfs(lin_search_t *c, uint64_t mask, const lin_state_t *s) {
  const uint64_t all = c->n == 64 ? UINT64_MAX : ((uint64_t)1 << c->n) - 1;
  if (mask == all)
    return memcmp(s->w, c->final->w, c->model->nwords * sizeof s->w[0]) == 0;
  if (++c->steps > LIN_BUDGET) {
    c->gave_up = true;
    return false;
  }
  if (lin_seen(c, mask, s)) return false;
  uint64_t min_res = UINT64_MAX;
  for (unsigned i = 0; i < c->n; i++)
    if (!(mask >> i & 1) && c->ops[i].res < min_res) min_res = c->ops[i].res;
  for (unsigned i = 0; i < c->n; i++) {
    if ((mask >> i & 1) || c->ops[i].inv > min_res) continue;
    lin_state_t next = *s;
    if (!lin_apply(c->model, &next, &c->ops[i])) continue;
    if (lin_dfs(c, mask | (uint64_t)1 << i, &next)) return true;
    if (c->gave_up) return false;
  }
  return false;
}

/* 1: linearizable; 0: not; -1: search budget exhausted (undecided). */
static int lin_check(lin_search_t *c, const lin_model_t *model, const lin_op_t *ops, unsigned n,
                     const lin_state_t *init, const lin_state_t *final) {
  c->model = model;
  c->ops = ops;
  c->n = n;
  c->final = final;
  c->steps = 0;
  c->gave_up = false;
  if (++c->stamp == 0) {
    memset(c->memo, 0, LIN_MEMO_SIZE * sizeof *c->memo);
    c->stamp = 1;
  }
  bool ok = lin_dfs(c, 0, init);
  return ok ? 1 : c->gave_up ? -1 : 0;
}

/* 1 when two operations of different threads overlap in time. */
static int lin_concurrent(const lin_op_t *ops, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    for (unsigned j = i + 1; j < n; j++)
      if (ops[i].thread != ops[j].thread && ops[i].inv < ops[j].res && ops[j].inv < ops[i].res) return 1;
  return 0;
}

/* The checker must accept a linearizable history only when it is one: two
 * hand-made map histories, one fine only because the ops overlap, one that
 * no order explains (a get sees a value after a remove that finished
 * before the get began). */
static bool lin_selftest(void) {
  lin_model_t m = { .queue = false, .nkeys = 2, .keys = { 3, 6 }, .nwords = 2 };
  lin_state_t init = { { 0 } }, fin = { { 0 } };
  lin_search_t c = { .memo = calloc(LIN_MEMO_SIZE, sizeof(lin_memo_t)) };
  if (!c.memo) return false;
  /* t0 insert(3,a) [1,4]; t1 get(3) -> a [2,3]; t1 remove(3) -> a [5,6] */
  lin_op_t ok[3] = {
    { .kind = LIN_INSERT, .thread = 0, .inv = 1, .res = 4, .k = 3, .a = 0xa, .rc = CC_OK },
    { .kind = LIN_GET, .thread = 1, .inv = 2, .res = 3, .k = 3, .rc = CC_OK, .rv = 0xa },
    { .kind = LIN_REMOVE, .thread = 1, .inv = 5, .res = 6, .k = 3, .rc = CC_OK, .rv = 0xa },
  };
  /* t0 insert(3,a) [1,2]; t0 remove(3) -> a [3,4]; t1 get(3) -> a [5,6] */
  lin_op_t bad[3] = {
    { .kind = LIN_INSERT, .thread = 0, .inv = 1, .res = 2, .k = 3, .a = 0xa, .rc = CC_OK },
    { .kind = LIN_REMOVE, .thread = 0, .inv = 3, .res = 4, .k = 3, .rc = CC_OK, .rv = 0xa },
    { .kind = LIN_GET, .thread = 1, .inv = 5, .res = 6, .k = 3, .rc = CC_OK, .rv = 0xa },
  };
  /* queue: enq(1) [1,2] before enq(2) [3,4]; a dequeue then returns 2 first */
  lin_model_t q = { .queue = true, .nwords = LIN_WORDS };
  lin_op_t qbad[3] = {
    { .kind = LIN_ENQ, .thread = 0, .inv = 1, .res = 2, .a = 1, .rc = CC_OK },
    { .kind = LIN_ENQ, .thread = 0, .inv = 3, .res = 4, .a = 2, .rc = CC_OK },
    { .kind = LIN_DEQ, .thread = 1, .inv = 5, .res = 6, .rc = CC_OK, .rv = 2 },
  };
  lin_state_t qfin = { { 1, 1 } };
  bool pass = lin_check(&c, &m, ok, 3, &init, &fin) == 1 && lin_check(&c, &m, bad, 3, &init, &fin) == 0 &&
              lin_check(&c, &q, qbad, 3, &init, &qfin) == 0;
  free(c.memo);
  return pass;
}

static void lin_print_state(const lin_model_t *m, const char *what, const lin_state_t *s) {
  printf("    %s:", what);
  if (m->queue) {
    for (uint64_t i = 0; i < s->w[0]; i++) printf(" %#llx", (unsigned long long)s->w[1 + i]);
  } else {
    for (unsigned i = 0; i < m->nkeys; i++)
      if (s->w[i]) printf(" %llu=%#llx", (unsigned long long)m->keys[i], (unsigned long long)s->w[i]);
  }
  printf("\n");
}

static void lin_print_history(const lin_model_t *m, const lin_op_t *ops, unsigned n,
                              const lin_state_t *init, const lin_state_t *final) {
  lin_print_state(m, "initial", init);
  for (unsigned i = 0; i < n; i++) {
    const lin_op_t *o = &ops[i];
    printf("    t%u [%llu,%llu] %s(k=%llu a=%#llx b=%#llx) -> %s k=%llu v=%#llx\n", o->thread,
           (unsigned long long)o->inv, (unsigned long long)o->res, lin_names[o->kind],
           (unsigned long long)o->k, (unsigned long long)o->a, (unsigned long long)o->b,
           cc_strerror(o->rc), (unsigned long long)o->rk, (unsigned long long)o->rv);
  }
  lin_print_state(m, "final", final);
}

#endif /* CCOLL_STRESS_LINCHECK_H */
