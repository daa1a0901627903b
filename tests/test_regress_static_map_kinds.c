/* Regression (found when ccoll-stress, linked with libccoll.a, got NULL from
 * every cc_map_new): map.c refers to the kinds' ops tables with
 * `#pragma weak` (its integration scaffold). A weak undefined reference does
 * not pull a member out of a static archive, so nothing links skiplist.o or
 * bst.o into a program that uses the static library (ccoll::ccoll_static,
 * installed), and cc_map_new returns NULL for every kind and scheme.
 *
 * This binary links the static library and names no internal symbol. */
#include <criterion/criterion.h>

#include "ccoll/map.h"
#include "ccoll/smr.h"

Test(regress_static, every_map_kind_links) {
  static const cc_smr_kind_t sk[] = { CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR };
  for (int kind = CC_MAP_SKIPLIST; kind <= CC_MAP_BST; kind++)
    for (unsigned i = 0; i < sizeof sk / sizeof sk[0]; i++) {
      cc_smr_config_t sc = { .kind = sk[i] };
      cc_smr_t *d = cc_smr_new(&sc);
      cr_assert_not_null(d);
      cc_map_config_t mc = { .kind = (cc_map_kind_t)kind, .smr = d };
      cc_map_t *m = cc_map_new(&mc);
      cr_expect_not_null(m, "cc_map_new(kind %d, %s) returned NULL in a program linked with libccoll.a", kind,
                         cc_smr_kind_name(sk[i]));
      cc_map_free(m);
      cc_smr_free(d);
    }
}
