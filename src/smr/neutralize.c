/* DEBRA+ neutralisation: the signal, its handler, the protected slots.
 *
 * A reclaimer whose limbo bags pass a threshold while thread c holds the
 * epoch back sends c a real-time signal (SIGRTMIN+3 by default;
 * CCOLL_DEBRA_SIGNAL=k selects SIGRTMIN+k). The handler runs on c and,
 * when c is in a read or write phase of an operation, announces c
 * quiescent; from a read phase it then jumps back to the phase's start.
 * The reclaimer does not wait: it sees the quiescent announcement on a
 * later check like any other, so a thread that cannot be signalled (gone,
 * signal blocked, in a user section) only delays reclamation.
 *
 * The handler is async-signal-safe: it touches lock-free atomics and
 * volatile sig_atomic_t of its own thread record, saves and restores errno,
 * and installs for one signal only (SA_NODEFER, so that a jump out of it
 * leaves the signal unblocked; sigsetjmp(env, 0) saves no mask). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc_internal.h"
#include "options.h"
#include "smr_private.h"

#define DEFAULT_SIGNAL_OFFSET 3
#define DEFAULT_LIMBO_THRESHOLD 1024

#if CC__SMR_NEUTRALIZE
cc_thread_local cc__smr_thr_t *volatile cc__smr_cur;
cc_thread_local cc_atomic(int) cc__smr_sig_pending;
#endif

static int installed_signo; /* 0: neutralisation unavailable */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

#if CC__SMR_NEUTRALIZE
static void neutralize_handler(int sig) {
  (void)sig;
  int saved = errno;
  cc_atomic_store_relaxed(&cc__smr_sig_pending, 0);
  cc__smr_thr_t *t = cc__smr_cur;
  if (t != NULL) {
    int ph = cc_atomic_load_relaxed(&t->phase);
    if (ph == CC__SMR_READ || ph == CC__SMR_WRITE) {
      /* first: a nested delivery (SA_NODEFER) finds nothing left to do */
      cc_atomic_store_relaxed(&t->phase, CC__SMR_HOLD);
      t->neutralized_flag = 1;
      cc_atomic_add_owner_u64(&t->st_neutralized, 1);
      /* seq_cst: the slots protected before this point (release stores,
       * earlier in this thread) are visible to whoever sees quiescence */
      cc_atomic_store_seq_cst(&t->announce, CC__SMR_QUIET(t->local_epoch));
    }
    cc_atomic_add_owner(&t->acks, 1);
    if (ph == CC__SMR_READ) {
      errno = saved;
      siglongjmp(t->env, 1);
    }
  }
  errno = saved;
}

static void install(void) {
  int k = DEFAULT_SIGNAL_OFFSET;
  uint64_t v;
  if (cc__env_u64("CCOLL_DEBRA_SIGNAL", 0, (uint64_t)(SIGRTMAX - SIGRTMIN), &v)) k = (int)v;
  int signo = SIGRTMIN + k;
  struct sigaction old;
  if (sigaction(signo, NULL, &old) != 0) return;
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
    fprintf(stderr,
            "ccoll: signal %d (SIGRTMIN+%d) already has a handler; DEBRA+ runs without "
            "neutralisation (set CCOLL_DEBRA_SIGNAL to another offset)\n",
            signo, k);
    return;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = neutralize_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_NODEFER | SA_RESTART;
  if (sigaction(signo, &sa, NULL) == 0) installed_signo = signo;
}
#else
static void install(void) {}
#endif

void cc__smr_debrap_setup(cc_smr_t *d) {
  pthread_once(&install_once, install);
  d->signo = installed_signo;
  uint64_t v;
  d->limbo_threshold = DEFAULT_LIMBO_THRESHOLD;
  if (cc__env_u64("CCOLL_DEBRA_THRESHOLD", 1, UINT32_MAX, &v)) d->limbo_threshold = (size_t)v;
  d->neutralize_every = 0;
  if (cc__env_u64("CCOLL_DEBRA_NEUTRALIZE_EVERY", 0, UINT32_MAX, &v)) d->neutralize_every = v;
}

/* ------------------------------------------------------------ signalling */

#if CC__SMR_NEUTRALIZE
/* Signals c unless it is leaving; the kill_state handshake keeps c's thread
 * alive (spinning in cc__smr_debrap_leave) until pthread_kill returned. */
static bool send(cc_smr_t *d, cc__smr_thr_t *c) {
  int st = 0;
  if (!cc_atomic_cas_strong_acq_rel(&c->kill_state, &st, 1)) return false;
  int r = -1, idle = 0;
  /* the thread is alive while kill_state is 1: its flag may be touched */
  if (cc_atomic_cas_strong_acq_rel(c->sig_pending, &idle, 1)) {
    r = pthread_kill(c->tid, d->signo); /* ESRCH: gone meanwhile, nothing to do */
    if (r != 0) cc_atomic_store_relaxed(c->sig_pending, 0);
  }
  cc_atomic_store_release(&c->kill_state, 0);
  return r == 0;
}

static bool in_operation(cc__smr_thr_t *c) {
  int ph = cc_atomic_load_relaxed(&c->phase);
  return ph == CC__SMR_READ || ph == CC__SMR_WRITE;
}
#endif

void cc__smr_debra_blocked(cc__smr_thr_t *t, cc__smr_thr_t *c) {
#if CC__SMR_NEUTRALIZE
  cc_smr_t *d = t->dom;
  if (d->signo == 0) return;
  size_t limbo = t->bag[0].count + t->bag[1].count + t->bag[2].count;
  if (limbo < d->limbo_threshold || !in_operation(c)) return;
  uint64_t acks = cc_atomic_load_acquire(&c->acks);
  /* one signal in flight per victim: a descheduled thread is not flooded */
  if (c == t->victim && acks == t->victim_acks) return;
  if (send(d, c)) {
    t->victim = c;
    t->victim_acks = acks;
  }
#else
  (void)t, (void)c;
#endif
}

#if CC__SMR_NEUTRALIZE
static void force_other(cc__smr_thr_t *t) {
  cc_smr_t *d = t->dom;
  cc__smr_thr_t *start = t->victim ? cc_atomic_load_acquire(&t->victim->next) : NULL;
  for (int pass = 0; pass < 2; pass++) {
    cc__smr_thr_t *c = pass == 0 ? start : cc_atomic_load_acquire(&d->threads);
    for (; c != NULL; c = cc_atomic_load_acquire(&c->next)) {
      if (c == t || !in_operation(c)) continue;
      if (send(d, c)) t->victim = c;
      return;
    }
  }
}

/* Test mode only: the self-signal is a system call inside a read phase,
 * which production code never makes; it lands exactly where a real
 * neutralisation would, and is handled before pthread_kill returns. */
void cc__smr_debrap_tick(cc__smr_thr_t *t) {
  if (++t->ops < t->force_every) return;
  t->ops = 0;
  if (t->dom->signo == 0) return;
  if (++t->force_round & 1) {
    /* no kill_state handshake: this thread is alive, and the handler may
     * jump out of pthread_kill (glibc signals itself with a bare tgkill) */
    int idle = 0;
    if (in_operation(t) && cc_atomic_cas_strong_acq_rel(t->sig_pending, &idle, 1))
      pthread_kill(pthread_self(), t->dom->signo);
  } else {
    /* not restartable meanwhile: a jump out of send() would leave the
     * victim's kill_state taken */
    int ph = cc_atomic_load_relaxed(&t->phase);
    cc__smr_debrap_set_phase(t, CC__SMR_HOLD);
    force_other(t);
    cc__smr_debrap_set_phase(t, ph);
  }
}
#else
void cc__smr_debrap_tick(cc__smr_thr_t *t) { t->ops = 0; }
#endif

void cc__smr_debrap_leave(cc__smr_thr_t *t) {
  int st = 0;
  while (!cc_atomic_cas_strong_acq_rel(&t->kill_state, &st, 2)) {
    if (st == 2) return;
    st = 0;
    cc_atomic_pause();
  }
#if CC__SMR_NEUTRALIZE
  if (cc__smr_cur == t) cc__smr_cur = NULL;
#endif
  cc__smr_debrap_set_phase(t, CC__SMR_IDLE);
  t->neutralized_flag = 0;
  cc__smr_debrap_clear_slots(t);
}

/* A neutralised thread re-enters a read phase: it was announced quiescent,
 * so reclaimers may have passed it; announce the current epoch before
 * reading again. Its slots stay: the write phase after may still need
 * what an earlier read phase of the operation protected. */
void cc__smr_debrap_recover(cc__smr_thr_t *t) {
  t->slots_exposed = true; /* before the flag goes: see cc__smr_debrap_snapshot_slots */
  t->neutralized_flag = 0;
  uint64_t e = cc_atomic_load_acquire(&t->dom->epoch);
  if (e != t->local_epoch) cc__smr_debra_new_epoch(t, e);
  cc_atomic_store_seq_cst(&t->announce, t->local_epoch << 1);
  cc__smr_debra_reannounce(t);
}

/* ------------------------------------------------------------ slots */

static int uptr_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The calling thread's own slots count only once its current operation
 * has been neutralised (the flag, or slots_exposed once the flag was
 * consumed). Until then its announcement has held the epoch within one of
 * the epoch its operation announced, so no block it can reach is among
 * the safe ones being snapshot against: the DEBRA argument. A signal
 * after the flag was read announces it quiescent only after the epoch
 * that made these blocks safe was observed, which changes nothing for
 * them. Skipping its own slots spares the common case, a retirement
 * (made in a write phase, the retired node protected) that turns the
 * epoch, a search of the snapshot per block. Returns how many slots it
 * copied into t->scratch (sorted), or SIZE_MAX without memory for them. */
size_t cc__smr_debrap_snapshot_slots(cc__smr_thr_t *t) {
  cc_smr_t *d = t->dom;
  bool own = t->neutralized_flag || t->slots_exposed;
  for (;;) {
    size_t cap = (cc_atomic_load_acquire(&d->nthreads) + 4) * CC__SMR_SLOTS;
    if (t->scratch_cap < cap) {
      uint64_t *s = cc__alloc_internal(cap * sizeof *s, 0, false);
      if (s == NULL) return SIZE_MAX;
      cc__smr_scratch_free(t);
      t->scratch = s;
      t->scratch_cap = cap;
    }
    size_t n = 0;
    bool overflow = false;
    for (cc__smr_thr_t *c = cc_atomic_load_acquire(&d->threads); c != NULL && !overflow;
         c = cc_atomic_load_acquire(&c->next)) {
      if (c == t && !own) continue;
      for (unsigned i = 0; i < CC__SMR_SLOTS; i++) {
        uintptr_t p = cc_atomic_load_acquire(&c->slots[i]);
        if (p == 0) continue;
        if (n == t->scratch_cap) {
          overflow = true;
          break;
        }
        t->scratch[n++] = p;
      }
    }
    if (overflow) continue;
    if (n > 1) qsort(t->scratch, n, sizeof *t->scratch, uptr_cmp);
    return n;
  }
}

bool cc__smr_debrap_slot_held(const cc__smr_thr_t *t, size_t n, const void *p) {
  uint64_t key = (uintptr_t)p;
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->scratch[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && t->scratch[lo] == key;
}
