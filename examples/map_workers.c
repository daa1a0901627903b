/* map_workers: an ordered map shared by worker threads.
 *
 * Four workers register orders in one cc_map keyed by order number: each
 * inserts its own orders, looks some up, cancels (removes) every third one,
 * and the main thread then walks what is left in key order and takes the
 * oldest orders with pop_first. The map owns the values (val_free), so a
 * cancelled order is freed by the map once no thread can still see it.
 *
 * The reclamation scheme is the process default: set CCOLL_SMR to ibr,
 * debra, debra+ or none to pick another one.
 *
 *     CCOLL_SMR=debra ./map_workers */
#include <ccoll.h>
#include <ccoll/map.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define WORKERS 4
#define ORDERS_PER_WORKER 10000

typedef struct {
  int worker;
  double amount;
} order_t;

static cc_map_t *orders;

static void free_order(void *val, void *ctx) {
  (void)ctx;
  free(val);
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  long inserted = 0, found = 0, cancelled = 0;
  for (uint64_t i = 0; i < ORDERS_PER_WORKER; i++) {
    uint64_t key = i * WORKERS + (uint64_t)id; /* order numbers interleave across workers */
    order_t *o = malloc(sizeof *o);
    if (!o) break;
    *o = (order_t){id, (double)(key % 100)};
    if (cc_map_insert(orders, key, o) != CC_OK) {
      free(o); /* not stored: still ours */
      continue;
    }
    inserted++;
    /* look up an order of a neighbour: it may or may not be there yet */
    void *v;
    if (cc_map_get(orders, key ^ 1, &v) == CC_OK) found++;
    if (i % 3 == 0 && cc_map_remove(orders, key, NULL) == CC_OK) cancelled++;
  }
  printf("worker %d: inserted %ld orders, saw %ld of its neighbour's, cancelled %ld\n", id,
         inserted, found, cancelled);
  return NULL;
}

static int sum_amounts(uint64_t key, void *val, void *arg) {
  (void)key;
  *(double *)arg += ((order_t *)val)->amount;
  return 0;
}

int main(void) {
  cc_map_config_t cfg = {.kind = CC_MAP_SKIPLIST, .key_kind = CC_KEY_U64, .val_free = free_order};
  orders = cc_map_new(&cfg);
  if (!orders) {
    fprintf(stderr, "cc_map_new failed\n");
    return 1;
  }
  printf("reclamation: %s\n", cc_smr_kind_name(cc_smr_kind(cc_smr_default())));

  pthread_t th[WORKERS];
  for (int i = 0; i < WORKERS; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
  for (int i = 0; i < WORKERS; i++) pthread_join(th[i], NULL);

  double total = 0;
  cc_map_range(orders, 0, UINT64_MAX, sum_amounts, &total);
  printf("%zu orders open, amounts sum to %.0f\n", cc_map_size(orders), total);

  uint64_t first, last;
  if (cc_map_first(orders, &first, NULL) == CC_OK && cc_map_last(orders, &last, NULL) == CC_OK)
    printf("order numbers run from %llu to %llu\n", (unsigned long long)first,
           (unsigned long long)last);

  /* Take the three oldest orders. The map owns them and hands a removed
   * value to val_free once no reader can see it, which may be right after
   * pop_first returns: read it inside a section of the map's domain. */
  cc_smr_t *smr = cc_smr_default();
  for (int i = 0; i < 3; i++) {
    uint64_t key;
    void *v;
    cc_smr_enter(smr);
    if (cc_map_pop_first(orders, &key, &v) == CC_OK)
      printf("served order %llu (worker %d)\n", (unsigned long long)key, ((order_t *)v)->worker);
    cc_smr_leave(smr);
  }
  uint64_t next;
  if (cc_map_ceiling(orders, 1000, &next, NULL) == CC_OK)
    printf("first open order from number 1000 on: %llu\n", (unsigned long long)next);

  cc_map_free(orders); /* frees the orders still in it */
  return 0;
}
