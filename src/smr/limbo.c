/* Limbo blocks: the 1 KiB blocks of (pointer, epoch) entries that hold
 * retired blocks for every scheme (DEBRA bags, IBR and NONE lists, the
 * garbage of threads that left), and the small per-thread pool of empty
 * ones. Keeping limbo out of the retired nodes is what lets their header
 * be 16 bytes. Also the per-thread stash of retire_fn records, and the
 * reservation that keeps both ahead of an operation's retirements
 * (smr_types.h, cc__smr_reserve). */
#include "alloc/alloc_internal.h"
#include "smr_private.h"

#define POOL_MAX 8 /* empty blocks a thread keeps */

/* An empty block from the allocator into the pool; false on failure. */
static bool pool_add_new(cc__smr_thr_t *t) {
  cc__smr_blk_t *b = cc__alloc_internal(sizeof *b, CC__LINE, false);
  if (b == NULL) return false;
  b->next = t->pool;
  t->pool = b;
  t->pool_n++;
  return true;
}

cc__smr_blk_t *cc__smr_blk_get(cc__smr_thr_t *t) {
  /* an empty pool here is beyond a reservation (doc/smr.md, Limitations):
   * cc_smr_retire, a BST cleanup splicing out a long chain, DEBRA+
   * requeueing many */
  if (t->pool == NULL && !pool_add_new(t)) cc__smr_oom("a limbo block");
  cc__smr_blk_t *b = t->pool;
  t->pool = b->next;
  t->pool_n--;
  b->next = NULL;
  b->n = 0;
  return b;
}

void cc__smr_blk_put(cc__smr_thr_t *t, cc__smr_blk_t *b) {
  if (t->pool_n < POOL_MAX) {
    b->next = t->pool;
    t->pool = b;
    t->pool_n++;
  } else {
    cc_free(b, sizeof *b);
  }
}

void cc__smr_pool_drop(cc__smr_thr_t *t) {
  while (t->pool != NULL) {
    cc__smr_blk_t *b = t->pool;
    t->pool = b->next;
    cc_free(b, sizeof *b);
  }
  t->pool_n = 0;
}

cc__smr_blk_t *cc__smr_bag_grow(cc__smr_thr_t *t, cc__smr_bag_t *bag) {
  cc__smr_blk_t *b = cc__smr_blk_get(t);
  b->next = bag->head;
  bag->head = b;
  if (bag->tail == NULL) bag->tail = b;
  return b;
}

/* The head block of a bag, emptied, goes back to the pool. */
void cc__smr_bag_drop_head(cc__smr_thr_t *t, cc__smr_bag_t *bag) {
  cc__smr_blk_t *b = bag->head;
  bag->head = b->next;
  if (bag->head == NULL) bag->tail = NULL;
  cc__smr_blk_put(t, b);
}

void cc__smr_bag_append(cc__smr_bag_t *dst, cc__smr_blk_t *head, cc__smr_blk_t *tail, size_t count) {
  if (head == NULL) return;
  if (dst->tail != NULL) dst->tail->next = head;
  else dst->head = head;
  dst->tail = tail;
  dst->count += count;
}

/* Takes the whole bag, leaving it empty. */
cc__smr_bag_t cc__smr_bag_take(cc__smr_bag_t *bag) {
  cc__smr_bag_t all = *bag;
  bag->head = bag->tail = NULL;
  bag->count = 0;
  return all;
}

cc__smr_blk_t *cc__smr_chain_tail(cc__smr_blk_t *b) {
  while (b != NULL && b->next != NULL) b = b->next;
  return b;
}

size_t cc__smr_reclaim_blocks(cc__smr_blk_t *b) {
  size_t n = 0;
  while (b != NULL) {
    cc__smr_blk_t *next = b->next;
    for (size_t i = 0; i < b->n; i++) cc__smr_node_free(NULL, b->e[i].p);
    n += b->n;
    cc_free(b, sizeof *b);
    b = next;
  }
  return n;
}

/* ------------------------------------------------------------ records */

/* A retire_fn record: one kept by the thread, else a new one (NULL when
 * there is no memory). */
cc__smr_fnrec_t *cc__smr_rec_get(cc__smr_thr_t *t) {
  cc__smr_hdr_t *h = t->recs;
  if (h != NULL) {
    t->recs = h->chain;
    t->recs_n--;
    return (cc__smr_fnrec_t *)h;
  }
  return cc__alloc_internal(sizeof(cc__smr_fnrec_t), CC__LINE, true);
}

/* A reclaimed record (its callback ran): kept for the next retire_fn of
 * thread t, if t is known and keeps fewer than CC__SMR_RECS_MAX. */
void cc__smr_rec_put(cc__smr_thr_t *t, cc__smr_fnrec_t *r) {
  if (t != NULL && t->recs_n < CC__SMR_RECS_MAX) {
    r->hdr.chain = t->recs;
    t->recs = &r->hdr;
    t->recs_n++;
  } else {
    cc_free(r, sizeof *r);
  }
}

void cc__smr_recs_drop(cc__smr_thr_t *t) {
  while (t->recs != NULL) {
    cc__smr_fnrec_t *r = cc__smr_rec_get(t);
    cc_free(r, sizeof *r);
  }
}

bool cc__smr_reserve_slow(cc__smr_thr_t *t, bool blocks, bool rec) {
  while (blocks && t->pool_n < CC__SMR_RESERVE_BLOCKS)
    if (!pool_add_new(t)) return false;
  if (rec && t->recs == NULL) {
    cc__smr_fnrec_t *r = cc__smr_rec_get(t); /* none kept: a new one */
    if (r == NULL) return false;
    cc__smr_rec_put(t, r);
  }
  return true;
}
