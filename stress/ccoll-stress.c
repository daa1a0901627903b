/* ccoll-stress: every container x every reclamation scheme under many
 * threads, with invariant checks; exits non-zero on any violation.
 *
 *   ccoll-stress --all --short            CI form (about a second per combination)
 *   ccoll-stress --map bst --smr ibr --threads 8 --seconds 30 --stall
 *   ccoll-stress --help
 *
 * Maps. Values are tokens: a word (index << 32 | generation) naming an entry
 * of a table the harness owns, so a value the map frees twice, frees while a
 * reader's section still sees it, or never frees is caught without touching
 * freed memory. Per-thread key sums (inserted minus removed, from the
 * operations' results) must equal the final map's key sum; the final scan
 * must be ascending without duplicates and match cc_map_size; every value
 * handed to the map must reach val_free exactly once by the end.
 *
 * Queues. Values are (producer << 40 | sequence). Every consumer must see
 * each producer's values in increasing order; the multiset dequeued (count
 * and a sum of 64-bit hashes) must equal the multiset enqueued.
 *
 * Memory. Each round uses a private domain; after the container and the
 * domain are freed, the allocation statistics must be back at the values
 * they had before the round.
 *
 * Modes: --stall (one thread stops inside an operation's read phase, pending
 * garbage bounded for IBR and DEBRA+), --churn (threads come and go),
 * --fail-alloc N (every Nth allocation fails), --fail-internal N (now and
 * then the bookkeeping a retirement needs cannot be reserved: CC_ENOMEM from
 * updates and dequeues, nothing changed), --neutralize-every N (DEBRA+
 * forced neutralisation), --lin (linearizability spot check, <= 8 keys). */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccoll/alloc.h"
#include "ccoll/config.h"
#include "ccoll/map.h"
#include "ccoll/queue.h"
#include "ccoll/smr.h"
#include "ccoll/status.h"

#include "alloc/alloc_internal.h" /* cc__alloc_fail_every: --fail-alloc */
#include "compiler.h"
#include "smr/smr_internal.h"     /* the operation phase API: --stall */
#include "containers/bst_internal.h"     /* cc__bst_check: --map bst structure */
#include "containers/map_internal.h"

#include "lincheck.h"
#include "stress_util.h"

/* ================================================================ options */

enum { OP_INSERT, OP_PUT, OP_REMOVE, OP_POP, OP_GET, OP_REPLACE, OP_NAV, OP_FIRSTLAST, OP_RANGE, OP_N };
static const char *const op_names[OP_N] = {
  "insert", "put", "remove", "pop", "get", "replace", "nav", "firstlast", "range",
};

typedef struct {
  unsigned map_mask, queue_mask, smr_mask; /* bit per kind */
  unsigned threads;
  double seconds;
  uint64_t keys;
  unsigned mix[OP_N];
  uint64_t seed;
  bool stall, churn, lin, long_form, quiet;
  uint64_t fail_every;
  uint64_t fail_internal; /* --fail-internal: about one operation in N finds no bookkeeping memory */
  long neutralize_every;
  double round_max;
} opts_t;

static opts_t O;

static const cc_smr_kind_t smr_kinds[4] = { CC_SMR_IBR, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_NONE };
static const char *const map_names[2] = { "skiplist", "bst" };
static const char *const queue_names[3] = { "default", "ms", "segment" };

static void usage(FILE *f) {
  fputs(
    "usage: ccoll-stress [options]\n"
    "  --map skiplist|bst     map kind (repeatable; default: every kind unless --queue)\n"
    "  --queue ms|segment     queue kind (repeatable; default: every kind unless --map)\n"
    "  --smr ibr|debra|debra+|none   scheme (repeatable; default: all four)\n"
    "  --all                  every container x every scheme (16 combinations)\n"
    "  --threads N            worker threads (default 4)\n"
    "  --seconds S            per combination (default 2)\n"
    "  --keys K               map key range (default 512; --lin uses <= 8)\n"
    "  --mix I,R,G            insert, remove, read percentages, or named weights:\n"
    "                         insert=25,put=10,remove=25,pop=2,get=20,replace=5,nav=8,firstlast=3,range=2\n"
    "  --seed N               random seed (default: from the clock, printed)\n"
    "  --stall                one thread stops inside an operation's read phase\n"
    "  --churn                threads created and exiting all the time\n"
    "  --fail-alloc N         every Nth allocation fails\n"
    "  --fail-internal N      about one operation in N: this thread's next bookkeeping\n"
    "                         allocation (limbo block, retire_fn record) fails\n"
    "  --neutralize-every N   DEBRA+: CCOLL_DEBRA_NEUTRALIZE_EVERY=N for the domains\n"
    "  --lin                  linearizability spot check (Wing-Gong, memoised)\n"
    "  --short                CI preset: 1 s per combination\n"
    "  --long                 people preset: 120 s per combination, progress shown\n",
    f);
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s || *end || s[0] == '-') return false;
  *out = v;
  return true;
}

static void default_mix(unsigned *mix) {
  static const unsigned d[OP_N] = { 25, 10, 25, 2, 20, 5, 8, 3, 2 };
  memcpy(mix, d, sizeof d);
}

/* "I,R,G" splits each class over its variants; "name=w,..." sets weights. */
static bool parse_mix(const char *s, unsigned *mix) {
  if (strchr(s, '=')) {
    memset(mix, 0, OP_N * sizeof *mix);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
      char *eq = strchr(tok, '=');
      uint64_t w;
      if (!eq) return false;
      *eq = 0;
      if (!parse_u64(eq + 1, &w) || w > 1000) return false;
      int i = 0;
      while (i < OP_N && strcmp(op_names[i], tok) != 0) i++;
      if (i == OP_N) return false;
      mix[i] = (unsigned)w;
    }
  } else {
    unsigned a, b, c;
    if (sscanf(s, "%u,%u,%u", &a, &b, &c) != 3 || a + b + c == 0 || a + b + c > 1000) return false;
    mix[OP_INSERT] = a * 7, mix[OP_PUT] = a * 3;
    mix[OP_REMOVE] = b * 9, mix[OP_POP] = b;
    mix[OP_GET] = c * 6, mix[OP_REPLACE] = c, mix[OP_NAV] = c * 2, mix[OP_FIRSTLAST] = c / 2 + 1;
    mix[OP_RANGE] = c / 2;
  }
  unsigned sum = 0;
  for (int i = 0; i < OP_N; i++) sum += mix[i];
  return sum > 0;
}

static void parse_args(int argc, char **argv) {
  O.threads = 4;
  O.seconds = 2;
  O.keys = 512;
  O.seed = st_now_ns();
  O.round_max = 10;
  default_mix(O.mix);
  bool threads_set = false, seconds_set = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t n;
#define NEED_ARG()                                                   \
  do {                                                               \
    if (!v) { fprintf(stderr, "ccoll-stress: %s needs a value\n", a); exit(2); } \
    i++;                                                             \
  } while (0)
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--map")) {
      NEED_ARG();
      if (!strcmp(v, "skiplist")) O.map_mask |= 1u << CC_MAP_SKIPLIST;
      else if (!strcmp(v, "bst")) O.map_mask |= 1u << CC_MAP_BST;
      else goto bad;
    } else if (!strcmp(a, "--queue")) {
      NEED_ARG();
      if (!strcmp(v, "ms")) O.queue_mask |= 1u << CC_QUEUE_MS;
      else if (!strcmp(v, "segment")) O.queue_mask |= 1u << CC_QUEUE_SEGMENT;
      else goto bad;
    } else if (!strcmp(a, "--smr")) {
      NEED_ARG();
      cc_smr_kind_t k;
      if (cc_smr_kind_parse(v, &k) != CC_OK || k == CC_SMR_DEFAULT) goto bad;
      O.smr_mask |= 1u << k;
    } else if (!strcmp(a, "--all")) {
      O.map_mask = 1u << CC_MAP_SKIPLIST | 1u << CC_MAP_BST;
      O.queue_mask = 1u << CC_QUEUE_MS | 1u << CC_QUEUE_SEGMENT;
      O.smr_mask = 0;
    } else if (!strcmp(a, "--threads")) {
      NEED_ARG();
      if (!parse_u64(v, &n) || n < 1 || n > 256) goto bad;
      O.threads = (unsigned)n;
      threads_set = true;
    } else if (!strcmp(a, "--seconds")) {
      NEED_ARG();
      char *end;
      O.seconds = strtod(v, &end);
      if (*end || !(O.seconds > 0) || O.seconds > 86400) goto bad;
      seconds_set = true;
    } else if (!strcmp(a, "--keys")) {
      NEED_ARG();
      if (!parse_u64(v, &n) || n < 2 || n > (1u << 24)) goto bad;
      O.keys = n;
    } else if (!strcmp(a, "--mix")) {
      NEED_ARG();
      if (!parse_mix(v, O.mix)) goto bad;
    } else if (!strcmp(a, "--seed")) {
      NEED_ARG();
      if (!parse_u64(v, &O.seed)) goto bad;
    } else if (!strcmp(a, "--stall")) {
      O.stall = true;
    } else if (!strcmp(a, "--churn")) {
      O.churn = true;
    } else if (!strcmp(a, "--lin")) {
      O.lin = true;
    } else if (!strcmp(a, "--fail-alloc")) {
      NEED_ARG();
      if (!parse_u64(v, &O.fail_every) || O.fail_every < 2) goto bad;
    } else if (!strcmp(a, "--fail-internal")) {
      NEED_ARG();
      if (!parse_u64(v, &O.fail_internal) || O.fail_internal < 1) goto bad;
    } else if (!strcmp(a, "--neutralize-every")) {
      NEED_ARG();
      if (!parse_u64(v, &n) || n < 1 || n > 1000000000) goto bad;
      O.neutralize_every = (long)n;
    } else if (!strcmp(a, "--short")) {
      if (!seconds_set) O.seconds = 1;
    } else if (!strcmp(a, "--long")) {
      O.long_form = true;
      if (!seconds_set) O.seconds = 120;
      if (!threads_set) O.threads = 8;
      if (!O.map_mask && !O.queue_mask) {
        O.map_mask = 1u << CC_MAP_SKIPLIST | 1u << CC_MAP_BST;
        O.queue_mask = 1u << CC_QUEUE_MS | 1u << CC_QUEUE_SEGMENT;
      }
    } else {
      fprintf(stderr, "ccoll-stress: unknown option %s\n", a);
      usage(stderr);
      exit(2);
    }
    continue;
  bad:
    fprintf(stderr, "ccoll-stress: bad value for %s: %s\n", a, v ? v : "(none)");
    exit(2);
#undef NEED_ARG
  }
  if (O.lin && O.fail_internal) {
    fprintf(stderr, "ccoll-stress: --fail-internal does not combine with --lin"
                    " (CC_ENOMEM is no event of the history)\n");
    exit(2);
  }
  if (!O.map_mask && !O.queue_mask) {
    O.map_mask = 1u << CC_MAP_SKIPLIST | 1u << CC_MAP_BST;
    O.queue_mask = 1u << CC_QUEUE_MS | 1u << CC_QUEUE_SEGMENT;
  }
  if (!O.smr_mask)
    for (int i = 0; i < 4; i++) O.smr_mask |= 1u << smr_kinds[i];
}

/* ================================================================ run state */

typedef struct {
  bool is_map;
  cc_map_kind_t mk;
  cc_queue_kind_t qk;
  cc_smr_kind_t sk;
} combo_t;

static const char *combo_container(const combo_t *c) {
  return c->is_map ? map_names[c->mk] : queue_names[c->qk];
}

/* Per-slot worker state; a slot outlives the threads that run in it (churn). */
typedef struct {
  unsigned slot;
  st_rng_t rng;
  pthread_t th;
  bool running;
  uint64_t budget; /* churn: operations of this incarnation; 0: until stop */
  cc_atomic(uint64_t) ops;
  uint64_t enomem, starved;
  /* map */
  uint64_t ins_sum, rem_sum;
  int64_t ins_cnt, rem_cnt;
  uint64_t handed;   /* values the map took ownership of */
  size_t cursor;
  uint64_t owned;    /* a token this thread holds (allocated, not in the map) */
  /* queue */
  uint64_t next_seq, enq_cnt, enq_hash, deq_cnt, deq_hash;
  uint64_t *last;    /* per producer: last sequence seen + 1 (0: none) */
  uint64_t *seen;    /* per producer: values dequeued */
} worker_t;

static struct {
  combo_t c;
  cc_smr_t *d;
  cc_map_t *m;
  cc_queue_t *q;
  bool tokens;          /* map values are tokens (val_free set) */
  unsigned nslots;
  worker_t *w;
  cc_atomic(int) stop;
  cc_atomic(uint64_t) frees; /* val_free calls */
} G;

/* ================================================================ tokens */

enum { TK_FREE = 0, TK_OWNED = 1, TK_INMAP = 2, TK_FREED = 3 };
#define TOK_PER_SLOT (1u << 16)

typedef struct {
  cc_atomic(uint64_t) st;  /* generation << 2 | state */
  cc_atomic(uint64_t) key;
} token_t;

static token_t *g_tok;
static size_t g_ntok;

static const char *tk_state_name(uint64_t st) {
  static const char *const n[4] = { "never used", "owned by a thread", "in the map", "freed" };
  return n[st & 3];
}

static inline uint64_t tok_word(size_t idx, uint64_t gen) { return (uint64_t)idx << 32 | (uint32_t)gen; }
static inline size_t tok_idx(uint64_t v) { return (size_t)(v >> 32); }
static inline uint64_t tok_gen(uint64_t v) { return (uint32_t)v; }
static inline uint64_t tok_st(uint64_t v, unsigned s) { return tok_gen(v) << 2 | s; }

static bool tok_valid_word(uint64_t v) { return tok_idx(v) < g_ntok && tok_gen(v) != 0; }

/* A token in state OWNED with its key set; 0 when the thread's pool is
 * exhausted (NONE frees nothing before the domain goes). */
static uint64_t tok_take(worker_t *w, uint64_t key) {
  if (w->owned) {
    cc_atomic_store_relaxed(&g_tok[tok_idx(w->owned)].key, key);
    return w->owned;
  }
  size_t base = (size_t)w->slot * TOK_PER_SLOT;
  for (size_t n = 0; n < TOK_PER_SLOT; n++) {
    size_t i = base + w->cursor;
    w->cursor = (w->cursor + 1) % TOK_PER_SLOT;
    uint64_t st = cc_atomic_load_acquire(&g_tok[i].st);
    if ((st & 3) != TK_FREE && (st & 3) != TK_FREED) continue;
    uint32_t gen = (uint32_t)(st >> 2) + 1;
    if (!gen) gen = 1;
    cc_atomic_store_relaxed(&g_tok[i].key, key);
    cc_atomic_store_release(&g_tok[i].st, (uint64_t)gen << 2 | TK_OWNED);
    w->owned = tok_word(i, gen);
    return w->owned;
  }
  w->starved++;
  return 0;
}

/* Before the call that may publish it. */
static void tok_publish(uint64_t v) {
  cc_atomic_store_release(&g_tok[tok_idx(v)].st, tok_st(v, TK_INMAP));
}

/* The call did not take it: back to OWNED, unless the map freed it anyway. */
static void tok_unpublish(uint64_t v, const char *op) {
  uint64_t exp = tok_st(v, TK_INMAP);
  if (!cc_atomic_cas_strong_acq_rel(&g_tok[tok_idx(v)].st, &exp, tok_st(v, TK_OWNED)))
    st_violation("%s failed but the map passed its value %#llx to val_free (state: %s)", op,
                 (unsigned long long)v, tk_state_name(exp));
}

static void tok_handed(worker_t *w) {
  w->owned = 0;
  w->handed++;
}

static void token_free(void *val, void *ctx) {
  (void)ctx;
  uint64_t v = (uint64_t)(uintptr_t)val;
  if (!tok_valid_word(v)) {
    st_violation("val_free(%#llx): not a value this run handed to the map", (unsigned long long)v);
    return;
  }
  token_t *t = &g_tok[tok_idx(v)];
  uint64_t exp = tok_st(v, TK_INMAP);
  if (!cc_atomic_cas_strong_acq_rel(&t->st, &exp, tok_st(v, TK_FREED))) {
    bool same = exp >> 2 == tok_gen(v);
    st_violation("val_free(%#llx): %s (token now: %s%s)", (unsigned long long)v,
                 same && (exp & 3) == TK_FREED ? "double free" : "value not owned by the map",
                 tk_state_name(exp), same ? "" : ", a later generation");
    return;
  }
  cc_atomic_fetch_add_relaxed(&G.frees, 1);
}

/* The token of a value op(key) returned, or NULL (a violation) when the
 * word is no value of this run. */
static token_t *tok_returned(uint64_t v, uint64_t key, const char *op) {
  if (tok_valid_word(v)) return &g_tok[tok_idx(v)];
  st_violation("%s(%llu) returned %#llx, not a value of this run", op, (unsigned long long)key,
               (unsigned long long)v);
  return NULL;
}

/* Inside a section: the value must still be live and belong to key. */
static void tok_check_live(uint64_t v, uint64_t key, const char *op) {
  token_t *t = tok_returned(v, key, op);
  if (!t) return;
  uint64_t st = cc_atomic_load_acquire(&t->st);
  if (st != tok_st(v, TK_INMAP)) {
    st_violation("%s(%llu) inside a section returned value %#llx already %s%s", op,
                 (unsigned long long)key, (unsigned long long)v, tk_state_name(st),
                 st >> 2 == tok_gen(v) ? "" : " (recycled)");
    return;
  }
  uint64_t k = cc_atomic_load_relaxed(&t->key);
  if (k != key)
    st_violation("%s returned key %llu with the value of key %llu", op, (unsigned long long)key,
                 (unsigned long long)k);
}

/* Outside a section the value may be freed already: check its key only
 * when the token provably did not change while we read it. */
static void tok_check_loose(uint64_t v, uint64_t key, const char *op) {
  token_t *t = tok_returned(v, key, op);
  if (!t) return;
  uint64_t st1 = cc_atomic_load_acquire(&t->st);
  if (st1 >> 2 != tok_gen(v) || (st1 & 3) != TK_INMAP) return;
  uint64_t k = cc_atomic_load_relaxed(&t->key);
  uint64_t st2 = cc_atomic_load_acquire(&t->st);
  if (st2 == st1 && k != key)
    st_violation("%s returned key %llu with the value of key %llu", op, (unsigned long long)key,
                 (unsigned long long)k);
}

/* Without tokens (IBR stall: see run_round), a key's value is a fixed word. */
static inline uint64_t plain_val(uint64_t key) { return st_mix64(key) | 1; }

/* The value an insert, put or replace of key hands the map: a published
 * token, or a plain value when the run has none; 0 when the pool is out. */
static uint64_t val_for_write(worker_t *w, uint64_t key) {
  if (!G.tokens) return plain_val(key);
  uint64_t v = tok_take(w, key);
  if (v) tok_publish(v);
  return v;
}

static void check_value(uint64_t v, uint64_t key, bool live, const char *op) {
  if (!G.tokens) {
    if (v != plain_val(key))
      st_violation("%s(%llu) returned %#llx, the value of no such key", op, (unsigned long long)key,
                   (unsigned long long)v);
  } else if (live) {
    tok_check_live(v, key, op);
  } else {
    tok_check_loose(v, key, op);
  }
}

/* ================================================================ map workers */

/* Key i of the range: multiples of 3 (room for lower/higher probes between
 * keys) and UINT64_MAX as the last, where sentinel mistakes show. */
static inline uint64_t key_of(uint64_t i, uint64_t nkeys) { return i + 1 == nkeys ? UINT64_MAX : i * 3; }

static bool key_valid(uint64_t k, uint64_t nkeys) {
  if (k == UINT64_MAX) return true;
  return k % 3 == 0 && k / 3 + 1 < nkeys;
}

static int pick_op(worker_t *w) {
  static cc_atomic(unsigned) total_cache;
  unsigned total = cc_atomic_load_relaxed(&total_cache);
  if (!total) {
    for (int i = 0; i < OP_N; i++) total += O.mix[i];
    cc_atomic_store_relaxed(&total_cache, total);
  }
  unsigned r = (unsigned)st_rng_below(&w->rng, total);
  for (int i = 0; i < OP_N; i++) {
    if (r < O.mix[i]) return i;
    r -= O.mix[i];
  }
  return OP_GET;
}

static bool enomem_ok(int rc, const char *op, uint64_t key) {
  if (rc != CC_ENOMEM) return false;
  if (!O.fail_every && !O.fail_internal)
    st_violation("%s(%llu) returned CC_ENOMEM without fault injection", op, (unsigned long long)key);
  return true;
}

static void bad_rc(const char *op, uint64_t key, int rc) {
  st_violation("%s(%llu) returned %d (%s), not allowed by its contract", op, (unsigned long long)key,
               rc, cc_strerror(rc));
}

typedef struct {
  uint64_t lo, hi, prev, n, stop_at;
  bool have;
  const char *what;
} scan_t;

static int scan_cb(uint64_t key, void *val, void *arg) {
  scan_t *s = arg;
  if (key < s->lo || key > s->hi)
    st_violation("%s [%llu, %llu] visited key %llu outside the range", s->what,
                 (unsigned long long)s->lo, (unsigned long long)s->hi, (unsigned long long)key);
  if (s->have && key <= s->prev)
    st_violation("%s [%llu, %llu] went %s: %llu after %llu", s->what, (unsigned long long)s->lo,
                 (unsigned long long)s->hi, key == s->prev ? "repeated a key" : "backwards",
                 (unsigned long long)key, (unsigned long long)s->prev);
  if (!key_valid(key, O.keys))
    st_violation("%s visited key %llu that no thread inserts", s->what, (unsigned long long)key);
  check_value((uint64_t)(uintptr_t)val, key, true, s->what);
  s->prev = key;
  s->have = true;
  return ++s->n == s->stop_at ? 7 : 0;
}

static void map_range_op(worker_t *w) {
  uint64_t a = st_rng_below(&w->rng, O.keys), span = 1 + st_rng_below(&w->rng, 64);
  scan_t s = { .lo = key_of(a, O.keys), .what = "cc_map_range" };
  s.hi = a + span >= O.keys ? UINT64_MAX : key_of(a + span, O.keys);
  if (st_rng_below(&w->rng, 16) == 0) s.lo = 0, s.hi = UINT64_MAX;
  if (st_rng_below(&w->rng, 4) == 0) s.stop_at = 1 + st_rng_below(&w->rng, 8);
  cc_smr_enter(G.d);
  int rc = cc_map_range(G.m, s.lo, s.hi, scan_cb, &s);
  cc_smr_leave(G.d);
  int want = s.stop_at && s.n == s.stop_at ? 7 : CC_OK;
  if (rc != want) st_violation("cc_map_range returned %d, expected %d", rc, want);
}

static void map_nav_op(worker_t *w, bool live) {
  static const char *const nn[4] = { "floor", "ceiling", "lower", "higher" };
  unsigned dir = (unsigned)st_rng_below(&w->rng, 4);
  uint64_t r = st_rng_below(&w->rng, 3 * O.keys + 2);
  uint64_t q = r >= 3 * O.keys ? (r == 3 * O.keys ? 0 : UINT64_MAX) : r;
  uint64_t found = 0;
  void *val = NULL;
  int rc = dir == 0 ? cc_map_floor(G.m, q, &found, &val)
         : dir == 1 ? cc_map_ceiling(G.m, q, &found, &val)
         : dir == 2 ? cc_map_lower(G.m, q, &found, &val)
                    : cc_map_higher(G.m, q, &found, &val);
  if (rc == CC_NOT_FOUND) return;
  if (enomem_ok(rc, nn[dir], q)) { /* the BST's navigation may help a removal */
    w->enomem++;
    return;
  }
  if (rc != CC_OK) return bad_rc(nn[dir], q, rc);
  bool ok = dir == 0 ? found <= q : dir == 1 ? found >= q : dir == 2 ? found < q : found > q;
  if (!ok || !key_valid(found, O.keys))
    st_violation("%s(%llu) found key %llu", nn[dir], (unsigned long long)q, (unsigned long long)found);
  check_value((uint64_t)(uintptr_t)val, found, live, nn[dir]);
}

static void map_op(worker_t *w) {
  cc_map_t *m = G.m;
  int op = pick_op(w);
  uint64_t k = key_of(st_rng_below(&w->rng, O.keys), O.keys);
  /* Half of the reads run inside a user section, which must keep what they
   * return alive; the other half run bare (DEBRA+ may neutralise those). */
  bool live = op != OP_INSERT && op != OP_REPLACE && op != OP_RANGE && (st_rng_next(&w->rng) & 1);
  uint64_t v = 0;
  void *out = NULL;
  int rc;
  if (live) cc_smr_enter(G.d);
  switch (op) {
  case OP_INSERT:
  case OP_PUT:
    v = val_for_write(w, k);
    if (!v) break;
    if (op == OP_INSERT) {
      rc = cc_map_insert(m, k, (void *)(uintptr_t)v);
      if (rc == CC_OK) {
        w->ins_sum += k, w->ins_cnt++;
        if (G.tokens) tok_handed(w);
      } else if (rc == CC_EXISTS || enomem_ok(rc, "insert", k)) {
        w->enomem += rc == CC_ENOMEM;
        if (G.tokens) tok_unpublish(v, "insert");
      } else {
        bad_rc("insert", k, rc);
      }
    } else {
      rc = cc_map_put(m, k, (void *)(uintptr_t)v, &out);
      if (rc == CC_OK || rc == CC_EXISTS) {
        if (rc == CC_OK) w->ins_sum += k, w->ins_cnt++;
        else check_value((uint64_t)(uintptr_t)out, k, live, "put (old value)");
        if (G.tokens) tok_handed(w);
      } else if (enomem_ok(rc, "put", k)) {
        w->enomem++;
        if (G.tokens) tok_unpublish(v, "put");
      } else {
        bad_rc("put", k, rc);
      }
    }
    break;
  case OP_REMOVE:
    rc = cc_map_remove(m, k, &out);
    if (rc == CC_OK) {
      w->rem_sum += k, w->rem_cnt++;
      check_value((uint64_t)(uintptr_t)out, k, live, "remove");
    } else if (rc == CC_NOT_FOUND || enomem_ok(rc, "remove", k)) {
      w->enomem += rc == CC_ENOMEM;
    } else {
      bad_rc("remove", k, rc);
    }
    break;
  case OP_POP: {
    uint64_t pk = 0;
    rc = cc_map_pop_first(m, &pk, &out);
    if (rc == CC_OK) {
      w->rem_sum += pk, w->rem_cnt++;
      if (!key_valid(pk, O.keys)) st_violation("pop_first returned key %llu", (unsigned long long)pk);
      check_value((uint64_t)(uintptr_t)out, pk, live, "pop_first");
    } else if (rc != CC_EMPTY) {
      bad_rc("pop_first", 0, rc);
    }
    break;
  }
  case OP_GET:
    rc = cc_map_get(m, k, &out);
    if (rc == CC_OK) check_value((uint64_t)(uintptr_t)out, k, live, "get");
    else if (rc != CC_NOT_FOUND) bad_rc("get", k, rc);
    break;
  case OP_REPLACE: {
    void *cur = NULL;
    if (cc_map_get(m, k, &cur) != CC_OK) cur = (void *)(uintptr_t)(st_rng_next(&w->rng) | 1);
    v = val_for_write(w, k);
    if (!v) break;
    rc = cc_map_replace(m, k, cur, (void *)(uintptr_t)v);
    if (rc == CC_OK) {
      if (G.tokens) tok_handed(w);
    } else if (rc == CC_CHANGED || rc == CC_NOT_FOUND || enomem_ok(rc, "replace", k)) {
      w->enomem += rc == CC_ENOMEM;
      if (G.tokens) tok_unpublish(v, "replace");
    } else {
      bad_rc("replace", k, rc);
    }
    break;
  }
  case OP_NAV:
    map_nav_op(w, live);
    break;
  case OP_FIRSTLAST: {
    bool last = st_rng_next(&w->rng) & 1;
    uint64_t fk = 0;
    rc = last ? cc_map_last(m, &fk, &out) : cc_map_first(m, &fk, &out);
    if (rc == CC_OK) {
      if (!key_valid(fk, O.keys))
        st_violation("%s returned key %llu", last ? "last" : "first", (unsigned long long)fk);
      check_value((uint64_t)(uintptr_t)out, fk, live, last ? "last" : "first");
    } else if (rc == CC_EMPTY || enomem_ok(rc, last ? "last" : "first", 0)) {
      w->enomem += rc == CC_ENOMEM;
    } else {
      bad_rc(last ? "last" : "first", 0, rc);
    }
    break;
  }
  case OP_RANGE:
    map_range_op(w);
    break;
  }
  if (live) cc_smr_leave(G.d);
}

/* ================================================================ queue workers */

#define Q_SEQ_BITS 40
#define Q_SEQ_MASK ((1ull << Q_SEQ_BITS) - 1)

static void queue_consume(worker_t *w, uint64_t v, const char *who) {
  uint64_t p = v >> Q_SEQ_BITS, seq = v & Q_SEQ_MASK;
  if (p >= G.nslots) {
    st_violation("%s dequeued %#llx: no such producer", who, (unsigned long long)v);
    return;
  }
  if (seq + 1 <= w->last[p])
    st_violation("%s dequeued producer %llu's item %llu after item %llu (per-producer FIFO broken%s)",
                 who, (unsigned long long)p, (unsigned long long)seq,
                 (unsigned long long)(w->last[p] - 1), seq + 1 == w->last[p] ? ": duplicate" : "");
  w->last[p] = seq + 1;
  w->seen[p]++;
  w->deq_cnt++;
  w->deq_hash += st_mix64(v);
}

/* Thread roles: balanced, producer-heavy and consumer-heavy threads, so
 * the queue is often empty under contention (the helping paths) and often
 * long (the plain ones). */
static unsigned enqueue_pct(const worker_t *w) {
  static const unsigned pct[3] = { 50, 90, 10 };
  return pct[w->slot % 3];
}

static void queue_op(worker_t *w) {
  if (st_rng_below(&w->rng, 100) < enqueue_pct(w)) {
    uint64_t v = (uint64_t)w->slot << Q_SEQ_BITS | w->next_seq;
    int rc = cc_queue_enqueue(G.q, (void *)(uintptr_t)v);
    if (rc == CC_OK) {
      w->next_seq++;
      w->enq_cnt++;
      w->enq_hash += st_mix64(v);
    } else if (enomem_ok(rc, "enqueue", v)) {
      w->enomem++;
    } else {
      bad_rc("enqueue", v, rc);
    }
  } else {
    void *out = NULL;
    int rc = cc_queue_dequeue(G.q, &out);
    if (rc == CC_OK) queue_consume(w, (uint64_t)(uintptr_t)out, "consumer");
    else if (enomem_ok(rc, "dequeue", 0)) w->enomem++;
    else if (rc != CC_EMPTY) bad_rc("dequeue", 0, rc);
  }
}

/* ================================================================ threads */

static void *worker_main(void *arg) {
  worker_t *w = arg;
  uint64_t n = 0;
  bool registered = false; /* by its first operation: cc_smr_enter cannot report a failure */
  while (!cc_atomic_load_relaxed(&G.stop)) {
    if (O.fail_internal && registered && st_rng_below(&w->rng, O.fail_internal) == 0)
      cc__alloc_internal_fail_next(1);
    registered = true;
    if (G.c.is_map) map_op(w);
    else queue_op(w);
    cc_atomic_add_owner(&w->ops, 1);
    if (w->budget && ++n == w->budget) break;
  }
  /* Churn: half the threads give their records back explicitly, the rest
   * rely on the automatic detach at exit. */
  if (w->budget && (w->rng.s & 2)) cc_thread_detach();
  return NULL;
}

static void spawn(worker_t *w) {
  if (O.churn) w->budget = 50 + st_rng_below(&w->rng, 2000);
  if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
    perror("ccoll-stress: pthread_create");
    exit(2);
  }
  w->running = true;
}

/* Workers stop within one operation of the stop flag: a join that takes
 * half a minute is a hang (a livelock or a lost wake-up); say which and
 * stop the run. */
static void join_or_die(pthread_t th, const char *what) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 30;
  int rc = pthread_timedjoin_np(th, NULL, &ts);
  if (rc == 0) return;
  printf("  HANG: %s did not finish within 30 s after stop (%s, %s, %s)\n", what,
         G.c.is_map ? "map" : "queue", combo_container(&G.c), cc_smr_kind_name(G.c.sk));
  fflush(stdout);
  abort();
}

/* ---------------------------------------------------------------- stall */

static cc_atomic(int) stall_release;
static cc_atomic(uint64_t) stall_phases; /* read phases begun: 1 + restarts */

static void stall_wait(void) {
  cc_atomic_fetch_add_seq_cst(&stall_phases, 1);
  /* nanosleep is a bare system call: leaving it by siglongjmp (DEBRA+
   * neutralisation) is safe, unlike leaving a libc call that holds a lock. */
  while (!cc_atomic_load_acquire(&stall_release)) st_sleep_ns(200000);
}

/* An operation that stops in its read phase: what a preempted or crashed
 * container call looks like to reclamation. */
#define STALL_IN(S)                    \
  do {                                 \
    CC__SMR(S, begin)(t);              \
    CC__SMR_READ_PHASE(S, t);          \
    stall_wait();                      \
    CC__SMR(S, write_phase)(t);        \
    CC__SMR(S, end)(t);                \
  } while (0)

static void *stall_main(void *arg) {
  (void)arg;
  cc__smr_thr_t *t = cc__smr_thr(G.d);
  if (!t) {
    st_violation("stall thread: no thread record (CC_ENOMEM)");
    cc_atomic_fetch_add_seq_cst(&stall_phases, 1);
    return NULL;
  }
  switch (G.c.sk) {
  case CC_SMR_IBR: STALL_IN(ibr); break;
  case CC_SMR_DEBRA: STALL_IN(debra); break;
  case CC_SMR_DEBRA_PLUS: STALL_IN(debrap); break;
  default: STALL_IN(none); break;
  }
  return NULL;
}

/* ================================================================ rounds */

typedef struct {
  uint64_t ops;
  double secs;
  uint64_t enomem, starved, pending_peak, neutralized, stall_bound, stall_peak;
  uint64_t allocs; /* successful ccoll allocations while the workers ran */
  unsigned rounds;
} result_t;

static size_t live_count(void) { return G.c.is_map ? cc_map_size(G.m) : cc_queue_size(G.q); }

/* Reclaimable blocks the live contents occupy: one node per item, except
 * the segment queue (1024 cells per segment, and the partly filled ends). */
static size_t live_blocks(void) {
  size_t n = live_count();
  return !G.c.is_map && G.c.qk == CC_QUEUE_SEGMENT ? n / 1024 + 2 : n;
}

typedef struct {
  uint64_t sum, n, prev;
  bool have;
} final_scan_t;

static int final_cb(uint64_t key, void *val, void *arg) {
  final_scan_t *f = arg;
  if (f->have && key <= f->prev)
    st_violation("final map not sorted: key %llu after %llu", (unsigned long long)key,
                 (unsigned long long)f->prev);
  if (!key_valid(key, O.keys)) st_violation("final map holds key %llu that no thread inserts",
                                            (unsigned long long)key);
  check_value((uint64_t)(uintptr_t)val, key, true, "final scan");
  f->sum += key;
  f->n++;
  f->prev = key;
  f->have = true;
  return 0;
}

static void verify_map(void) {
  uint64_t sum = 0;
  int64_t n = 0;
  uint64_t handed = 0;
  for (unsigned i = 0; i < G.nslots; i++) {
    worker_t *w = &G.w[i];
    sum += w->ins_sum - w->rem_sum;
    n += w->ins_cnt - w->rem_cnt;
    handed += w->handed;
    /* the token a thread still holds never reached the map */
    if (w->owned) {
      cc_atomic_store_relaxed(&g_tok[tok_idx(w->owned)].st, tok_st(w->owned, TK_FREED));
      w->owned = 0;
    }
  }
  final_scan_t f = { 0 };
  int rc = cc_map_range(G.m, 0, UINT64_MAX, final_cb, &f);
  if (rc != CC_OK) st_violation("final cc_map_range returned %d", rc);
  if (f.sum != sum)
    st_violation("key-sum: threads inserted minus removed %llu, the map holds %llu (difference %lld)",
                 (unsigned long long)sum, (unsigned long long)f.sum, (long long)(f.sum - sum));
  if ((int64_t)f.n != n)
    st_violation("count: threads inserted minus removed %lld keys, the map holds %llu", (long long)n,
                 (unsigned long long)f.n);
  size_t size = cc_map_size(G.m);
  if (size != f.n)
    st_violation("cc_map_size() = %zu but a scan finds %llu keys", size, (unsigned long long)f.n);
  /* The BST's quiescent structural check: no marked edge left, routing
   * order holds, leaves ascending (the skip list has no such hook yet). */
  if (G.c.mk == CC_MAP_BST) {
    size_t leaves = 0;
    int src = cc__bst_check(G.m, &leaves);
    if (src != 0 || leaves != f.n)
      st_violation("BST structure check: code %d, %zu leaves for %llu keys scanned", src, leaves,
                   (unsigned long long)f.n);
  }
  cc_map_free(G.m);
  G.m = NULL;
  cc_smr_free(G.d);
  G.d = NULL;
  if (!G.tokens) return;
  uint64_t frees = cc_atomic_load_seq_cst(&G.frees);
  if (frees != handed)
    st_violation("val_free: %llu values handed to the map, %llu freed", (unsigned long long)handed,
                 (unsigned long long)frees);
  uint64_t stuck = 0;
  for (size_t i = 0; i < (size_t)G.nslots * TOK_PER_SLOT; i++)
    if ((cc_atomic_load_relaxed(&g_tok[i].st) & 3) == TK_INMAP) stuck++;
  if (stuck) st_violation("val_free never called for %llu values", (unsigned long long)stuck);
}

static void verify_queue(void) {
  size_t size = cc_queue_size(G.q);
  worker_t drain = { .slot = G.nslots };
  drain.last = calloc(G.nslots, sizeof *drain.last);
  drain.seen = calloc(G.nslots, sizeof *drain.seen);
  if (!drain.last || !drain.seen) abort();
  void *out;
  int rc;
  while ((rc = cc_queue_dequeue(G.q, &out)) == CC_OK) queue_consume(&drain, (uint64_t)(uintptr_t)out, "final drain");
  if (rc != CC_EMPTY) bad_rc("dequeue (final drain)", 0, rc);
  if (drain.deq_cnt != size)
    st_violation("cc_queue_size() = %zu when quiescent, but %llu items were left", size,
                 (unsigned long long)drain.deq_cnt);
  uint64_t ec = 0, eh = 0, dc = drain.deq_cnt, dh = drain.deq_hash;
  for (unsigned i = 0; i < G.nslots; i++) {
    ec += G.w[i].enq_cnt, eh += G.w[i].enq_hash;
    dc += G.w[i].deq_cnt, dh += G.w[i].deq_hash;
  }
  for (unsigned p = 0; p < G.nslots; p++) {
    uint64_t got = drain.seen[p];
    for (unsigned c = 0; c < G.nslots; c++) got += G.w[c].seen[p];
    if (got != G.w[p].next_seq)
      st_violation("producer %u enqueued %llu items, %llu were dequeued (%s)", p,
                   (unsigned long long)G.w[p].next_seq, (unsigned long long)got,
                   got < G.w[p].next_seq ? "lost" : "duplicated");
  }
  if (ec != dc || eh != dh)
    st_violation("queue multiset: %llu enqueued, %llu dequeued, fingerprints %s", (unsigned long long)ec,
                 (unsigned long long)dc, eh == dh ? "equal" : "differ");
  free(drain.last);
  free(drain.seen);
  cc_queue_free(G.q);
  G.q = NULL;
  cc_smr_free(G.d);
  G.d = NULL;
}

static bool create_structure(void) {
  cc_smr_config_t sc = { .kind = G.c.sk };
  if (O.neutralize_every) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", O.neutralize_every);
    setenv("CCOLL_DEBRA_NEUTRALIZE_EVERY", buf, 1);
  }
  G.d = cc_smr_new(&sc);
  if (!G.d) {
    st_violation("cc_smr_new(%s) returned NULL", cc_smr_kind_name(G.c.sk));
    return false;
  }
  if (G.c.is_map) {
    cc_map_config_t mc = { .kind = G.c.mk, .smr = G.d };
    if (G.tokens) mc.val_free = token_free;
    G.m = cc_map_new(&mc);
    if (!G.m) st_violation("cc_map_new(%s, %s) returned NULL (kind not built?)", map_names[G.c.mk],
                           cc_smr_kind_name(G.c.sk));
    return G.m != NULL;
  }
  cc_queue_config_t qc = { .kind = G.c.qk, .smr = G.d };
  G.q = cc_queue_new(&qc);
  if (!G.q) st_violation("cc_queue_new(%s, %s) returned NULL", queue_names[G.c.qk], cc_smr_kind_name(G.c.sk));
  return G.q != NULL;
}

static void stall_sample(const char *when, double t, uint64_t bound, uint64_t epoch0, uint64_t neut0) {
  cc_smr_stats_t s;
  cc_smr_stats(G.d, &s);
  uint64_t phases = cc_atomic_load_relaxed(&stall_phases);
  printf("    stall %-5s t=%5.2fs pending=%-8llu peak=%-8llu bound=%-8llu epoch+%llu neutralized+%llu "
         "stalled-thread-restarts=%llu\n",
         when, t, (unsigned long long)s.pending, (unsigned long long)s.pending_peak, (unsigned long long)bound,
         (unsigned long long)(s.epoch - epoch0), (unsigned long long)(s.neutralized - neut0),
         (unsigned long long)(phases ? phases - 1 : 0));
  fflush(stdout);
}

/* Where the stall must keep garbage bounded: IBR bounds what is born after
 * the stalled reservation; DEBRA+ neutralises a thread stalled in a read
 * phase, except under TSan where neutralisation is compiled out. */
static bool stall_bounded(cc_smr_kind_t k) {
  return k == CC_SMR_IBR || (k == CC_SMR_DEBRA_PLUS && !CC_TSAN);
}

static void run_round(const combo_t *c, double dur, unsigned round, result_t *res) {
  memset(&G, 0, sizeof G);
  G.c = *c;
  /* IBR cannot date objects given to retire_fn (map values under val_free)
   * and keeps them behind any reservation: documented, so the IBR stall runs
   * with caller-owned values and bounds the nodes. */
  G.tokens = c->is_map && !(O.stall && c->sk == CC_SMR_IBR);
  G.nslots = O.threads;
  cc_alloc_snapshot_t s0 = cc_alloc_stats_snapshot();
  if (!create_structure()) {
    if (G.d) cc_smr_free(G.d);
    return;
  }
  G.w = calloc(G.nslots, sizeof *G.w);
  if (!G.w) abort();
  if (G.tokens) memset(g_tok, 0, (size_t)G.nslots * TOK_PER_SLOT * sizeof *g_tok);
  for (unsigned i = 0; i < G.nslots; i++) {
    worker_t *w = &G.w[i];
    w->slot = i;
    st_rng_seed(&w->rng, O.seed ^ (uint64_t)round << 32 ^ i * 0x9e37ull);
    if (!c->is_map) {
      w->last = calloc(G.nslots, sizeof *w->last);
      w->seen = calloc(G.nslots, sizeof *w->seen);
      if (!w->last || !w->seen) abort();
    }
  }
  cc_atomic_store_seq_cst(&stall_release, 0);
  cc_atomic_store_seq_cst(&stall_phases, 0);
  if (O.fail_every) cc__alloc_fail_every(O.fail_every);
  uint64_t allocs0 = cc_alloc_stats_snapshot().alloc_count;
  for (unsigned i = 0; i < G.nslots; i++) spawn(&G.w[i]);

  uint64_t t0 = st_now_ns(), dur_ns = (uint64_t)(dur * 1e9), end = t0 + dur_ns;
  uint64_t stall_at = t0 + dur_ns * 3 / 10, next_report = 0, next_progress = t0 + 10000000000ull;
  uint64_t bound = 0, bound_base = 0, max_live = 0, epoch0 = 0, neut0 = 0;
  bool stalling = false;
  pthread_t stall_th;
  unsigned next_slot = 0;
  for (uint64_t now = t0; now < end; now = st_now_ns()) {
    if (O.stall && !stalling && now >= stall_at) {
      if (pthread_create(&stall_th, NULL, stall_main, NULL) != 0) abort();
      /* measured once the thread is inside its read phase */
      while (!cc_atomic_load_acquire(&stall_phases)) st_sleep_ns(100000);
      cc_smr_stats_t s;
      cc_smr_stats(G.d, &s);
      /* nodes alive may all be born before some reservation: the bound
       * grows with the largest size the structure reaches while stalled
       * (a queue filled by producer-heavy threads, a descheduled worker's
       * reservation pinning everything alive then) */
      bound_base = 2 * s.pending_peak + 8192;
      max_live = live_blocks();
      bound = bound_base + 4 * max_live;
      epoch0 = s.epoch, neut0 = s.neutralized;
      stalling = true;
      now = st_now_ns();
      next_report = now;
    }
    if (stalling) {
      size_t live = live_blocks();
      if (live > max_live) max_live = live, bound = bound_base + 4 * max_live;
    }
    if (stalling && now >= next_report) {
      stall_sample("", (double)(now - t0) / 1e9, bound, epoch0, neut0);
      next_report = now + dur_ns / 5;
    }
    if (O.long_form && now >= next_progress) {
      uint64_t ops = 0;
      for (unsigned i = 0; i < G.nslots; i++) ops += cc_atomic_load_relaxed(&G.w[i].ops);
      printf("    ... %s %s round %u: %.0f/%.0f s, %.2f Mops/s\n", combo_container(c),
             cc_smr_kind_name(c->sk), round, (double)(now - t0) / 1e9, dur,
             (double)ops / ((double)(now - t0) / 1e3));
      fflush(stdout);
      next_progress = now + 10000000000ull;
    }
    if (O.churn) {
      worker_t *w = &G.w[next_slot];
      join_or_die(w->th, "a churn thread");
      spawn(w);
      next_slot = (next_slot + 1) % G.nslots;
    } else {
      st_sleep_ns(5000000);
    }
  }
  cc_atomic_store_seq_cst(&G.stop, 1);
  for (unsigned i = 0; i < G.nslots; i++) join_or_die(G.w[i].th, "a worker");
  double secs = (double)(st_now_ns() - t0) / 1e9;
  if (stalling) {
    cc_smr_stats_t s;
    cc_smr_stats(G.d, &s);
    stall_sample("end", secs, bound, epoch0, neut0);
    if (stall_bounded(c->sk) && s.pending_peak > bound)
      st_violation("stall: pending garbage peaked at %llu, past the bound %llu (%s)",
                   (unsigned long long)s.pending_peak, (unsigned long long)bound, cc_smr_kind_name(c->sk));
    /* A stall that does not hold DEBRA's epoch is no stall: the test would
     * prove nothing (or the scheme advanced past a thread in an operation). */
    if ((c->sk == CC_SMR_DEBRA || (c->sk == CC_SMR_DEBRA_PLUS && CC_TSAN)) && s.epoch > epoch0 + 1)
      st_violation("stall: %s epoch advanced by %llu past a thread stalled in an operation",
                   cc_smr_kind_name(c->sk), (unsigned long long)(s.epoch - epoch0));
    res->stall_bound = bound > res->stall_bound ? bound : res->stall_bound;
    res->stall_peak = s.pending_peak > res->stall_peak ? s.pending_peak : res->stall_peak;
    cc_atomic_store_seq_cst(&stall_release, 1);
    join_or_die(stall_th, "the stalled thread");
  }
  if (O.fail_every) cc__alloc_fail_every(0);
  res->allocs += cc_alloc_stats_snapshot().alloc_count - allocs0;

  cc_smr_stats_t s;
  cc_smr_stats(G.d, &s);
  res->pending_peak = s.pending_peak > res->pending_peak ? s.pending_peak : res->pending_peak;
  res->neutralized += s.neutralized;
  for (unsigned i = 0; i < G.nslots; i++) {
    res->ops += cc_atomic_load_relaxed(&G.w[i].ops);
    res->enomem += G.w[i].enomem;
    res->starved += G.w[i].starved;
  }
  res->secs += secs;
  res->rounds++;
  if (c->is_map) verify_map();
  else verify_queue();

  cc_alloc_snapshot_t s1 = cc_alloc_stats_snapshot();
  int64_t live0 = (int64_t)(s0.alloc_count - s0.free_count), live1 = (int64_t)(s1.alloc_count - s1.free_count);
  if (live1 != live0 || s1.current_allocated != s0.current_allocated)
    st_violation("memory: after freeing the %s and its domain, %lld blocks / %lld bytes more are live "
                 "than before the round",
                 c->is_map ? "map" : "queue", (long long)(live1 - live0),
                 (long long)(s1.current_allocated - s0.current_allocated));
  for (unsigned i = 0; i < G.nslots; i++) {
    free(G.w[i].last);
    free(G.w[i].seen);
  }
  free(G.w);
}

/* ================================================================ lin */

#define LIN_THREADS_MAX 4

static struct {
  pthread_barrier_t start, done;
  cc_atomic(int) quit;
  cc_atomic(uint64_t) clock;
  unsigned nthreads, per_thread;
  lin_model_t model;
  lin_op_t ops[LIN_MAXOPS];
  uint64_t burst;             /* bursts started (written by main between barriers) */
  cc_atomic(unsigned) arrived; /* threads arrived at a burst's rendezvous, all bursts */
} L;

typedef struct {
  unsigned id;
  st_rng_t rng;
  uint64_t seq;
  uint64_t seen[LIN_MAXK]; /* a value observed per key, for replace's expected */
} lin_worker_t;

static uint64_t lin_stamp(void) { return cc_atomic_fetch_add_seq_cst(&L.clock, 1); }

static void lin_map_op(lin_worker_t *w, lin_op_t *o) {
  const lin_model_t *md = &L.model;
  unsigned ki = (unsigned)st_rng_below(&w->rng, md->nkeys);
  uint64_t k = md->keys[ki];
  uint64_t fresh = (uint64_t)(w->id + 1) << 48 | ++w->seq;
  void *out = NULL;
  uint64_t fk = 0;
  unsigned r = (unsigned)st_rng_below(&w->rng, 100);
  o->k = k;
  if (r < 16) o->kind = LIN_INSERT;
  else if (r < 26) o->kind = LIN_PUT;
  else if (r < 40) o->kind = LIN_GET;
  else if (r < 54) o->kind = LIN_REMOVE;
  else if (r < 62) o->kind = LIN_REPLACE;
  else if (r < 86) o->kind = (uint8_t)(LIN_FLOOR + st_rng_below(&w->rng, 4));
  else if (r < 94) o->kind = st_rng_next(&w->rng) & 1 ? LIN_FIRST : LIN_LAST;
  else o->kind = LIN_POP_FIRST;
  if (o->kind >= LIN_FLOOR && o->kind <= LIN_HIGHER) {
    /* probes on, between and beyond the keys */
    uint64_t p = st_rng_below(&w->rng, 4);
    o->k = p == 0 ? k : p == 1 ? k + 1 : p == 2 ? k - 1 : (st_rng_next(&w->rng) & 1 ? 0 : UINT64_MAX);
  }
  o->a = o->kind == LIN_REPLACE ? (w->seen[ki] && (st_rng_below(&w->rng, 4) != 0) ? w->seen[ki] : fresh ^ 1)
                                : fresh;
  o->b = fresh;
  o->inv = lin_stamp();
  switch (o->kind) {
  case LIN_INSERT: o->rc = cc_map_insert(G.m, k, (void *)(uintptr_t)o->a); break;
  case LIN_PUT: o->rc = cc_map_put(G.m, k, (void *)(uintptr_t)o->a, &out); break;
  case LIN_GET: o->rc = cc_map_get(G.m, k, &out); break;
  case LIN_REMOVE: o->rc = cc_map_remove(G.m, k, &out); break;
  case LIN_REPLACE: o->rc = cc_map_replace(G.m, k, (void *)(uintptr_t)o->a, (void *)(uintptr_t)o->b); break;
  case LIN_FLOOR: o->rc = cc_map_floor(G.m, o->k, &fk, &out); break;
  case LIN_CEILING: o->rc = cc_map_ceiling(G.m, o->k, &fk, &out); break;
  case LIN_LOWER: o->rc = cc_map_lower(G.m, o->k, &fk, &out); break;
  case LIN_HIGHER: o->rc = cc_map_higher(G.m, o->k, &fk, &out); break;
  case LIN_FIRST: o->rc = cc_map_first(G.m, &fk, &out); break;
  case LIN_LAST: o->rc = cc_map_last(G.m, &fk, &out); break;
  default: o->rc = cc_map_pop_first(G.m, &fk, &out); break;
  }
  o->res = lin_stamp();
  o->rk = fk;
  o->rv = (uint64_t)(uintptr_t)out;
  if (o->rc == CC_OK && o->rv) {
    int s = lin_key_slot(md, o->kind >= LIN_FLOOR ? fk : k);
    if (s >= 0) w->seen[s] = o->rv;
  }
}

static void lin_queue_op(lin_worker_t *w, lin_op_t *o) {
  void *out = NULL;
  o->k = 0;
  o->a = (uint64_t)(w->id + 1) << 48 | ++w->seq;
  o->kind = st_rng_next(&w->rng) & 1 ? LIN_ENQ : LIN_DEQ;
  o->inv = lin_stamp();
  if (o->kind == LIN_ENQ) o->rc = cc_queue_enqueue(G.q, (void *)(uintptr_t)o->a);
  else o->rc = cc_queue_dequeue(G.q, &out);
  o->res = lin_stamp();
  o->rv = (uint64_t)(uintptr_t)out;
}

/* Barrier wake-ups are tens of microseconds apart, longer than a whole
 * burst: without a spinning rendezvous the bursts would run one after the
 * other and the history would be sequential. */
static void lin_rendezvous(void) {
  cc_atomic_fetch_add_seq_cst(&L.arrived, 1);
  for (unsigned spins = 0; cc_atomic_load_acquire(&L.arrived) < L.nthreads * L.burst; spins++)
    if (spins > 20000) sched_yield();
    else cc_atomic_pause();
}

static void lin_jitter(lin_worker_t *w) {
  for (uint64_t i = st_rng_below(&w->rng, 64); i > 0; i--) cc_atomic_pause();
}

static void *lin_worker_main(void *arg) {
  lin_worker_t *w = arg;
  for (;;) {
    pthread_barrier_wait(&L.start);
    if (cc_atomic_load_seq_cst(&L.quit)) break;
    lin_rendezvous();
    for (unsigned j = 0; j < L.per_thread; j++) {
      lin_jitter(w);
      lin_op_t *o = &L.ops[w->id * L.per_thread + j];
      o->thread = (uint8_t)w->id;
      if (G.c.is_map) lin_map_op(w, o);
      else lin_queue_op(w, o);
    }
    pthread_barrier_wait(&L.done);
  }
  return NULL;
}

static int lin_state_cb(uint64_t key, void *val, void *arg) {
  lin_state_t *s = arg;
  int i = lin_key_slot(&L.model, key);
  if (i < 0) st_violation("lin: the map holds key %llu no thread inserted", (unsigned long long)key);
  else s->w[i] = (uint64_t)(uintptr_t)val;
  return 0;
}

/* At quiescence: the map's contents, or the queue drained (so each burst
 * starts from an empty queue and ends in the drained sequence). */
static void lin_observe(lin_state_t *s) {
  memset(s, 0, sizeof *s);
  if (G.c.is_map) {
    cc_map_range(G.m, 0, UINT64_MAX, lin_state_cb, s);
    return;
  }
  void *out;
  while (cc_queue_dequeue(G.q, &out) == CC_OK) {
    if (s->w[0] + 1 < LIN_WORDS) s->w[1 + s->w[0]] = (uint64_t)(uintptr_t)out;
    s->w[0]++;
  }
}

static void run_lin(const combo_t *c, double dur, result_t *res, uint64_t *checked, uint64_t *undecided,
                    uint64_t *overlapped) {
  memset(&G, 0, sizeof G);
  memset(&L, 0, sizeof L);
  G.c = *c;
  cc_alloc_snapshot_t s0 = cc_alloc_stats_snapshot();
  if (!create_structure()) {
    if (G.d) cc_smr_free(G.d);
    return;
  }
  /* More threads than CPUs only serialise the bursts (a descheduled thread
   * runs its burst alone), so no more than the CPUs, and at least two. */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned cap = ncpu < 2 ? 2 : ncpu > LIN_THREADS_MAX ? LIN_THREADS_MAX : (unsigned)ncpu;
  L.nthreads = O.threads < 2 ? 2 : O.threads > cap ? cap : O.threads;
  L.per_thread = LIN_MAXOPS / L.nthreads > 24 ? 24 : LIN_MAXOPS / L.nthreads;
  lin_model_t *md = &L.model;
  md->queue = !c->is_map;
  md->nkeys = O.keys > LIN_MAXK ? LIN_MAXK : (unsigned)O.keys;
  for (unsigned i = 0; i < md->nkeys; i++) md->keys[i] = key_of(i, md->nkeys);
  md->nwords = md->queue ? LIN_WORDS : md->nkeys;
  lin_search_t srch = { .memo = calloc(LIN_MEMO_SIZE, sizeof(lin_memo_t)) };
  lin_worker_t *ws = calloc(L.nthreads, sizeof *ws);
  pthread_t th[LIN_THREADS_MAX];
  if (!srch.memo || !ws) abort();
  pthread_barrier_init(&L.start, NULL, L.nthreads + 1);
  pthread_barrier_init(&L.done, NULL, L.nthreads + 1);
  for (unsigned i = 0; i < L.nthreads; i++) {
    ws[i].id = i;
    st_rng_seed(&ws[i].rng, O.seed ^ 0x11ull * (i + 1));
    if (pthread_create(&th[i], NULL, lin_worker_main, &ws[i]) != 0) abort();
  }
  unsigned n = L.nthreads * L.per_thread;
  uint64_t t0 = st_now_ns(), end = t0 + (uint64_t)(dur * 1e9), failed = 0;
  lin_state_t init, fin;
  lin_observe(&init);
  while (st_now_ns() < end && *checked < 20000) {
    L.burst++;
    pthread_barrier_wait(&L.start);
    pthread_barrier_wait(&L.done);
    lin_observe(&fin);
    if (md->queue && fin.w[0] + 1 >= LIN_WORDS) st_violation("lin: queue left with %llu items", (unsigned long long)fin.w[0]);
    int r = lin_check(&srch, md, L.ops, n, &init, &fin);
    (*checked)++;
    *overlapped += lin_concurrent(L.ops, n);
    if (r < 0) (*undecided)++;
    if (r == 0) {
      st_violation("lin: history %llu of %s/%s is not linearizable", (unsigned long long)*checked,
                   combo_container(c), cc_smr_kind_name(c->sk));
      if (failed++ < 2) lin_print_history(md, L.ops, n, &init, &fin);
    }
    /* a drained queue starts the next burst empty */
    if (md->queue) memset(&init, 0, sizeof init);
    else init = fin;
    res->ops += n;
  }
  cc_atomic_store_seq_cst(&L.quit, 1);
  pthread_barrier_wait(&L.start);
  for (unsigned i = 0; i < L.nthreads; i++) join_or_die(th[i], "a lin worker");
  pthread_barrier_destroy(&L.start);
  pthread_barrier_destroy(&L.done);
  res->secs += (double)(st_now_ns() - t0) / 1e9;
  res->rounds++;
  free(srch.memo);
  free(ws);
  if (c->is_map) cc_map_free(G.m);
  else cc_queue_free(G.q);
  cc_smr_free(G.d);
  cc_alloc_snapshot_t s1 = cc_alloc_stats_snapshot();
  if (s1.alloc_count - s1.free_count != s0.alloc_count - s0.free_count ||
      s1.current_allocated != s0.current_allocated)
    st_violation("memory: blocks still live after freeing the structure and its domain (lin)");
}

/* ================================================================ driver */

static bool run_combo(const combo_t *c) {
  uint64_t v0 = st_violation_count();
  result_t r = { 0 };
  uint64_t checked = 0, undecided = 0, overlapped = 0;
  if (O.lin) {
    run_lin(c, O.seconds, &r, &checked, &undecided, &overlapped);
  } else {
    /* NONE frees nothing before its domain goes: short rounds keep memory
     * (and the value pool) finite. Every round is checked in full. */
    double round_max = c->sk == CC_SMR_NONE ? 2 : O.round_max;
    double left = O.seconds, shown = 0;
    for (unsigned round = 0; left > 1e-3; round++) {
      double d = left > round_max ? round_max : left;
      run_round(c, d, round, &r);
      left -= d;
      if (O.long_form && left > 1e-3 && O.seconds - left >= shown + 10) {
        shown = O.seconds - left;
        printf("    ... %s %s %s: %.0f/%.0f s, %.3f Mops/s, %llu violation(s) so far\n", c->is_map ? "map" : "queue",
               combo_container(c), cc_smr_kind_name(c->sk), shown, O.seconds,
               r.secs > 0 ? (double)r.ops / r.secs / 1e6 : 0.0, (unsigned long long)(st_violation_count() - v0));
      }
    }
  }
  uint64_t v = st_violation_count() - v0;
  char extra[256];
  int off = 0;
  if (O.lin)
    off += snprintf(extra + off, sizeof extra - off, " %llu histories checked (%llu with concurrent ops, %llu undecided)",
                    (unsigned long long)checked, (unsigned long long)overlapped, (unsigned long long)undecided);
  else
    off += snprintf(extra + off, sizeof extra - off, " pending_peak=%llu", (unsigned long long)r.pending_peak);
  if (O.stall) off += snprintf(extra + off, sizeof extra - off, " stall_peak=%llu/bound=%llu%s",
                               (unsigned long long)r.stall_peak, (unsigned long long)r.stall_bound,
                               stall_bounded(c->sk) ? "" : "(not enforced)");
  if (O.fail_every || O.fail_internal)
    off += snprintf(extra + off, sizeof extra - off, " enomem=%llu", (unsigned long long)r.enomem);
  if (c->sk == CC_SMR_DEBRA_PLUS) off += snprintf(extra + off, sizeof extra - off, " neutralized=%llu",
                                                  (unsigned long long)r.neutralized);
  /* Forced neutralisation must have run the recovery paths it exists for. */
  if (O.neutralize_every && c->sk == CC_SMR_DEBRA_PLUS && !CC_TSAN && !O.lin && r.neutralized == 0 && v == 0) {
    st_violation("--neutralize-every %ld: no thread was neutralised", O.neutralize_every);
    v++;
  }
  if (r.starved) snprintf(extra + off, sizeof extra - off, " value-pool-starved=%llu", (unsigned long long)r.starved);
  /* The injection must have been reached where allocations were plentiful
   * (a segment queue allocates once per many operations). */
  if (O.fail_every && !O.lin && r.enomem == 0 && v == 0 && r.allocs >= 20 * O.fail_every) {
    st_violation("--fail-alloc %llu: no operation saw CC_ENOMEM (fault injection not reached)",
                 (unsigned long long)O.fail_every);
    v++;
  }
  printf("%-5s %-8s %-6s thr=%-3u %s=%-4llu %8.3f Mops/s %s%s\n", c->is_map ? "map" : "queue",
         combo_container(c), cc_smr_kind_name(c->sk), O.lin ? L.nthreads : O.threads,
         c->is_map ? "keys" : "rnds", (unsigned long long)(c->is_map ? (O.lin ? L.model.nkeys : O.keys) : r.rounds),
         r.secs > 0 ? (double)r.ops / r.secs / 1e6 : 0.0, v ? "FAIL" : "ok", extra);
  if (v) printf("  %s %s/%s: %llu violation(s) (seed %llu)\n", c->is_map ? "map" : "queue", combo_container(c),
                cc_smr_kind_name(c->sk), (unsigned long long)v, (unsigned long long)O.seed);
  fflush(stdout);
  return v == 0;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (O.lin && !lin_selftest()) {
    printf("ccoll-stress: the linearizability checker failed its self-test\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  cc_alloc_stats_enable(true);
  g_ntok = (size_t)O.threads * TOK_PER_SLOT;
  g_tok = calloc(g_ntok, sizeof *g_tok);
  if (!g_tok) {
    perror("ccoll-stress");
    return 2;
  }
  char modes[160] = "";
  int off = 0;
  if (O.stall) off += snprintf(modes + off, sizeof modes - off, " stall");
  if (O.churn) off += snprintf(modes + off, sizeof modes - off, " churn");
  if (O.lin) off += snprintf(modes + off, sizeof modes - off, " lin");
  if (O.fail_every) off += snprintf(modes + off, sizeof modes - off, " fail-alloc=%llu", (unsigned long long)O.fail_every);
  if (O.fail_internal)
    off += snprintf(modes + off, sizeof modes - off, " fail-internal=%llu", (unsigned long long)O.fail_internal);
  if (O.neutralize_every) snprintf(modes + off, sizeof modes - off, " neutralize-every=%ld", O.neutralize_every);
  printf("ccoll-stress %s: seed %llu, %u threads, %.1f s per combination%s%s%s\n", cc_version(),
         (unsigned long long)O.seed, O.threads, O.seconds, *modes ? ", modes:" : "", modes,
         CC_TSAN ? " (TSan: DEBRA+ neutralisation compiled out)" : CC_ASAN ? " (ASan)" : "");
  unsigned passed = 0, failed = 0;
  for (int mk = 0; mk < 2; mk++) {
    if (!(O.map_mask >> mk & 1)) continue;
    for (int s = 0; s < 4; s++) {
      if (!(O.smr_mask >> smr_kinds[s] & 1)) continue;
      combo_t c = { .is_map = true, .mk = (cc_map_kind_t)mk, .sk = smr_kinds[s] };
      run_combo(&c) ? passed++ : failed++;
    }
  }
  for (int qk = CC_QUEUE_MS; qk <= CC_QUEUE_SEGMENT; qk++) {
    if (!(O.queue_mask >> qk & 1)) continue;
    for (int s = 0; s < 4; s++) {
      if (!(O.smr_mask >> smr_kinds[s] & 1)) continue;
      combo_t c = { .is_map = false, .qk = (cc_queue_kind_t)qk, .sk = smr_kinds[s] };
      run_combo(&c) ? passed++ : failed++;
    }
  }
  free(g_tok);
  printf("%u passed, %u failed\n", passed, failed);
  return failed ? 1 : 0;
}
