/* The reuse pool's slow paths (smr_reuse.h): whether a new domain uses it,
 * and giving a thread's pool back to the allocator. */
#include "alloc/alloc_internal.h"
#include "options.h"
#include "smr_private.h"

#if CC_X86
#  include <cpuid.h>
#endif

/* Tracking (the registry) and the whole-run profiler record who allocated
 * and who freed every block; a block that went round the pool would be
 * reported as one block living on. Tracking is frozen by then (the domain
 * was allocated), and CCOLL_PROFILE starts its profiler before the first
 * allocation. CCOLL_SMR_REUSE=0 turns the pool off. */
bool cc__smr_reuse_allowed(void) {
  return cc__env_flag("CCOLL_SMR_REUSE", true) && !cc__option_freeze(CC_OPT_TRACK) && cc__env_profile_path() == NULL;
}

/* x86: CPUID 0x80000001, ECX bit 8 (PRFCHW, "3DNowPrefetch"). Without
 * it the instruction is not guaranteed to be a no-op, so it is asked. */
static uint8_t cpu_prefetch_mode(void) {
#if CC_X86
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8)) != 0) return CC__SMR_PF_EXCL;
#endif
  return CC__SMR_PF_HINT;
}

static pthread_once_t prefetch_once = PTHREAD_ONCE_INIT;
static uint8_t prefetch_cpu;

static void prefetch_init(void) { prefetch_cpu = cpu_prefetch_mode(); }

/* For a new domain (smr_reuse.h, cc__smr_reuse_prefetch). CPUID is asked
 * once: under a hypervisor it exits to it. CCOLL_SMR_PREFETCH=0 turns the
 * prefetch off (measurement: bench/smr --with). */
uint8_t cc__smr_reuse_prefetch_mode(void) {
  if (!cc__env_flag("CCOLL_SMR_PREFETCH", true)) return CC__SMR_PF_OFF;
  pthread_once(&prefetch_once, prefetch_init);
  return prefetch_cpu;
}

/* CCOLL_SMR_LEAK=1 (domain.c), for measurement only (bench/smr --with):
 * reclaimed nodes are neither reused nor freed until cc_smr_free, so
 * every allocation takes fresh memory from the allocator, as under NONE,
 * while the scheme does everything else as usual. The nodes are listed in
 * limbo blocks, never chained through themselves: a write into a
 * reclaimed node is part of what this mode measures the absence of. */
void cc__smr_leak(cc__smr_thr_t *t, cc__smr_hdr_t *h) { (void)cc__smr_bag_add(t, &t->leaked, h); }

/* cc__smr_reuse_alloc out of line: DEBRA's allocations try the freeable
 * list inline first (smr_debra.h) and come here only when it has none. */
cc__smr_hdr_t *cc__smr_reuse_alloc_slow(cc__smr_thr_t *t, uint32_t size) {
  return cc__smr_reuse_alloc(t, size);
}

void cc__smr_reuse_drop(cc__smr_thr_t *t) {
  for (unsigned i = 0; i < CC__SMR_REUSE_CLASSES; i++) {
    cc__smr_reuse_t *c = &t->reuse[i];
    while (c->head != NULL) {
      cc__smr_hdr_t *h = c->head;
      c->head = h->chain;
      CC__SMR_REUSE_UNPOISON(h, cc__smr_block_bytes(h->size));
      cc__smr_node_free(t, h);
    }
    c->n = 0;
    c->size = 0;
  }
  t->reuse_bytes = 0;
}

uint64_t cc__smr_reused(const cc_smr_t *d) {
  uint64_t n = 0;
  for (cc__smr_thr_t *t = cc_atomic_load_acquire(&((cc_smr_t *)d)->threads); t != NULL;
       t = cc_atomic_load_acquire(&t->next))
    n += cc_atomic_load_relaxed(&t->st_reused) + cc_atomic_load_relaxed(&t->st_taken);
  return n;
}
