/* Regression (found by ccoll-stress --fail-alloc 7): the skip list's
 * cc_map_pop_first allocates a pop descriptor before looking at the map, so
 * an allocation failure made it return CC_ENOMEM, which its contract
 * (ccoll/map.h: "CC_OK, or CC_EMPTY on an empty map") does not allow; a
 * caller looping `while (pop_first(...) != CC_EMPTY)` or treating anything
 * but CC_OK/CC_EMPTY as a bug is misled. The BST kind keeps the contract.
 *
 * Deterministic form: every allocation fails; pop_first on a map holding
 * one key must return it, and on an empty map CC_EMPTY. */
#include <criterion/criterion.h>

#include "alloc/alloc_internal.h"
#include "ccoll/map.h"
#include "ccoll/smr.h"
#include "ccoll/status.h"
#include "containers/map_internal.h"

static void pop_under_failing_alloc(cc_map_kind_t kind, cc_smr_kind_t sk) {
  cc_smr_config_t sc = { .kind = sk };
  cc_smr_t *d = cc_smr_new(&sc);
  cr_assert_not_null(d);
  cc_map_config_t mc = { .kind = kind, .smr = d };
  cc_map_t *m = cc_map_new(&mc);
  cr_assert_not_null(m);
  cr_assert_eq(cc_map_insert(m, 42, (void *)7), CC_OK);
  cc__alloc_fail_every(1);
  uint64_t k = 0;
  void *v = NULL;
  int rc1 = cc_map_pop_first(m, &k, &v);
  int rc2 = cc_map_pop_first(m, &k, &v);
  cc__alloc_fail_every(0);
  cr_expect_eq(rc1, CC_OK, "kind %d, smr %d: pop_first on a non-empty map returned %d (%s)", kind, sk, rc1,
               cc_strerror(rc1));
  cr_expect_eq(rc2, rc1 == CC_OK ? CC_EMPTY : CC_OK, "kind %d, smr %d: second pop_first returned %d (%s)",
               kind, sk, rc2, cc_strerror(rc2));
  cc_map_free(m);
  cc_smr_free(d);
}

Test(regress_pop_first, skiplist_no_enomem) {
  pop_under_failing_alloc(CC_MAP_SKIPLIST, CC_SMR_IBR);
  pop_under_failing_alloc(CC_MAP_SKIPLIST, CC_SMR_DEBRA);
}

Test(regress_pop_first, bst_no_enomem) {
  pop_under_failing_alloc(CC_MAP_BST, CC_SMR_IBR);
  pop_under_failing_alloc(CC_MAP_BST, CC_SMR_DEBRA);
}
