// The public headers compile as C++ and link with C linkage.
#include <ccoll.h>

extern "C" int cxx_side(void);

extern "C" int cxx_side(void) {
  void *p = cc_alloc_aligned(200, 128);
  if (p == nullptr) return 1;
  cc_free(p, 200);
  cc_smr_kind_t k;
  return cc_smr_kind_parse("debra+", &k) == CC_OK && k == CC_SMR_DEBRA_PLUS ? 0 : 1;
}
