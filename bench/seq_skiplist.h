/* A plain sequential skip list (Pugh), the baseline "mutex around a
 * sequential skip list" of bench/map. Not thread-safe: callers lock. */
#ifndef CCOLL_BENCH_SEQ_SKIPLIST_H
#define CCOLL_BENCH_SEQ_SKIPLIST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define SEQ_SL_MAXL 24

typedef struct seq_sl_node {
  uint64_t key;
  void *val;
  struct seq_sl_node *next[];
} seq_sl_node_t;

typedef struct {
  seq_sl_node_t *head;
  unsigned level;
  uint64_t rng;
} seq_sl_t;

static inline seq_sl_t *seq_sl_new(void) {
  seq_sl_t *s = calloc(1, sizeof *s);
  s->head = calloc(1, sizeof(seq_sl_node_t) + SEQ_SL_MAXL * sizeof(seq_sl_node_t *));
  s->level = 1;
  s->rng = 0x9e3779b97f4a7c15ull;
  return s;
}

static inline void seq_sl_free(seq_sl_t *s) {
  seq_sl_node_t *n = s->head;
  while (n) {
    seq_sl_node_t *next = n->next[0];
    free(n);
    n = next;
  }
  free(s);
}

/* preds[i]: last node with key < k at level i. */
static inline seq_sl_node_t *seq_sl_search(seq_sl_t *s, uint64_t k, seq_sl_node_t **preds) {
  seq_sl_node_t *p = s->head;
  for (unsigned i = s->level; i-- > 0;) {
    while (p->next[i] && p->next[i]->key < k) p = p->next[i];
    if (preds) preds[i] = p;
  }
  seq_sl_node_t *c = p->next[0];
  return c && c->key == k ? c : NULL;
}

static inline bool seq_sl_get(seq_sl_t *s, uint64_t k, void **val) {
  seq_sl_node_t *n = seq_sl_search(s, k, NULL);
  if (n && val) *val = n->val;
  return n != NULL;
}

static inline bool seq_sl_insert(seq_sl_t *s, uint64_t k, void *val) {
  seq_sl_node_t *preds[SEQ_SL_MAXL];
  if (seq_sl_search(s, k, preds)) return false;
  s->rng ^= s->rng << 13, s->rng ^= s->rng >> 7, s->rng ^= s->rng << 17;
  unsigned h = 1 + (unsigned)__builtin_ctzll(s->rng | (1ull << (SEQ_SL_MAXL - 1)));
  for (; s->level < h; s->level++) preds[s->level] = s->head;
  seq_sl_node_t *n = malloc(sizeof *n + h * sizeof(seq_sl_node_t *));
  if (!n) return false;
  n->key = k;
  n->val = val;
  for (unsigned i = 0; i < h; i++) {
    n->next[i] = preds[i]->next[i];
    preds[i]->next[i] = n;
  }
  return true;
}

static inline bool seq_sl_remove(seq_sl_t *s, uint64_t k) {
  seq_sl_node_t *preds[SEQ_SL_MAXL];
  seq_sl_node_t *n = seq_sl_search(s, k, preds);
  if (!n) return false;
  for (unsigned i = 0; i < s->level && preds[i]->next[i] == n; i++) preds[i]->next[i] = n->next[i];
  free(n);
  return true;
}

#endif /* CCOLL_BENCH_SEQ_SKIPLIST_H */
