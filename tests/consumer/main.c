/* An outside program: uses the installed headers and library, and checks
 * that linking ccoll did not replace the process's malloc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ccoll.h>

int cxx_side(void);

int main(void) {
  void *node = cc_alloc_node(100);
  if (node == NULL || ((unsigned long)node & (CC_CACHE_LINE - 1)) != 0) return 1;
  cc_free(node, 100);
  if (strcmp(cc_strerror(CC_ENOMEM), "out of memory") != 0) return 2;
  if (cxx_side() != 0) return 3;

  /* the containers through the installed API, on the default domain */
  cc_map_t *map = cc_map_new(NULL);
  cc_queue_t *q = cc_queue_new(NULL);
  if (map == NULL || q == NULL) return 6;
  void *v = NULL;
  if (cc_map_insert(map, 42, &v) != CC_OK || cc_map_get(map, 42, &v) != CC_OK || cc_map_size(map) != 1) return 7;
  if (cc_queue_enqueue(q, NULL) != CC_OK || cc_queue_dequeue(q, &v) != CC_OK || v != NULL) return 8;
  cc_map_free(map);
  cc_queue_free(q);

  Dl_info info;
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  if (m == NULL || dladdr(m, &info) == 0 || info.dli_fname == NULL) return 4;
  int from_libc = strstr(info.dli_fname, "libc.so") != NULL;
  printf("consumer: ccoll %s, malloc from %s\n", cc_version(), info.dli_fname);
  if (!from_libc && getenv("CONSUMER_ALLOW_MALLOC_OVERRIDE") == NULL) {
    fprintf(stderr, "consumer: linking ccoll replaced malloc\n");
    return 5;
  }
  return 0;
}
