/* The allocation glue: backend choice, fast paths, per-thread statistics.
 *
 * The hot path of cc_alloc_node and cc_free is a per-thread gate (a TLS
 * countdown, see CC__ALLOC_GATE_SPAN) and a tail jump into mimalloc
 * (mi_malloc_small, mi_free); the other entry points, and those two when
 * their gate expires, load `alloc_mode` and compare: when the backend is
 * mimalloc and neither statistics, tracking nor fault injection is on,
 * cc_alloc_node is mimalloc's small-object route and cc_free is mi_free.
 * Everything else lives in the out-of-line slow paths. */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

#include "alloc_internal.h"
#include "mi_node.h"
#include "track_internal.h"
#include "atomic.h"
#include "compiler.h"
#include "options.h"
#include "ccoll/alloc.h"

enum {
  MODE_READY = 1u << 0, /* backend resolved */
  MODE_LIBC  = 1u << 1, /* libc backend (else mimalloc) */
  MODE_STATS = 1u << 2,
  MODE_TRACK = 1u << 3,
  MODE_FAIL  = 1u << 4,
  MODE_PROF  = 1u << 5, /* a profiler is running */
  MODE_PROF_ALL = 1u << 6, /* ... sampling every allocation */
  MODE_PROF_TALLY = 1u << 7, /* ... and remembering no block */
  MODE_MI_ALIGNED = 1u << 8, /* mimalloc gave a misaligned small node: see mi_node.h */
  MODE_FAST  = MODE_READY, /* mimalloc, nothing extra */
  MODE_FAST_STATS = MODE_READY | MODE_STATS, /* mimalloc + statistics, inline too */
  MODE_FAST_PROF = MODE_READY | MODE_PROF,   /* mimalloc + sampling profiler: unsampled blocks skip the slow path */
  MODE_FAST_TALLY = MODE_READY | MODE_PROF | MODE_PROF_ALL | MODE_PROF_TALLY, /* mimalloc + tally profiler, rate 1 */
  MODE_FAST_SAMPLE = MODE_READY | MODE_PROF | MODE_PROF_TALLY /* mimalloc + tally profiler, rate < 1 */
};

/* relaxed everywhere: the mode word is configuration, not a publication. A
 * thread that sees a change a little late counts a few blocks more or less,
 * which the statistics contract allows (exact only while on). */
static cc_atomic(unsigned) alloc_mode;
/* What cc_alloc_node and cc_free do inline at a gate's expiry, from the
 * mode word (stored with it, under mode_lock, relaxed like it): T_LIVE
 * while the mode is MODE_FAST_STATS, and a thread counts inline when its
 * statistics state equals it (one compare for two: the mode, then the
 * state); INLINE_TALLY while it is MODE_FAST_TALLY; else 0. Neither 0 nor
 * INLINE_TALLY is a state. */
static cc_atomic(unsigned char) expiry_inline;
enum { INLINE_TALLY = 0x80 };
static pthread_mutex_t mode_lock = PTHREAD_MUTEX_INITIALIZER;
static cc_atomic(uint64_t) fail_every;
static cc_atomic(uint64_t) fail_counter;
static cc_atomic(unsigned) profiling; /* 0, or MODE_PROF with MODE_PROF_ALL and MODE_PROF_TALLY */
static pthread_once_t profile_env_once = PTHREAD_ONCE_INIT;
static cc_atomic(bool) mi_misaligned;

/* ------------------------------------------------------------ backend */

/* align 0: no requirement beyond malloc's own. */
static void *backend_alloc(unsigned m, size_t size, size_t align, bool zero) {
  if (!(m & MODE_LIBC)) {
    if (align == 0) return zero ? mi_zalloc(size) : mi_malloc(size);
    return zero ? mi_zalloc_aligned(size, align) : mi_malloc_aligned(size, align);
  }
  if (align == 0) return zero ? calloc(1, size) : malloc(size);
  void *p;
  if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0) return NULL;
  if (zero) memset(p, 0, size);
  return p;
}

static void backend_free(unsigned m, void *p) {
  if (m & MODE_LIBC) free(p);
  else mi_free(p);
}

static size_t backend_usable(unsigned m, const void *p) {
  return (m & MODE_LIBC) ? malloc_usable_size((void *)p) : mi_usable_size(p);
}

/* ------------------------------------------------------------ statistics */

/* A thread's counters live in its initial-exec TLS block: the hot path
 * adds to %fs-relative words, with no pointer to load and test. Owner-only
 * words (relaxed load + store, no RMW); snapshots read them through the
 * list under stats_lock, which the key's destructor leaves before the
 * thread's TLS goes away. */
enum { T_NONE = 1, T_LIVE, T_DEAD }; /* neither 0 nor INLINE_TALLY: see expiry_inline */
typedef struct tstats {
  cc_atomic(uint64_t) alloc_count, free_count, alloc_bytes, free_bytes;
  struct tstats *next, *prev;
  size_t pending;      /* bytes of the node allocation in progress (owner only) */
  unsigned char state; /* T_*: counted here only when T_LIVE */
} tstats;

typedef struct {
  uint64_t alloc_count, free_count, alloc_bytes, free_bytes;
} totals_t;

static cc_thread_local tstats t_stats = {.state = T_NONE};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static tstats *stats_list;   /* live threads' records */
static totals_t stats_gone;  /* folded in from exited threads */
static totals_t stats_base;  /* the sums at the last reset */
static pthread_key_t stats_key;
static pthread_once_t stats_key_once = PTHREAD_ONCE_INIT;

static void totals_add_record(totals_t *t, tstats *s) {
  t->alloc_count += cc_atomic_load_relaxed(&s->alloc_count);
  t->free_count += cc_atomic_load_relaxed(&s->free_count);
  t->alloc_bytes += cc_atomic_load_relaxed(&s->alloc_bytes);
  t->free_bytes += cc_atomic_load_relaxed(&s->free_bytes);
}

/* Thread exit: fold the record into stats_gone so no count is lost. */
static void stats_thread_exit(void *arg) {
  tstats *s = arg;
  pthread_mutex_lock(&stats_lock);
  totals_add_record(&stats_gone, s);
  if (s->prev) s->prev->next = s->next;
  else stats_list = s->next;
  if (s->next) s->next->prev = s->prev;
  pthread_mutex_unlock(&stats_lock);
  s->state = T_DEAD;
}

static void stats_make_key(void) { pthread_key_create(&stats_key, stats_thread_exit); }

/* First counted operation of a thread: its record joins the list; the
 * key's destructor takes it out. false past the destructor. */
static bool stats_attach(void) {
  tstats *s = &t_stats;
  if (s->state == T_DEAD) return false;
  pthread_once(&stats_key_once, stats_make_key);
  if (pthread_setspecific(stats_key, s) != 0) return false;
  pthread_mutex_lock(&stats_lock);
  s->prev = NULL;
  s->next = stats_list;
  if (stats_list) stats_list->prev = s;
  stats_list = s;
  pthread_mutex_unlock(&stats_lock);
  s->state = T_LIVE;
  return true;
}

static inline void stats_add(bool is_alloc, size_t bytes) {
  if (is_alloc) {
    cc_atomic_add_owner_u64(&t_stats.alloc_count, 1);
    cc_atomic_add_owner_u64(&t_stats.alloc_bytes, bytes);
  } else {
    cc_atomic_add_owner_u64(&t_stats.free_count, 1);
    cc_atomic_add_owner_u64(&t_stats.free_bytes, bytes);
  }
}

/* A node allocation counted before its mimalloc call failed. Returns the
 * NULL to hand back, so that the failure branch is a tail call with
 * nothing kept across it. */
static cc_noinline void *stats_alloc_failed(void) {
  cc_atomic_add_owner_u64(&t_stats.alloc_count, (uint64_t)-1);
  cc_atomic_add_owner_u64(&t_stats.alloc_bytes, -(uint64_t)t_stats.pending);
  return NULL;
}

/* Not yet attached, or past the destructor (then counted under the lock:
 * rare, and exact). */
static cc_noinline void stats_count_slow(bool is_alloc, size_t bytes) {
  if (stats_attach()) {
    stats_add(is_alloc, bytes);
    return;
  }
  pthread_mutex_lock(&stats_lock);
  if (is_alloc) { stats_gone.alloc_count++; stats_gone.alloc_bytes += bytes; }
  else { stats_gone.free_count++; stats_gone.free_bytes += bytes; }
  pthread_mutex_unlock(&stats_lock);
}

static inline void stats_count(bool is_alloc, size_t bytes) {
  if (cc_likely(t_stats.state == T_LIVE)) stats_add(is_alloc, bytes);
  else stats_count_slow(is_alloc, bytes);
}

static totals_t stats_sum_locked(void) {
  totals_t t = stats_gone;
  for (tstats *s = stats_list; s; s = s->next) totals_add_record(&t, s);
  return t;
}

cc_alloc_snapshot_t cc_alloc_stats_snapshot(void) {
  pthread_mutex_lock(&stats_lock);
  totals_t t = stats_sum_locked();
  totals_t b = stats_base;
  pthread_mutex_unlock(&stats_lock);
  cc_alloc_snapshot_t out = {
    .alloc_count = t.alloc_count - b.alloc_count,
    .free_count = t.free_count - b.free_count,
    .alloc_bytes = t.alloc_bytes - b.alloc_bytes,
    .free_bytes = t.free_bytes - b.free_bytes,
    .current_allocated = t.alloc_bytes > t.free_bytes ? t.alloc_bytes - t.free_bytes : 0,
  };
  return out;
}

/* Owners are the only writers of their counters, so a reset cannot zero
 * them; it records a baseline that snapshots subtract. */
void cc_alloc_stats_reset(void) {
  pthread_mutex_lock(&stats_lock);
  stats_base = stats_sum_locked();
  pthread_mutex_unlock(&stats_lock);
}

void cc_alloc_stats_enable(bool enable) { cc_option_set(CC_OPT_STATS, enable ? 1 : 0); }

/* ------------------------------------------------------------ mode word */

/* From the option, not the mode word: the profiler asks while starting,
 * possibly from inside the first mode resolution (CCOLL_PROFILE). */
bool cc__alloc_backend_is_mimalloc(void) { return cc__option_freeze(CC_OPT_ALLOC) != CC_ALLOC_LIBC; }

/* Whether mi_malloc_small(n) is line-aligned for every multiple n of 64
 * up to MI_SMALL_SIZE_MAX, so that the gated path can tail-jump into it
 * with no test of the result (the call and the test cost the plain pair
 * about 1 ns, 20%). A small block sits at its page's start plus a multiple
 * of its block size; mimalloc 2.x starts small pages on 64 KiB slices
 * (plus an offset of one or three blocks), and the size classes of
 * multiples of 64 (64, 128, ..., 1024) are multiples of 64. What a build
 * of mimalloc can change is the block size: padding (debug, secure,
 * valgrind or ASan builds) adds to it, and mi_good_size, the class the
 * request plus padding falls in, shows it. The probe checks every class
 * that way and one block of each. Once per process, under mode_lock; the
 * slow paths still test every address they get (mi_node.h). */
static bool mimalloc_layout_ok(void) {
  static int known; /* 0 unknown, 1 ok, -1 not */
  if (known == 0) {
    bool ok = true;
    for (size_t n = CC_CACHE_LINE; n <= MI_SMALL_SIZE_MAX && ok; n += CC_CACHE_LINE) {
      void *p = mi_malloc_small(n);
      ok = p != NULL && mi_good_size(n) % CC_CACHE_LINE == 0 && ((uintptr_t)p & (CC_CACHE_LINE - 1)) == 0;
      mi_free(p);
    }
    known = ok ? 1 : -1;
  }
  return known > 0;
}

static unsigned compute_mode(void) {
  unsigned m = MODE_READY;
  if (cc__option_freeze(CC_OPT_ALLOC) == CC_ALLOC_LIBC) m |= MODE_LIBC;
  if (cc__option_freeze(CC_OPT_TRACK)) m |= MODE_TRACK;
  if (cc__option_value(CC_OPT_STATS)) m |= MODE_STATS;
  if (cc_atomic_load_relaxed(&fail_every) != 0) m |= MODE_FAIL;
  m |= cc_atomic_load_relaxed(&profiling);
  if (!(m & MODE_LIBC) && (cc_atomic_load_relaxed(&mi_misaligned) || !mimalloc_layout_ok()))
    m |= MODE_MI_ALIGNED;
  return m;
}

/* The gates (see CC__ALLOC_GATE_SPAN): a gate counts the operations left
 * on the plain path before the next look at the mode word, minus one, like
 * the profiler's countdowns. Owner-only words; other threads never write
 * them (an unlocked decrement would lose their store), which is why a mode
 * change reaches other threads only at their next expiry. */
static inline void gates_expire(void) {
  cc__prof_tls.gate = 0;
  cc__prof_tls.free_gate = 0;
}

/* Plain mimalloc: the next CC__ALLOC_GATE_SPAN - 1 operations pass. */
static inline void gate_arm_plain(int64_t *gate) { *gate = CC__ALLOC_GATE_SPAN - 1; }

/* Sampling: the gate takes at most a span's worth of the operations the
 * sampling countdown has left before its sampled one; the expiry that
 * follows decrements the countdown, so the sampled operation is the same
 * one the countdown alone would pick. */
static inline void gate_arm_sampling(int64_t *gate, int64_t *countdown) {
  int64_t c = *countdown;
  int64_t g = c < CC__ALLOC_GATE_SPAN - 1 ? c : CC__ALLOC_GATE_SPAN - 1;
  if (g < 0) g = 0;
  *gate = g;
  *countdown = c - g;
}

static cc_noinline unsigned mode_resolve(void) {
  /* Before the mode is first READY: CCOLL_PROFILE starts its profiler,
   * which only raises `profiling` (no resolve of its own yet). */
  pthread_once(&profile_env_once, cc__profiler_env_start);
  pthread_mutex_lock(&mode_lock);
  unsigned m = compute_mode();
  cc_atomic_store_relaxed(&alloc_mode, m);
  cc_atomic_store_relaxed(&expiry_inline, m == MODE_FAST_STATS ? T_LIVE : m == MODE_FAST_TALLY ? INLINE_TALLY : 0);
  pthread_mutex_unlock(&mode_lock);
  gates_expire(); /* this thread sees its own change at its next operation */
  return m;
}

void cc__alloc_options_changed(void) {
  /* Only a resolved mode needs refreshing; an unresolved one is computed
   * with the new options at the first allocation. */
  if (cc_atomic_load_relaxed(&alloc_mode) & MODE_READY) mode_resolve();
}

void cc__alloc_set_profiling(bool on, bool every, bool tally) {
  unsigned bits = MODE_PROF | (every ? MODE_PROF_ALL : 0u) | (tally ? MODE_PROF_TALLY : 0u);
  cc_atomic_store_relaxed(&profiling, on ? bits : 0u);
  cc__alloc_options_changed();
}

void cc__alloc_fail_every(uint64_t every) {
  cc_atomic_store_relaxed(&fail_every, every);
  cc_atomic_store_relaxed(&fail_counter, 0);
  mode_resolve();
}

static inline unsigned mode_get(void) {
  unsigned m = cc_atomic_load_relaxed(&alloc_mode);
  return cc_likely(m & MODE_READY) ? m : mode_resolve();
}

/* ------------------------------------------------------------ slow paths */

static bool injected_failure(void) {
  uint64_t every = cc_atomic_load_relaxed(&fail_every);
  if (every == 0) return false;
  return cc_atomic_fetch_add_relaxed(&fail_counter, 1) % every == every - 1;
}

/* `requested` is what the caller asked for (before node rounding): the
 * size it will hand back to cc_free, so both sides count the same bytes
 * without asking the backend for a usable size on the hot path.
 * Tracking registers the block before anyone can see it; the profiler
 * times only the backend call of the allocations it samples. */
static void *alloc_observed(unsigned m, size_t size, size_t requested, size_t align, bool zero,
                            bool sampled) {
  bool detail = sampled && cc__prof_detail();
  uint64_t t0 = detail && cc_atomic_load_relaxed(&cc__prof_time_ops) ? cc__prof_ticks() : 0;
  void *p = backend_alloc(m, size, align, zero);
  if (p == NULL) return NULL;
  uint64_t t1 = t0 ? cc__prof_ticks() : 0;
  if ((m & MODE_TRACK) && !cc__track_on_alloc(p, requested)) {
    backend_free(m, p);
    return NULL;
  }
  if (m & MODE_STATS) stats_count(true, requested);
  if (sampled) cc__prof_on_alloc(p, requested, t1 - t0, detail);
  return p;
}

static void *alloc_counted(unsigned m, size_t size, size_t requested, size_t align, bool zero) {
  bool sampled = (m & MODE_PROF) && ((m & MODE_PROF_ALL) || cc__prof_sample());
  return alloc_observed(m, size, requested, align, zero, sampled);
}

static cc_noinline void *alloc_slow(size_t size, size_t requested, size_t align, bool zero) {
  unsigned m = mode_get();
  if ((m & MODE_FAIL) && injected_failure()) return NULL;
  return alloc_counted(m, size, requested, align, zero);
}

#define SIZE_UNKNOWN SIZE_MAX

/* cc_free_unsized cannot know the requested size; it counts the block's
 * usable size instead (documented in ccoll/alloc.h), unless tracking knows
 * the request. */
/* Whether the profiler looks at this free: every one at rate 1; below, a
 * countdown of its own without block memory, else the sampled-block filter. */
static bool free_watched(unsigned m, const void *p) {
  if (!(m & MODE_PROF)) return false;
  if (m & MODE_PROF_ALL) return true;
  return (m & MODE_PROF_TALLY) ? cc__prof_sample_free() : cc__prof_maybe_sampled(p);
}

static void release(unsigned m, void *p, size_t size) {
  if (m & MODE_STATS) stats_count(false, size != SIZE_UNKNOWN ? size : backend_usable(m, p));
  if (!free_watched(m, p)) {
    backend_free(m, p);
    return;
  }
  cc__prof_free_t tok;
  cc__prof_free_begin(p, size, &tok); /* before the free: the address may be reused at once */
  bool detail = tok.sampled && cc__prof_detail();
  uint64_t t0 = detail && cc_atomic_load_relaxed(&cc__prof_time_ops) ? cc__prof_ticks() : 0;
  backend_free(m, p);
  uint64_t t1 = t0 ? cc__prof_ticks() : 0;
  if (tok.sampled) cc__prof_free_end(&tok, t1 - t0, detail);
}

static cc_noinline void free_slow(void *p, size_t size) {
  unsigned m = mode_get();
  if (m & MODE_TRACK) {
    size_t requested;
    /* an unknown pointer was reported; it never reaches the allocator */
    if (!cc__track_on_free(p, &requested)) return;
    if (size == SIZE_UNKNOWN) size = requested;
  }
  release(m, p, size);
}

void cc__alloc_release(void *ptr, size_t size) {
  if (ptr != NULL) release(mode_get(), ptr, size);
}

/* ------------------------------------------------------------ public API */

/* Profiling with block memory (leak list, stacks) below rate 1, nothing
 * else on: an unsampled allocation costs a countdown and a call, not the
 * generic slow path. */
static cc_noinline void *alloc_prof(size_t size, size_t requested, size_t align) {
  if (cc_likely(!cc__countdown_expired(&cc__prof_tls.countdown)))
    return align ? mi_malloc_aligned(size, align) : mi_malloc(size);
  cc__prof_rearm();
  return alloc_observed(MODE_FAST_PROF, size, requested, align, false, true);
}

static cc_noinline void free_prof(void *ptr, size_t size) {
  if (cc_likely(!cc__prof_maybe_sampled(ptr))) mi_free(ptr);
  else release(MODE_FAST_PROF, ptr, size);
}

/* Tally profiler below rate 1 (no block memory): allocations and frees
 * are sampled by independent countdowns. The public functions decrement
 * the countdown themselves, right after the mode compare (an unsampled
 * operation costs one TLS decrement); cc__prof_sampled_* run when it
 * expired. */
static inline bool sample_alloc_skipped(unsigned m) {
  return m == MODE_FAST_SAMPLE && cc_likely(!cc__countdown_expired(&cc__prof_tls.countdown));
}

void *cc_alloc(size_t size) {
  if (cc_unlikely(size == 0)) return NULL;
  unsigned m = cc_atomic_load_relaxed(&alloc_mode);
  if (cc_likely(m == MODE_FAST)) return mi_malloc(size);
  if (m == MODE_FAST_TALLY) return cc__prof_tally_alloc(size, size, 0);
  if (sample_alloc_skipped(m)) return mi_malloc(size);
  if (m == MODE_FAST_SAMPLE) return cc__prof_sampled_alloc(size, size, 0);
  if (m == MODE_FAST_PROF) return alloc_prof(size, size, 0);
  return alloc_slow(size, size, 0, false);
}

void *cc_calloc(size_t count, size_t size) {
  size_t total;
  if (count == 0 || size == 0 || __builtin_mul_overflow(count, size, &total)) return NULL;
  if (cc_likely(cc_atomic_load_relaxed(&alloc_mode) == MODE_FAST)) return mi_zalloc(total);
  return alloc_slow(total, total, 0, true);
}

void *cc_alloc_aligned(size_t size, size_t alignment) {
  if (size == 0 || alignment == 0 || (alignment & (alignment - 1)) != 0) return NULL;
  if (cc_likely(cc_atomic_load_relaxed(&alloc_mode) == MODE_FAST)) return mi_malloc_aligned(size, alignment);
  return alloc_slow(size, size, alignment, false);
}

/* Node sizes the fast paths serve from mimalloc's small-object route:
 * rounded - 1 < NODE_SMALL_MAX also rejects 0 (size 0, or an overflowing
 * rounding). Larger nodes take mi_malloc_aligned through the slow path. */
#define NODE_SMALL_MAX ((size_t)MI_SMALL_SIZE_MAX)

void *cc__mi_node_misaligned(void *p) {
  size_t rounded = cc__node_round(mi_usable_size(p));
  mi_free(p);
  if (!cc_atomic_load_relaxed(&mi_misaligned)) {
    cc_atomic_store_relaxed(&mi_misaligned, true);
    mode_resolve();
  }
  return mi_malloc_aligned(rounded, CC_CACHE_LINE);
}

/* Statistics with a thread not attached yet (or exited): the general
 * counting path. */
static cc_noinline void *node_alloc_stats(size_t rounded, size_t size) {
  void *p = cc__mi_node_small(rounded);
  if (cc_likely(p != NULL)) stats_count(true, size);
  return p;
}

/* Everything but plain mimalloc, sampled-out profiling and statistics. */
static cc_noinline void *node_alloc_other(unsigned m, size_t rounded, size_t size) {
  if (rounded == 0) return NULL;
  if (m == MODE_FAST) return mi_malloc_aligned(rounded, CC_CACHE_LINE);
  if (m == MODE_FAST_SAMPLE) {
    /* only large nodes come here (small ones go through the gate) */
    if (!cc__countdown_expired(&cc__prof_tls.countdown)) return mi_malloc_aligned(rounded, CC_CACHE_LINE);
    return cc__prof_sampled_alloc(rounded, size, CC_CACHE_LINE);
  }
  if (m == MODE_FAST_TALLY) return cc__prof_tally_alloc(rounded, size, CC_CACHE_LINE);
  if (m == MODE_FAST_PROF) return alloc_prof(rounded, size, CC_CACHE_LINE);
  if (m == MODE_FAST_STATS && rounded <= NODE_SMALL_MAX) return node_alloc_stats(rounded, size);
  return alloc_slow(rounded, size, CC_CACHE_LINE, false);
}

/* A small node whose gate expired in sampling mode: this operation
 * decrements the sampling countdown, then the gate is re-armed from it. */
static cc_noinline void *node_gate_sampling(size_t rounded, size_t size) {
  void *p = cc__countdown_expired(&cc__prof_tls.countdown)
                ? cc__prof_sampled_alloc(rounded, size, CC_CACHE_LINE)
                : cc__mi_node_small(rounded);
  gate_arm_sampling(&cc__prof_tls.gate, &cc__prof_tls.countdown);
  return p;
}

/* The fast path is the gate: a TLS decrement and a sign test, the same in
 * plain mode and while the sampling profiler skips, then a tail jump into
 * mi_malloc_small. Its block needs no alignment test: the gates are armed
 * only in MODE_FAST and MODE_FAST_SAMPLE, which exclude MODE_MI_ALIGNED,
 * so the layout probe passed. At its expiry, expiry_inline: statistics
 * (counted, then a call) or the tally profiler inline, anything else out
 * of line (node_gated_out reads the mode word). */
static cc_noinline void *node_gated_out(size_t rounded, size_t size);

/* The two hot entry points start a cache line: each fast path (under 48
 * bytes) is then one fetch block, whatever the code before it; where the
 * linker happened to put them moved a pair's cost by 5-10%. */
#define HOT_ENTRY __attribute__((aligned(CC_CACHE_LINE)))

HOT_ENTRY void *cc_alloc_node(size_t size) {
  size_t rounded = cc__node_round(size);
  if (cc_likely(rounded - 1 < NODE_SMALL_MAX)) {
    if (cc_likely(!cc__countdown_expired(&cc__prof_tls.gate))) return mi_malloc_small(rounded);
    /* the modes that never arm the gate and stay inline: statistics and
     * the tally profiler at rate 1. Statistics count before the call, so
     * that nothing has to live across it (undone on failure), and make
     * the call here, on the fall-through path: a jump to an out-of-line
     * caller cost 2-3% of a counted pair (the call itself, needed to see
     * a failure, about 15%). MODE_FAST_STATS excludes MODE_MI_ALIGNED:
     * mimalloc's layout needs no address test. */
    unsigned char k = cc_atomic_load_relaxed(&expiry_inline);
    if (cc_likely(t_stats.state == k)) {
      stats_add(true, size);
      t_stats.pending = size;
      void *p = mi_malloc_small(rounded);
      return cc_likely(p != NULL) ? p : stats_alloc_failed();
    }
    if (k == INLINE_TALLY) return cc__prof_tally_node(rounded, size);
  }
  return node_gated_out(rounded, size);
}

/* Out of line, so that the fast path keeps no register across its call. */
static cc_noinline void *node_gated_out(size_t rounded, size_t size) {
  /* the raw word: an unresolved mode goes to the slow path, which resolves
   * it (calling the resolution here would cost a saved register) */
  unsigned m = cc_atomic_load_relaxed(&alloc_mode);
  if (cc_likely(rounded - 1 < NODE_SMALL_MAX)) {
    if (m == MODE_FAST) {
      gate_arm_plain(&cc__prof_tls.gate);
      return cc__mi_node_small(rounded);
    }
    if (m == MODE_FAST_SAMPLE) return node_gate_sampling(rounded, size);
    if (m == MODE_FAST_STATS) return node_alloc_stats(rounded, size);
  }
  return node_alloc_other(m, rounded, size);
}

/* Packed blocks (the SMR layer's sub-line nodes): malloc's alignment, the
 * byte count asked for, and the same gate as cc_alloc_node. The reuse
 * pool passes that gate for each block it hands out in place of an
 * allocation; a thread allocating only packed blocks must re-arm it as
 * one allocating lines does, or its pool would stop serving at the first
 * expiry. At expiry, plain and sampling mode re-arm here; every other
 * mode never arms the gate and takes cc_alloc's paths. */
static cc_noinline void *packed_gated_out(size_t size);

void *cc__alloc_packed(size_t size) {
  if (cc_likely(size - 1 < NODE_SMALL_MAX) && cc_likely(!cc__countdown_expired(&cc__prof_tls.gate)))
    return mi_malloc_small(size);
  return packed_gated_out(size);
}

static cc_noinline void *packed_gated_out(size_t size) {
  unsigned m = cc_atomic_load_relaxed(&alloc_mode);
  if (size - 1 >= NODE_SMALL_MAX || (m != MODE_FAST && m != MODE_FAST_SAMPLE)) return cc_alloc(size);
  void *p = m == MODE_FAST_SAMPLE && cc__countdown_expired(&cc__prof_tls.countdown)
                ? cc__prof_sampled_alloc(size, size, 0)
                : mi_malloc_small(size);
  if (m == MODE_FAST) gate_arm_plain(&cc__prof_tls.gate);
  else gate_arm_sampling(&cc__prof_tls.gate, &cc__prof_tls.countdown);
  return p;
}

static cc_noinline void free_stats(void *ptr, size_t size) {
  stats_count(false, size);
  mi_free(ptr);
}

static cc_noinline void free_other(unsigned m, void *ptr, size_t size) {
  if (ptr == NULL) return;
  if (m == MODE_FAST_TALLY) cc__prof_tally_free(ptr, size);
  else if (m == MODE_FAST_STATS) free_stats(ptr, size);
  else if (m == MODE_FAST_PROF) free_prof(ptr, size);
  else free_slow(ptr, size);
}

static cc_noinline void free_gate_sampling(void *ptr, size_t size) {
  if (cc__countdown_expired(&cc__prof_tls.free_countdown) && ptr != NULL) cc__prof_sampled_free(ptr, size);
  else mi_free(ptr);
  gate_arm_sampling(&cc__prof_tls.free_gate, &cc__prof_tls.free_countdown);
}

static cc_noinline void free_gated_out(void *ptr, size_t size);

HOT_ENTRY void cc_free(void *ptr, size_t size) {
  /* mimalloc finds the size class from the pointer, and mi_free(NULL) is a
   * no-op: the fast paths need no NULL test; size is for the counters. The
   * gate is armed only in plain and sampling mode, both mimalloc. */
  if (cc_likely(!cc__countdown_expired(&cc__prof_tls.free_gate))) {
    /* Emits nothing; it keeps the compiler from merging this tail jump
     * with the counted path's below (gcc's cross-jumping), which would
     * make that path jump back here: one more taken branch, about 5% of
     * a counted pair. */
    __asm__("");
    mi_free(ptr);
    return;
  }
  unsigned char k = cc_atomic_load_relaxed(&expiry_inline);
  if (cc_likely(t_stats.state == k) && cc_likely(ptr != NULL)) {
    stats_add(false, size);
    mi_free(ptr);
    return;
  }
  if (k == INLINE_TALLY && cc_likely(ptr != NULL)) {
    cc__prof_tally_free(ptr, size);
    return;
  }
  free_gated_out(ptr, size);
}

static cc_noinline void free_gated_out(void *ptr, size_t size) {
  /* statistics on a linked thread and the tally profiler: done inline */
  unsigned m = cc_atomic_load_relaxed(&alloc_mode); /* unresolved: free_other resolves */
  if (m == MODE_FAST) {
    gate_arm_plain(&cc__prof_tls.free_gate);
    mi_free(ptr);
    return;
  }
  if (m == MODE_FAST_SAMPLE) { free_gate_sampling(ptr, size); return; }
  free_other(m, ptr, size);
}

void cc_free_unsized(void *ptr) {
  if (cc_unlikely(ptr == NULL)) return;
  if (cc_likely(cc_atomic_load_relaxed(&alloc_mode) == MODE_FAST)) { mi_free(ptr); return; }
  free_slow(ptr, SIZE_UNKNOWN);
}

/* ------------------------------------------------------------ internal */

static cc_thread_local unsigned internal_fail_next; /* tests: cc__alloc_internal_fail_next */

void cc__alloc_internal_fail_next(unsigned n) { internal_fail_next = n; }

void *cc__alloc_internal(size_t size, size_t alignment, bool zero) {
  if (size == 0) return NULL;
  if (cc_unlikely(internal_fail_next != 0)) {
    internal_fail_next--;
    return NULL;
  }
  return alloc_counted(mode_get(), size, size, alignment, zero);
}

size_t cc__alloc_usable_size(const void *p) {
  return p == NULL ? 0 : backend_usable(mode_get(), p);
}
