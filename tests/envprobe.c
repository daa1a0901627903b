/* Child-process helper of test_config: prints the options in force after
 * the environment was read, one "name=value" per line. argv[1] may ask it
 * to try a setting first: "set-alloc-after-alloc". */
#include <stdio.h>
#include <string.h>

#include "ccoll.h"

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "set-alloc-after-alloc") == 0) {
    void *p = cc_alloc(16);
    long other = cc_option_get(CC_OPT_ALLOC) == CC_ALLOC_LIBC ? CC_ALLOC_MIMALLOC : CC_ALLOC_LIBC;
    printf("late_change=%d\n", cc_option_set(CC_OPT_ALLOC, other));
    printf("same_value=%d\n", cc_option_set(CC_OPT_ALLOC, cc_option_get(CC_OPT_ALLOC)));
    cc_free(p, 16);
  }
  printf("smr=%s\n", cc_smr_kind_name((cc_smr_kind_t)cc_option_get(CC_OPT_SMR)));
  printf("alloc=%s\n", cc_option_get(CC_OPT_ALLOC) == CC_ALLOC_LIBC ? "libc" : "mimalloc");
  printf("stats=%ld\n", cc_option_get(CC_OPT_STATS));
  printf("track=%ld\n", cc_option_get(CC_OPT_TRACK));
  return 0;
}
