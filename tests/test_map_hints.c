/* The skip list's key hints (src/containers/skiplist.c, sl_word_t) are only
 * hints: a stale one, too small or too large, may cost a search time but
 * never change an answer. Two ways to get stale hints:
 *   - scrambled: every hint of a quiescent map set to an arbitrary value
 *     (cc__skiplist_scramble_hints), then every operation checked against
 *     a sequential model, and updates made on top of the bad hints;
 *   - raced: writers inserting and removing neighbouring keys (the races
 *     that leave hints stale: two writers on one predecessor and level),
 *     with readers checking keys that are never removed, and scrambles
 *     between the rounds.
 * u64 and bytes keys on every scheme. The bytes keys share their 8-byte
 * prefix (the hint) in groups of eight, so equal hints, which decide
 * nothing, are met all the time. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccoll.h"
#include "ccoll/map.h"
#include "containers/map_internal.h"

static const cc_smr_kind_t schemes[] = {CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR};
#define NSCHEMES 4

static uint64_t xs(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}

/* Bytes key of k, in u64 order: the 8 bytes of k / 8, big-endian, then
 * k % 8 as a ninth byte, left out when 0 (the shorter key sorts first). */
typedef struct {
  unsigned char b[9];
  size_t len;
} bkey_t;

static bkey_t bkey(uint64_t k) {
  bkey_t e;
  for (int i = 0; i < 8; i++) e.b[i] = (unsigned char)((k / 8) >> (56 - 8 * i));
  e.b[8] = (unsigned char)(k % 8);
  e.len = k % 8 ? 9 : 8;
  return e;
}

static uint64_t bkey_decode(const void *p, size_t len) {
  const unsigned char *b = p;
  uint64_t q = 0;
  for (int i = 0; i < 8; i++) q = q << 8 | b[i];
  return q * 8 + (len == 9 ? b[8] : 0);
}

static int m_insert(cc_map_t *m, bool bytes, uint64_t k, void *v) {
  if (!bytes) return cc_map_insert(m, k, v);
  bkey_t e = bkey(k);
  return cc_map_insert_bytes(m, e.b, e.len, v);
}
static int m_get(cc_map_t *m, bool bytes, uint64_t k, void **v) {
  if (!bytes) return cc_map_get(m, k, v);
  bkey_t e = bkey(k);
  return cc_map_get_bytes(m, e.b, e.len, v);
}
static int m_remove(cc_map_t *m, bool bytes, uint64_t k, void **v) {
  if (!bytes) return cc_map_remove(m, k, v);
  bkey_t e = bkey(k);
  return cc_map_remove_bytes(m, e.b, e.len, v);
}

static void *val_of(uint64_t k) { return (void *)(uintptr_t)(k * 2 + 2); }

/* Range callback: keys strictly increasing, each present in `in`, counted. */
typedef struct {
  const bool *in;
  uint64_t nkeys;
  bool bytes;
  bool started;
  uint64_t last, seen;
} scan_t;

static int scan_visit(const void *key, size_t len, void *val, void *arg) {
  scan_t *s = arg;
  uint64_t k = s->bytes ? bkey_decode(key, len) : *(const uint64_t *)key;
  cr_assert(k < s->nkeys, "range reported a key never inserted: %llu", (unsigned long long)k);
  cr_assert(!s->started || k > s->last, "range out of order: %llu after %llu",
            (unsigned long long)k, (unsigned long long)s->last);
  cr_assert(s->in[k], "range reported an absent key %llu", (unsigned long long)k);
  cr_assert_eq(val, val_of(k));
  s->started = true;
  s->last = k;
  s->seen++;
  return 0;
}

static int scan_u64(uint64_t key, void *val, void *arg) { return scan_visit(&key, 8, val, arg); }

/* The whole map against `in`: every key by get, then one ordered range. */
static void check_all(cc_map_t *m, bool bytes, const bool *in, uint64_t nkeys) {
  uint64_t n = 0;
  for (uint64_t k = 0; k < nkeys; k++) {
    void *v = NULL;
    int r = m_get(m, bytes, k, &v);
    cr_assert_eq(r, in[k] ? CC_OK : CC_NOT_FOUND, "get(%llu)", (unsigned long long)k);
    if (in[k]) {
      cr_assert_eq(v, val_of(k));
      n++;
    }
  }
  scan_t s = {in, nkeys, bytes, false, 0, 0};
  int r = bytes ? cc_map_range_bytes(m, "", 0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9, scan_visit, &s)
                : cc_map_range(m, 0, UINT64_MAX, scan_u64, &s);
  cr_assert_eq(r, CC_OK);
  cr_assert_eq(s.seen, n);
  cr_assert_eq(cc_map_size(m), n);
}

/* The map against `in` before and after its hints are scrambled. */
static void check_scrambled(cc_map_t *m, bool bytes, const bool *in, uint64_t nkeys, uint64_t seed) {
  check_all(m, bytes, in, nkeys);
  cc__skiplist_scramble_hints(m, seed);
  check_all(m, bytes, in, nkeys);
}

static void every_scheme_and_key_kind(void (*run)(cc_smr_kind_t sk, bool bytes)) {
  for (int i = 0; i < NSCHEMES; i++)
    for (int b = 0; b < 2; b++) run(schemes[i], b);
}

/* ------------------------------------------------------------------ scrambled */

#define SK 600 /* keys 0..SK-1 */

static void model_run(cc_smr_kind_t sk, bool bytes) {
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = sk});
  cc_map_t *m = cc_map_new(&(cc_map_config_t){.key_kind = bytes ? CC_KEY_BYTES : CC_KEY_U64, .smr = d});
  cr_assert_not_null(m);
  static bool in[SK];
  memset(in, 0, sizeof in);
  uint64_t s = 0x2545f4914f6cdd1dull + (uint64_t)sk * 7 + bytes;
  for (int op = 0; op < 40000; op++) {
    if (op % 97 == 0) cc__skiplist_scramble_hints(m, xs(&s));
    uint64_t k = xs(&s) % SK, r = xs(&s) % 100;
    void *v = NULL;
    if (r < 30) {
      cr_assert_eq(m_insert(m, bytes, k, val_of(k)), in[k] ? CC_EXISTS : CC_OK);
      in[k] = true;
    } else if (r < 55) {
      cr_assert_eq(m_remove(m, bytes, k, &v), in[k] ? CC_OK : CC_NOT_FOUND);
      if (in[k]) cr_assert_eq(v, val_of(k));
      in[k] = false;
    } else if (r < 90 || bytes) {
      cr_assert_eq(m_get(m, bytes, k, &v), in[k] ? CC_OK : CC_NOT_FOUND, "get(%llu)", (unsigned long long)k);
      if (in[k]) cr_assert_eq(v, val_of(k));
    } else {
      /* ceiling and floor against the model */
      uint64_t f = 0;
      int64_t want = -1;
      for (uint64_t j = k; j < SK && want < 0; j++)
        if (in[j]) want = (int64_t)j;
      int rc = cc_map_ceiling(m, k, &f, &v);
      if (want < 0) cr_assert_eq(rc, CC_NOT_FOUND);
      else cr_assert(rc == CC_OK && f == (uint64_t)want, "ceiling(%llu)", (unsigned long long)k);
      want = -1;
      for (int64_t j = (int64_t)k; j >= 0 && want < 0; j--)
        if (in[j]) want = j;
      rc = cc_map_floor(m, k, &f, &v);
      if (want < 0) cr_assert_eq(rc, CC_NOT_FOUND);
      else cr_assert(rc == CC_OK && f == (uint64_t)want, "floor(%llu)", (unsigned long long)k);
    }
    if (op % 5000 == 4999) check_all(m, bytes, in, SK);
  }
  check_scrambled(m, bytes, in, SK, xs(&s));
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map_hints, scrambled_hints_change_no_answer) { every_scheme_and_key_kind(model_run); }

/* ------------------------------------------------------------------ raced */

/* Stable keys 8j are inserted first and never removed; each writer owns
 * the keys 8j + o for its offsets o (writers interleave: 1,3,5,7 and
 * 2,4,6), so the writers' nodes are neighbours and race on the same
 * predecessors. Readers get stable keys, which must always be there. */
#define RJ 512
#define RK (8 * RJ)
#define WRITERS 2
#define READERS 2

typedef struct {
  cc_map_t *m;
  bool bytes;
  int id;
  atomic_bool *stop;
  bool *in; /* the writer's own keys: what it left in the map */
  /* (no assertions off the main thread) writers: an insert or remove of
   * an own key that failed; readers: a stable key not found */
  uint64_t errors;
} rctx_t;

static void *writer(void *arg) {
  rctx_t *c = arg;
  uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(c->id + 1);
  while (!atomic_load(c->stop)) {
    for (int i = 0; i < 256; i++) {
      uint64_t j = xs(&s) % RJ, o = 1 + (uint64_t)c->id + 2 * (xs(&s) % (c->id ? 3 : 4));
      uint64_t k = 8 * j + o;
      void *v = NULL;
      if (!c->in[k]) {
        c->errors += m_insert(c->m, c->bytes, k, val_of(k)) != CC_OK;
        c->in[k] = true;
      } else {
        c->errors += m_remove(c->m, c->bytes, k, &v) != CC_OK || v != val_of(k);
        c->in[k] = false;
      }
    }
  }
  return NULL;
}

static void *reader(void *arg) {
  rctx_t *c = arg;
  uint64_t s = 0x853c49e6748fea9bull * (uint64_t)(c->id + 1);
  while (!atomic_load(c->stop)) {
    for (int i = 0; i < 256; i++) {
      uint64_t k = 8 * (xs(&s) % RJ);
      void *v = NULL;
      if (m_get(c->m, c->bytes, k, &v) != CC_OK || v != val_of(k)) c->errors++;
      if (!c->bytes) {
        /* the least key above a stable one is at most the next stable one */
        uint64_t f = 0;
        if (k + 8 < RK && (cc_map_higher(c->m, k, &f, &v) != CC_OK || f <= k || f > k + 8)) c->errors++;
      }
    }
  }
  return NULL;
}

static void raced_run(cc_smr_kind_t sk, bool bytes) {
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = sk});
  cc_map_t *m = cc_map_new(&(cc_map_config_t){.key_kind = bytes ? CC_KEY_BYTES : CC_KEY_U64, .smr = d});
  cr_assert_not_null(m);
  static bool in[RK], own[WRITERS][RK];
  memset(in, 0, sizeof in);
  memset(own, 0, sizeof own);
  for (uint64_t j = 0; j < RJ; j++) {
    cr_assert_eq(m_insert(m, bytes, 8 * j, val_of(8 * j)), CC_OK);
    in[8 * j] = true;
  }
  for (int round = 0; round < 3; round++) {
    atomic_bool stop = false;
    rctx_t c[WRITERS + READERS];
    pthread_t th[WRITERS + READERS];
    for (int i = 0; i < WRITERS + READERS; i++) {
      c[i] = (rctx_t){m, bytes, i < WRITERS ? i : i - WRITERS, &stop, i < WRITERS ? own[i] : NULL, 0};
      cr_assert_eq(pthread_create(&th[i], NULL, i < WRITERS ? writer : reader, &c[i]), 0);
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < WRITERS + READERS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < WRITERS + READERS; i++)
      cr_assert_eq(c[i].errors, 0, "%s %d: %llu wrong answers", i < WRITERS ? "writer" : "reader",
                   c[i].id, (unsigned long long)c[i].errors);
    for (uint64_t k = 0; k < RK; k++)
      if (k % 8) in[k] = own[0][k] || own[1][k];
    check_scrambled(m, bytes, in, RK, 0x1234567ull * (uint64_t)(round + 1));
  }
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map_hints, neighbouring_writers_never_hide_stable_keys) { every_scheme_and_key_kind(raced_run); }

/* ------------------------------------------------------------------ levels */

/* Searches start at the skip list's `top`, which never comes down. Heights
 * drawn freely would take it to log2 of the inserts ever made (about 16
 * after 50,000, all but certainly above 9) however small the map; a new
 * node may not raise it past 2 + the bit width of the size, 9 here. */
static void churn_run(cc_smr_kind_t scheme, bool bytes) {
  if (bytes) return; /* the height does not depend on the key kind */
  cc_smr_t *d = cc_smr_new(&(cc_smr_config_t){.kind = scheme});
  cc_map_t *m = cc_map_new(&(cc_map_config_t){.smr = d});
  cr_assert_not_null(m);
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 100000; i++) {
    uint64_t k = xs(&s) % 64;
    if (i % 2) cc_map_remove(m, k, NULL);
    else cc_map_insert(m, k, val_of(k));
  }
  cr_assert_leq(cc__skiplist_top(m), 9, "top %u on a map of at most 64 keys", cc__skiplist_top(m));
  for (uint64_t k = 0; k < 64; k++) {
    void *v;
    if (cc_map_get(m, k, &v) == CC_OK) cr_assert_eq(v, val_of(k));
  }
  cc_map_free(m);
  cc_smr_free(d);
}

Test(map_hints, a_small_map_keeps_few_levels) { every_scheme_and_key_kind(churn_run); }
