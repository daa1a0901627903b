/* The asymmetric fence: the cheap half on the readers' fast path, the
 * expensive half on the reclaimer's rare path.
 *
 * A reader announcing itself (DEBRA's announced epoch, IBR's reservation)
 * needs its announcement ordered before its first read of a shared link: a
 * store-load order, which on x86 costs a locked instruction (an xchg for a
 * seq_cst store) on every operation. The reclaimer, which must not miss the
 * announcement, runs far less often. So the reader's fence becomes a
 * compiler barrier only, and the reclaimer calls
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) before it reads the
 * announcements: the kernel makes every running thread of the process
 * execute a full barrier (an IPI), and a thread not running passes one at
 * its context switch. Each reader therefore has a point P in its program,
 * during the call, where a full fence separates what it did before from
 * what it does after. Either the reader's announcement precedes P, and the
 * reclaimer (reading after the call returned) sees it; or the reader's
 * link loads follow P, and they see every unlink the reclaimer had observed
 * before the call: the unlinked block is out of the reader's reach. The
 * same argument as liburcu's urcu-memb flavour and folly's asymmetric
 * fences. membarrier is outside the C11 model: this reasoning is in the
 * Linux kernel memory model, where a full barrier is cumulative.
 *
 * Unavailable (old kernel, seccomp, non-Linux), disabled by
 * CCOLL_SMR_MEMBARRIER=0, and always under ThreadSanitizer (which models
 * neither membarrier nor the ordering it gives): the readers keep their
 * seq_cst stores. The choice is made once per process, before the first
 * domain exists, so the two halves of a domain always agree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc/track_internal.h"
#include "options.h"
#include "smr_private.h"

#if defined(__linux__) && !CC_TSAN
#  include <linux/membarrier.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#  define HAVE_MEMBARRIER 1
#else
#  define HAVE_MEMBARRIER 0
#endif

static bool asym_ok;
static pthread_once_t asym_once = PTHREAD_ONCE_INIT;

#if HAVE_MEMBARRIER
static long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

static void asym_init(void) {
  uint64_t v;
  if (cc__env_u64("CCOLL_SMR_MEMBARRIER", 0, 1, &v) && v == 0) return;
  long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return;
  if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return;
  asym_ok = true;
}
#else
static void asym_init(void) {}
#endif

bool cc__smr_asym_available(void) {
  pthread_once(&asym_once, asym_init);
  return asym_ok;
}

/* How many retirements a thread lets pass between two reclamation passes
 * that pay a membarrier (a DEBRA advance try, an IBR scan), from what its
 * last ones cost. Alone in the process (no other thread of it running: no
 * IPI) a membarrier is a system call of 1-2 us, and frequent passes keep
 * the garbage a thread walks through, and reuses cold, within the caches
 * (the sorted-list workload of bench/smr at 1 thread, DEBRA: 0.73-0.79 of
 * NONE with tries every 4096 retirements, 0.93-0.95 every 256-512). With
 * other threads running it costs 10 to 50 us (an IPI to each, a VM exit
 * on a virtual machine, and a wait while the target's vCPU is not
 * running), and the threads interrupted pay about as much again, unseen
 * by this timing: at 2 threads, DEBRA's tries every 512 retirements lost
 * 5% against 4096, and IBR's stack spent 4 to 20 ms of a 10-20 ms run in
 * scans every 1024 retirements. So the count (starting at min for DEBRA,
 * at max for IBR) doubles while the membarrier takes over 1/128 of the
 * time since this thread's previous one and halves while it takes under
 * 1/1024, within [min, max]: the fence stays under about 1% of the time
 * (2% with its victims' share), and the gap between the two keeps it from
 * swinging on noise. max is what the scheme's bound on pending garbage
 * assumes. */
#define FENCE_SHARE_LOW 1024
#define FENCE_SHARE_HIGH 128

size_t cc__smr_fence_pace(size_t at, uint64_t cost, uint64_t since, size_t min, size_t max) {
  if (cost > since / FENCE_SHARE_HIGH) return at < max / 2 ? at * 2 : max;
  if (cost < since / FENCE_SHARE_LOW) return at / 2 > min ? at / 2 : min;
  return at;
}

void cc__smr_fence_paced(cc__smr_thr_t *t, size_t *at, size_t min, size_t max) {
  uint64_t t0 = cc__now_ns();
  cc__smr_asym_fence();
  uint64_t t1 = cc__now_ns(), took = t1 - t0;
  /* the cheaper of the last two: one slow call alone (this thread
   * preempted during it) says nothing about IPIs */
  uint64_t cost = took < t->fence_cost ? took : t->fence_cost;
  if (t->fence_end != 0) *at = cc__smr_fence_pace(*at, cost, t0 - t->fence_end, min, max);
  t->fence_cost = took;
  t->fence_end = t1;
}

void cc__smr_asym_fence(void) {
#if HAVE_MEMBARRIER
  /* Registered in asym_init; should a forked child's process not carry
   * the registration, register again. A failure after that would leave the
   * readers' announcements unordered: nothing safe is left to do. */
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
      (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0 ||
       membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)) {
    fprintf(stderr, "ccoll: membarrier failed (errno %d); cannot reclaim safely\n", errno);
    abort();
  }
#else
  abort(); /* never reached: asym_ok stays false */
#endif
}

