/* The BST kind: bst_impl.h instantiated once per reclamation scheme, so
 * each table's operations call the scheme's inline functions directly. */
#include <stdlib.h>
#include <string.h>

#include "ccoll/alloc.h"
#include "containers/map_internal.h"

#define CC__BST_S none
#include "containers/bst_impl.h"
#define CC__BST_S debra
#include "containers/bst_impl.h"
#define CC__BST_S debrap
#include "containers/bst_impl.h"
#define CC__BST_S ibr
#include "containers/bst_impl.h"

/* ------------------------------------------------------------------ test support */

#define BST_CHECK_DEPTH 4096

typedef struct {
  bool u64;
  const bst_node_t *path[BST_CHECK_DEPTH];
  unsigned char dir[BST_CHECK_DEPTH];
  const bst_node_t *prev; /* previous real leaf in order */
  size_t leaves;
} bst_check_t;

static int bst_check_leaf(bst_check_t *c, const bst_node_t *n, unsigned depth) {
  if (bst_inf(n)) return 0;
  cc__mkey_t k = bst_key_of(c->u64, n);
  bst_target_t tg = {&k, BST_AT};
  for (unsigned i = 0; i < depth; i++)
    if (bst_dir(c->u64, &tg, c->path[i]) != c->dir[i]) return -3; /* misrouted */
  if (c->prev && bst_cmp(c->u64, &k, c->prev) <= 0) return -4; /* out of order */
  c->prev = n;
  c->leaves++;
  return 0;
}

static int bst_check_node(bst_check_t *c, uintptr_t edge, unsigned depth) {
  const bst_node_t *n = bst_ptr(edge);
  if (edge & BST_LEAF) return bst_check_leaf(c, n, depth);
  if (depth >= BST_CHECK_DEPTH) return -5;
  c->path[depth] = n;
  for (unsigned d = 0; d < 2; d++) {
    uintptr_t e = cc_atomic_load_acquire(&((bst_node_t *)n)->u.child[d]);
    if (e & BST_MARKS) return d ? -2 : -1; /* marked edge left behind */
    c->dir[depth] = (unsigned char)d;
    int rc = bst_check_node(c, e & ~BST_MARKS, depth + 1);
    if (rc) return rc;
  }
  return 0;
}

int cc__bst_check(const cc_map_t *m, size_t *leaves) {
  bst_check_t *c = calloc(1, sizeof *c);
  if (!c) return -12;
  c->u64 = m->key_kind == CC_KEY_U64;
  int rc = bst_check_node(c, (uintptr_t)m->impl, 0);
  if (leaves) *leaves = c->leaves;
  free(c);
  return rc;
}
