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

