/* The profiler: sampling, per-thread records, the sampled-block table,
 * the cross-thread matrix, the timeline, snapshots.
 *
 * Two shapes (alloc.c calls in only while a profiler runs):
 *  - tally (no leak list, no stacks; the default): no block is
 *    remembered. At rate 1 every allocation and free adds to its thread's
 *    counters; below, allocations and frees are sampled by independent
 *    per-thread countdowns. Who allocated a freed block comes from the
 *    region table: mimalloc gives each 64 KiB region (a page, or a slice
 *    of a larger one) to one thread's heap, so the owner of the region a
 *    block starts in is the thread that allocated it.
 *  - block memory (leaks or stacks): a sampled allocation is remembered in
 *    a sharded table until its free; a counting filter keyed by address
 *    says cheaply whether a free may be of a sampled block.
 * One sampled operation in CC__PROF_DETAIL_EVERY is timed, measures its
 * usable size and advances the timeline. Per-thread figures are written by
 * their owner only (relaxed load+store, no lock prefix) and summed by
 * snapshots. */
#include <mimalloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc_internal.h"
#include "alloc/profiler_internal.h"
#include "alloc/track_internal.h"
#include "alloc/mi_node.h"
#include "atomic.h"
#include "compiler.h"
#include "options.h"
#include "ccoll/profiler.h"

/* A sampled block's entry kind says whether its filter counter was raised. */
enum { KIND_SAMPLE = 200, KIND_SAMPLE_FILTERED, MDIM = 128, TL_MAX = 512, KEEP_DEAD = 256 };

struct cc_profiler {
  cc_profiler_options_t opt;
  pthread_mutex_t lock; /* start, stop, reset and snapshots may come from any thread */
  bool running;
  uint64_t run_start_ns; /* of the current run */
  uint64_t accumulated_ns;
};

typedef struct prec {
  cc_atomic(uint64_t) gen;
  /* frag_*: requested and usable bytes of the allocations that measured
   * their usable size (all sampled ones below rate 1, one in 8 at rate 1) */
  cc_atomic(uint64_t) allocs, frees, alloc_bytes, free_bytes, cross_sent, frag_requested, frag_usable;
  cc_atomic(uint64_t) size_hist[CC_PROFILE_SIZE_BUCKETS];
  cc_atomic(uint64_t) lat[2][CC_PROFILE_LAT_BUCKETS];
  cc_atomic(uint64_t) from[MDIM]; /* frees by this thread of blocks allocated by thread (index) */
  uint32_t tid;
  char name[16];
  cc_atomic(bool) alive;
  struct prec *next;
} prec_t;

/* ------------------------------------------------------------ global state */

static cc_atomic(cc_profiler_t *) active;
cc_atomic(bool) cc__prof_time_ops;
enum { FEAT_SIZES = 1, FEAT_CROSS = 2 };
static cc_atomic(unsigned) feat; /* what the tally path records */
static cc_atomic(uint64_t) detail_every = CC__PROF_DETAIL_EVERY;
static cc_atomic(uint64_t) rate_bits; /* bits of 1 / rate of the running profiler */
static cc_atomic(uint64_t) sample_span; /* 2 / rate - 1, at most 2^32 - 1: sampling intervals are drawn from [1, span] */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static cc_registry_t *table;       /* sampled blocks still allocated */
cc_atomic(uint16_t) cc__prof_filter[1u << CC__PROF_FILTER_BITS];
static cc_atomic(bool) sample_all; /* rate 1: no filter */
static cc_atomic(bool) tally;      /* rate 1, no block remembered */
static cc_atomic(int64_t) live_bytes, peak_bytes; /* for the peak: one shared counter */
static cc_atomic(uint64_t) peak_ns;
static cc_atomic(uint64_t) dropped;
static cc_atomic(uint64_t) gen = 1;
static double ns_per_tick = 1.0;

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static prec_t *recs;
static size_t ndead;
static prec_t exited; /* folded records of exited threads beyond KEEP_DEAD */
static pthread_key_t rec_key;

static pthread_mutex_t tl_lock = PTHREAD_MUTEX_INITIALIZER;
static cc_profile_point_t tl[TL_MAX];
static size_t tl_n;
static uint64_t tl_step_ns = 10000000;
static cc_atomic(uint64_t) tl_next_ns;
static uint64_t epoch_ns; /* start of the figures (first start or reset) */

static pthread_mutex_t dom_lock = PTHREAD_MUTEX_INITIALIZER;
enum { MAX_DOMAINS = 256 };
static cc_smr_t *domains[MAX_DOMAINS];
static size_t ndomains;

cc_thread_local cc__prof_tls_t cc__prof_tls;
static cc_thread_local uint64_t t_rng;
static cc_thread_local bool t_rec_gone;

/* ------------------------------------------------------------ helpers */

static void rec_thread_exit(void *arg);
static void live_publish(const prec_t *r, bool force);

static void calibrate(void) {
#if defined(__x86_64__)
  uint64_t n0 = cc__now_ns(), c0 = cc__prof_ticks(), n1, c1;
  do {
    n1 = cc__now_ns();
    c1 = cc__prof_ticks();
  } while (n1 - n0 < 2000000);
  ns_per_tick = (double)(n1 - n0) / (double)(c1 - c0);
#endif
}

static void global_init(void) {
  /* more shards than the public default: at sample rate 1 every operation
   * of every thread goes through this table */
  table = cc__registry_new_quiet(64);
  pthread_key_create(&rec_key, rec_thread_exit);
  calibrate();
}

static inline unsigned midx(uint32_t tid) { return tid == 0 ? 0 : (tid - 1 < MDIM ? tid - 1 : MDIM - 1); }

unsigned cc__prof_lat_bucket(uint64_t ns) {
  if (ns < 16) return (unsigned)ns;
  unsigned e = 63u - (unsigned)__builtin_clzll(ns);
  unsigned sub = (unsigned)(ns >> (e - 2)) & 3u;
  return 16u + (e - 4u) * 4u + sub;
}

double cc_profile_lat_bucket_ns(unsigned b) {
  if (b < 16) return b;
  if (b >= CC_PROFILE_LAT_BUCKETS) b = CC_PROFILE_LAT_BUCKETS - 1;
  unsigned e = 4 + (b - 16) / 4, sub = (b - 16) % 4;
  return (double)(4 + sub) * (double)(1ull << (e - 2));
}

/* The value a percentile reports for bucket b: its middle. */
static double bucket_mid(unsigned b) {
  if (b < 16) return b;
  double lo = cc_profile_lat_bucket_ns(b);
  double hi = b + 1 < CC_PROFILE_LAT_BUCKETS ? cc_profile_lat_bucket_ns(b + 1) : lo * 1.25;
  return (lo + hi) / 2;
}

double cc__prof_percentile(const uint64_t *hist, double q) {
  uint64_t total = 0;
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) total += hist[b];
  if (total == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)total);
  if ((double)rank < q * (double)total) rank++;
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) {
    seen += hist[b];
    if (seen >= rank) return bucket_mid(b);
  }
  return bucket_mid(CC_PROFILE_LAT_BUCKETS - 1);
}

static inline void own_add(cc_atomic(uint64_t) *c, uint64_t v) { cc_atomic_add_owner_u64(c, v); }

/* Everything from `allocs` up to `tid` is a uint64_t counter: folds and
 * resets walk them as one array. Keep other fields out of that range. */
enum { REC_COUNTERS = (offsetof(prec_t, tid) - offsetof(prec_t, allocs)) / sizeof(uint64_t) };
_Static_assert(sizeof(cc_atomic(uint64_t)) == sizeof(uint64_t), "counters are plain words");

/* By the owner (or under list_lock for a dead record); snapshots may read
 * concurrently, hence atomic stores. */
static void rec_zero(prec_t *r) {
  cc_atomic(uint64_t) *c = &r->allocs;
  for (size_t i = 0; i < REC_COUNTERS; i++) cc_atomic_store_relaxed(&c[i], 0);
}

/* ------------------------------------------------------------ per-thread records */

static cc_noinline prec_t *rec_attach(void) {
  if (t_rec_gone) return NULL;
  prec_t *r;
  /* line-aligned: records of different threads never share a line */
  if (posix_memalign((void **)&r, CC__LINE, sizeof *r) != 0) return NULL;
  memset(r, 0, sizeof *r);
  r->tid = cc__thread_id();
  pthread_getname_np(pthread_self(), r->name, sizeof r->name);
  cc_atomic_store_relaxed(&r->alive, true);
  pthread_mutex_lock(&list_lock);
  cc_atomic_store_relaxed(&r->gen, cc_atomic_load_relaxed(&gen));
  r->next = recs;
  recs = r;
  pthread_mutex_unlock(&list_lock);
  pthread_setspecific(rec_key, r);
  cc__prof_tls.rec = r;
  cc__prof_tls.region_tid = r->tid < 0xffff ? r->tid : 0xffff;
  return r;
}

static cc_noinline prec_t *rec_renew(void) {
  if (cc__prof_tls.unobserved) return NULL;
  prec_t *r = cc__prof_tls.rec;
  if (r == NULL && (r = rec_attach()) == NULL) return NULL;
  uint64_t g = cc_atomic_load_relaxed(&gen);
  if (cc_atomic_load_relaxed(&r->gen) != g) {
    rec_zero(r);
    cc__prof_tls.live_published = 0;
    cc_atomic_store_relaxed(&r->gen, g);
  }
  return r;
}

/* This thread's record, zeroed first if a reset happened since its last use. */
static inline prec_t *rec_get(void) {
  prec_t *r = cc__prof_tls.rec;
  if (cc_likely(r != NULL) && cc_likely(cc_atomic_load_relaxed(&r->gen) == cc_atomic_load_relaxed(&gen)))
    return r;
  return rec_renew();
}

static void rec_fold(prec_t *into, prec_t *r) {
  cc_atomic(uint64_t) *d = &into->allocs, *s = &r->allocs;
  for (size_t i = 0; i < REC_COUNTERS; i++) own_add(&d[i], cc_atomic_load_relaxed(&s[i]));
}

static void rec_thread_exit(void *arg) {
  prec_t *r = arg;
  cc__prof_tls.rec = NULL;
  t_rec_gone = true;
  pthread_mutex_lock(&list_lock);
  if (cc_atomic_load_relaxed(&r->gen) == cc_atomic_load_relaxed(&gen)) live_publish(r, true);
  cc_atomic_store_relaxed(&r->alive, false);
  if (++ndead > KEEP_DEAD) { /* keep memory bounded: fold into "exited" */
    if (cc_atomic_load_relaxed(&r->gen) == cc_atomic_load_relaxed(&gen)) rec_fold(&exited, r);
    prec_t **pp = &recs;
    while (*pp != r) pp = &(*pp)->next;
    *pp = r->next;
    ndead--;
    free(r);
  }
  pthread_mutex_unlock(&list_lock);
}

/* ------------------------------------------------------------ sampling */

/* An interval uniform on [1, 2 mean - 1]: mean `mean`, no phase lock
 * with periodic workloads. */
/* An interval uniform on [1, span] (span = 2 mean - 1: mean `mean`), no
 * phase lock with periodic workloads. Integer arithmetic: this runs on
 * every sampled operation. */
static int64_t draw_interval(uint64_t span) {
  if (span <= 1) return 1;
  uint64_t x = t_rng;
  if (cc_unlikely(x == 0)) x = 0x9E3779B97F4A7C15ull * (cc__thread_id() + 1);
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  t_rng = x;
  return 1 + (int64_t)(((x >> 32) * span) >> 32);
}

void cc__prof_rearm(void) { cc__prof_tls.countdown = draw_interval(cc_atomic_load_relaxed(&sample_span)) - 1; }
void cc__prof_free_rearm(void) { cc__prof_tls.free_countdown = draw_interval(cc_atomic_load_relaxed(&sample_span)) - 1; }
void cc__prof_detail_rearm(void) {
  cc__prof_tls.detail_countdown = draw_interval(2 * cc_atomic_load_relaxed(&detail_every) - 1) - 1;
}

void cc__prof_set_detail_every(unsigned n) {
  cc_atomic_store_relaxed(&detail_every, n ? n : 1);
  cc__prof_tls.detail_countdown = 0;
}

/* live_bytes exists for the peak. Rather than write that shared counter on
 * every operation, a thread publishes its net (allocated - freed bytes of
 * its record) at its detail operations, one sampled operation in
 * CC__PROF_DETAIL_EVERY, once it moved by LIVE_BATCH_BYTES: the peak is
 * kept to within that per thread, and misses spikes shorter than about
 * 64 operations. (A thread that allocates as much as it frees then never
 * writes the shared line.) */
enum { LIVE_BATCH_BYTES = 16384 };

static void live_publish(const prec_t *r, bool force) {
  int64_t net = (int64_t)(cc_atomic_load_relaxed(&r->alloc_bytes) - cc_atomic_load_relaxed(&r->free_bytes));
  int64_t bytes = net - cc__prof_tls.live_published;
  if (bytes == 0 || (!force && bytes < LIVE_BATCH_BYTES && bytes > -LIVE_BATCH_BYTES)) return;
  cc__prof_tls.live_published = net;
  int64_t now = cc_atomic_fetch_add_relaxed(&live_bytes, bytes) + bytes;
  int64_t peak = cc_atomic_load_relaxed(&peak_bytes);
  while (now > peak) {
    /* relaxed: the peak is a figure; it orders no other memory */
    if (cc_atomic_cas_strong_relaxed(&peak_bytes, &peak, now)) {
      cc_atomic_store_relaxed(&peak_ns, cc__now_coarse_ns());
      break;
    }
  }
}

static uint64_t sum_field_locked(size_t off) {
  uint64_t t = cc_atomic_load_relaxed((cc_atomic(uint64_t) *)((char *)&exited + off));
  uint64_t g = cc_atomic_load_relaxed(&gen);
  for (prec_t *r = recs; r; r = r->next)
    if (cc_atomic_load_relaxed(&r->gen) == g)
      t += cc_atomic_load_relaxed((cc_atomic(uint64_t) *)((char *)r + off));
  return t;
}

static double mean_interval(void) {
  uint64_t bits = cc_atomic_load_relaxed(&rate_bits);
  double m;
  memcpy(&m, &bits, sizeof m);
  return m < 1.0 ? 1.0 : m;
}

static void timeline_point_locked(uint64_t now) {
  double w = mean_interval();
  pthread_mutex_lock(&list_lock);
  uint64_t a = sum_field_locked(offsetof(prec_t, allocs));
  uint64_t f = sum_field_locked(offsetof(prec_t, frees));
  pthread_mutex_unlock(&list_lock);
  if (tl_n == TL_MAX) { /* halve the resolution, keep the span */
    for (size_t i = 0; i < TL_MAX / 2; i++) tl[i] = tl[2 * i];
    tl_n = TL_MAX / 2;
    tl_step_ns *= 2;
  }
  int64_t live = cc_atomic_load_relaxed(&live_bytes);
  tl[tl_n++] = (cc_profile_point_t){(double)(now - epoch_ns) / 1e9,
                                    live > 0 ? (uint64_t)((double)live * w) : 0,
                                    (uint64_t)((double)a * w), (uint64_t)((double)f * w)};
  cc_atomic_store_relaxed(&tl_next_ns, now + tl_step_ns);
}

/* On detail operations only: they are frequent enough for a 10 ms step. */
static void timeline_maybe(void) {
  uint64_t now = cc__now_coarse_ns();
  if (now < cc_atomic_load_relaxed(&tl_next_ns)) return;
  pthread_mutex_lock(&tl_lock);
  if (now >= cc_atomic_load_relaxed(&tl_next_ns)) timeline_point_locked(now);
  pthread_mutex_unlock(&tl_lock);
}

void cc__prof_record_latency(int which, uint64_t ns) {
  prec_t *r = rec_get();
  if (r) own_add(&r->lat[which][cc__prof_lat_bucket(ns)], 1);
}

static inline uint64_t ticks_to_ns(uint64_t ticks) { return (uint64_t)((double)ticks * ns_per_tick); }

/* ------------------------------------------------------------ region table */

/* Who allocated a block, without per-block memory (mimalloc only): each
 * 64 KiB region of the heap belongs to one thread's heap at a time, so an
 * allocation notes (region, its thread) in a direct-mapped table and a free
 * reads it back. The entry is written only when it changes (a thread's
 * first allocation in a region), so its line stays shared between the
 * threads reading it. Approximations: a region whose entry an aliasing
 * region (4 GiB apart) took over reads as "owner unknown" (counted as a
 * local free), and a block outliving its thread in a region another thread
 * took over (mimalloc reclaims abandoned pages) is charged to the new
 * owner. Thread ids are capped like the matrix (0xffff). */
enum { REGION_SHIFT = 16, REGION_BITS = 16 };
static cc_atomic(uint64_t) regions[1u << REGION_BITS];

static inline cc_atomic(uint64_t) *region_slot(const void *p) {
  return &regions[((uintptr_t)p >> REGION_SHIFT) & ((1u << REGION_BITS) - 1)];
}

static cc_noinline void region_note_table(const void *p) {
  uint64_t want = ((uint64_t)(uintptr_t)p & ~(uint64_t)0xffff) | cc__prof_tls.region_tid;
  cc_atomic(uint64_t) *e = region_slot(p);
  /* relaxed: the block reaches its freeing thread through the user's own
   * synchronisation, which orders this store before the free's load */
  if (cc_atomic_load_relaxed(e) != want) cc_atomic_store_relaxed(e, want);
  cc__prof_tls.noted_region = (uintptr_t)p >> REGION_SHIFT;
}

/* Consecutive allocations of a thread mostly fall in the region it noted
 * last: then the table is not even read. Detail operations forget that
 * region, so an entry an aliasing region took over is put back within
 * about 64 operations. */
static inline void region_note(const void *p) {
  if (cc_unlikely(((uintptr_t)p >> REGION_SHIFT) != cc__prof_tls.noted_region)) region_note_table(p);
}

static inline uint32_t region_owner(const void *p) {
  uint64_t e = cc_atomic_load_relaxed(region_slot(p));
  return ((e ^ (uint64_t)(uintptr_t)p) >> REGION_SHIFT) == 0 ? (uint32_t)(e & 0xffff) : 0;
}

/* ------------------------------------------------------------ recording */

/* n: 1, or -1 to take back an allocation counted before it failed. */
static inline void count_alloc_size(prec_t *r, size_t requested, unsigned f, int64_t n) {
  own_add(&r->allocs, (uint64_t)n);
  own_add(&r->alloc_bytes, (uint64_t)n * requested);
  /* likely: the default options have both features */
  if (cc_likely(f & FEAT_SIZES)) own_add(&r->size_hist[63 - __builtin_clzll((unsigned long long)requested | 1)], (uint64_t)n);
}

static inline void count_alloc(prec_t *r, const void *p, size_t requested, unsigned f) {
  count_alloc_size(r, requested, f, 1);
  if (f & FEAT_CROSS) region_note(p);
}

/* me: this thread's id as `owner` spells it (exact from the sampled-block
 * table, capped from the region table); owner 0: unknown. */
static inline void count_free(prec_t *r, uint32_t owner, uint32_t me, size_t bytes) {
  own_add(&r->frees, 1);
  own_add(&r->free_bytes, bytes);
  if (cc_unlikely(owner != 0 && owner != me)) {
    own_add(&r->cross_sent, 1);
    own_add(&r->from[midx(owner)], 1);
  }
}

/* A detail allocation: latency (ticks, 0 when not timed), usable size. */
static void detail_alloc(prec_t *r, const void *p, size_t requested, uint64_t ticks) {
  cc__prof_tls.noted_region = 0;
  if (ticks) own_add(&r->lat[0][cc__prof_lat_bucket(ticks_to_ns(ticks))], 1);
  if (cc_atomic_load_relaxed(&feat) & FEAT_SIZES) {
    own_add(&r->frag_requested, requested);
    own_add(&r->frag_usable, cc__alloc_usable_size(p));
  }
  live_publish(r, false);
  timeline_maybe();
}

static void detail_free(prec_t *r, uint64_t ticks) {
  cc__prof_tls.noted_region = 0;
  if (ticks) own_add(&r->lat[1][cc__prof_lat_bucket(ticks_to_ns(ticks))], 1);
  live_publish(r, false);
  timeline_maybe();
}

void cc__prof_on_alloc(void *p, size_t requested, uint64_t ticks, bool detail) {
  cc_profiler_t *pr = cc_atomic_load_acquire(&active);
  prec_t *r;
  if (pr == NULL || (r = rec_get()) == NULL) return;
  bool filtered = !cc_atomic_load_relaxed(&sample_all);
  unsigned f = cc_atomic_load_relaxed(&feat);
  if (cc_atomic_load_relaxed(&tally)) {
    /* counted below, not remembered */
  } else if (!cc__registry_put(table, p, requested, filtered ? KIND_SAMPLE_FILTERED : KIND_SAMPLE, pr->opt.stacks)) {
    cc_atomic_fetch_add_relaxed(&dropped, 1);
    return;
  } else {
    f &= ~(unsigned)FEAT_CROSS; /* the table knows the owner */
    if (filtered) cc_atomic_fetch_add_relaxed(&cc__prof_filter[cc__prof_filter_index(p)], 1);
  }
  count_alloc(r, p, requested, f);
  if (detail) detail_alloc(r, p, requested, ticks);
}

void cc__prof_free_begin(const void *p, size_t size, cc__prof_free_t *tok) {
  if (cc_atomic_load_relaxed(&tally)) { /* every block counts; the region table knows its owner */
    tok->sampled = true;
    tok->owner = (cc_atomic_load_relaxed(&feat) & FEAT_CROSS) ? region_owner(p) : 0;
    tok->bytes = size != SIZE_MAX ? size : cc__alloc_usable_size(p);
    return;
  }
  cc__reg_entry_t e;
  tok->sampled = table != NULL && cc__registry_take(table, p, &e);
  if (!tok->sampled) return;
  if (e.kind == KIND_SAMPLE_FILTERED) cc_atomic_fetch_sub_relaxed(&cc__prof_filter[cc__prof_filter_index(p)], 1);
  free(e.stack);
  tok->owner = e.owner;
  tok->bytes = e.bytes;
}

void cc__prof_free_end(const cc__prof_free_t *tok, uint64_t ticks, bool detail) {
  prec_t *r = rec_get();
  if (r == NULL) return;
  bool tallied = cc_atomic_load_relaxed(&tally);
  count_free(r, tok->owner, tallied ? cc__prof_tls.region_tid : r->tid, tok->bytes);
  if (detail) detail_free(r, ticks);
}

/* ------------------------------------------------------------ tally entry points */

/* Nodes (align CC_CACHE_LINE, rounded size) by the glue's own route. */
static inline void *mi_alloc(size_t size, size_t align) {
  if (align == CC_CACHE_LINE) return cc__mi_node(size);
  return align ? mi_malloc_aligned(size, align) : mi_malloc(size);
}

static inline bool rec_current(const prec_t *r) {
  return cc_likely(r != NULL) && cc_likely(cc_atomic_load_relaxed(&r->gen) == cc_atomic_load_relaxed(&gen));
}

/* A detail operation, or this thread's record is missing or stale. */
static cc_noinline void *tally_alloc_slow(size_t size, size_t requested, size_t align) {
  bool detail = cc__prof_tls.detail_countdown < 0;
  if (detail) cc__prof_detail_rearm();
  bool timed = detail && cc_atomic_load_relaxed(&cc__prof_time_ops);
  uint64_t t0 = timed ? cc__prof_ticks() : 0;
  void *p = mi_alloc(size, align);
  uint64_t t1 = timed ? cc__prof_ticks() : 0;
  prec_t *r;
  if (p == NULL || (r = rec_get()) == NULL) return p;
  count_alloc(r, p, requested, cc_atomic_load_relaxed(&feat));
  if (detail) detail_alloc(r, p, requested, timed ? (t1 - t0) | 1 : 0);
  return p;
}

/* The common case does its checks before calling mimalloc, so that the
 * rest (slow path, free) are tail calls and the frame stays small.
 * small_node: size is a rounded node size the small route serves, in
 * MODE_FAST_TALLY (alloc.c), which excludes MODE_MI_ALIGNED: mimalloc's
 * layout passed the glue's probe, and its block needs no address test. */
static cc_noinline void *tally_alloc_failed(void) {
  prec_t *r = cc__prof_tls.rec;
  count_alloc_size(r, cc__prof_tls.pending, cc_atomic_load_relaxed(&feat), -1);
  return NULL;
}

/* Counted before the call and taken back on failure (the size waits in
 * `pending`), so that only the block lives across the call: no saved
 * registers, no frame to speak of. feat is read again after the call: it
 * changes only when a profiler starts, and either reading is right then. */
static cc_force_inline void *tally_alloc(size_t size, size_t requested, size_t align, bool small_node) {
  if (cc_unlikely(cc__countdown_expired(&cc__prof_tls.detail_countdown)) || !rec_current(cc__prof_tls.rec))
    return tally_alloc_slow(size, requested, align);
  count_alloc_size(cc__prof_tls.rec, requested, cc_atomic_load_relaxed(&feat), 1);
  cc__prof_tls.pending = requested;
  void *p = small_node ? mi_malloc_small(size) : mi_alloc(size, align);
  if (cc_unlikely(p == NULL)) return tally_alloc_failed();
  if (cc_likely(cc_atomic_load_relaxed(&feat) & FEAT_CROSS)) region_note(p);
  return p;
}

void *cc__prof_tally_alloc(size_t size, size_t requested, size_t align) {
  return tally_alloc(size, requested, align, false);
}

void *cc__prof_tally_node(size_t rounded, size_t requested) {
  return tally_alloc(rounded, requested, CC_CACHE_LINE, true);
}

void *cc__prof_sampled_alloc(size_t size, size_t requested, size_t align) {
  cc__prof_rearm();
  return cc__prof_tally_alloc(size, requested, align);
}

static inline uint32_t owner_of(const void *p) {
  return (cc_atomic_load_relaxed(&feat) & FEAT_CROSS) ? region_owner(p) : 0;
}

static cc_noinline void tally_free_slow(void *p, size_t size) {
  bool detail = cc__prof_tls.detail_countdown < 0;
  if (detail) cc__prof_detail_rearm();
  uint32_t owner = owner_of(p); /* before the free: the region may change hands */
  bool timed = detail && cc_atomic_load_relaxed(&cc__prof_time_ops);
  uint64_t t0 = timed ? cc__prof_ticks() : 0;
  mi_free(p);
  uint64_t t1 = timed ? cc__prof_ticks() : 0;
  prec_t *r = rec_get();
  if (r == NULL) return;
  count_free(r, owner, cc__prof_tls.region_tid, size);
  if (detail) detail_free(r, timed ? (t1 - t0) | 1 : 0);
}

void cc__prof_tally_free(void *p, size_t size) {
  prec_t *r = cc__prof_tls.rec;
  if (cc_unlikely(cc__countdown_expired(&cc__prof_tls.detail_countdown)) || !rec_current(r)) {
    tally_free_slow(p, size);
    return;
  }
  count_free(r, owner_of(p), cc__prof_tls.region_tid, size);
  mi_free(p);
}

void cc__prof_sampled_free(void *p, size_t size) {
  cc__prof_free_rearm();
  cc__prof_tally_free(p, size);
}

/* ------------------------------------------------------------ domains */

void cc__track_domain_register(cc_smr_t *d) {
  if (d == NULL) return;
  pthread_mutex_lock(&dom_lock);
  bool known = false;
  for (size_t i = 0; i < ndomains && !known; i++) known = domains[i] == d;
  if (!known && ndomains < MAX_DOMAINS) domains[ndomains++] = d;
  pthread_mutex_unlock(&dom_lock);
}

void cc__track_domain_unregister(cc_smr_t *d) {
  pthread_mutex_lock(&dom_lock);
  for (size_t i = 0; i < ndomains; i++) {
    if (domains[i] != d) continue;
    domains[i] = domains[--ndomains];
    break;
  }
  pthread_mutex_unlock(&dom_lock);
}

/* ------------------------------------------------------------ lifecycle */

cc_profiler_options_t cc_profiler_default_options(void) {
  return (cc_profiler_options_t){.sizes = true, .latency = true, .per_thread = true,
                                 .cross_thread = true, .leaks = false, .stacks = false,
                                 .sample_rate = 1.0};
}

cc_profiler_t *cc_profiler_new(const cc_profiler_options_t *opt) {
  cc_profiler_options_t o = opt ? *opt : cc_profiler_default_options();
  if (!(o.sample_rate > 0.0 && o.sample_rate <= 1.0)) return NULL;
  pthread_once(&init_once, global_init);
  if (table == NULL) return NULL;
  cc_profiler_t *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->opt = o;
  pthread_mutex_init(&p->lock, NULL);
  return p;
}

static void forget_sample(const cc__reg_entry_t *e, void *ctx) {
  (void)ctx;
  if (e->kind == KIND_SAMPLE_FILTERED)
    cc_atomic_fetch_sub_relaxed(&cc__prof_filter[cc__prof_filter_index(e->ptr)], 1);
}

static void reset_all(void) {
  pthread_mutex_lock(&list_lock);
  cc_atomic_fetch_add_relaxed(&gen, 1);
  rec_zero(&exited);
  uint64_t g = cc_atomic_load_relaxed(&gen);
  for (prec_t *r = recs; r; r = r->next) {
    if (cc_atomic_load_relaxed(&r->alive)) continue; /* live owners zero themselves */
    rec_zero(r);
    cc_atomic_store_relaxed(&r->gen, g);
  }
  pthread_mutex_unlock(&list_lock);
  cc__registry_visit(table, true, forget_sample, NULL);
  cc_atomic_store_relaxed(&live_bytes, 0);
  cc_atomic_store_relaxed(&peak_bytes, 0);
  cc_atomic_store_relaxed(&dropped, 0);
  uint64_t now = cc__now_coarse_ns();
  cc_atomic_store_relaxed(&peak_ns, now);
  pthread_mutex_lock(&tl_lock);
  epoch_ns = now;
  tl_n = 0;
  tl_step_ns = 10000000;
  cc_atomic_store_relaxed(&tl_next_ns, now);
  pthread_mutex_unlock(&tl_lock);
}

/* No block remembered: nothing in the options needs a block's stack or to
 * know it is still live, and a block's owner comes from the region table
 * (mimalloc) or is not asked for. */
static bool counts_only(const cc_profiler_options_t *o) {
  return !o->leaks && !o->stacks && (!o->cross_thread || cc__alloc_backend_is_mimalloc());
}

int cc_profiler_start(cc_profiler_t *p) {
  if (p == NULL) return CC_EINVAL;
  pthread_mutex_lock(&p->lock);
  if (p->running) {
    pthread_mutex_unlock(&p->lock);
    return CC_OK;
  }
  cc_profiler_t *none = NULL;
  if (!cc_atomic_cas_strong_acq_rel(&active, &none, p)) {
    pthread_mutex_unlock(&p->lock);
    return CC_EXISTS;
  }
  if (p->accumulated_ns == 0) reset_all();
  double mean = 1.0 / p->opt.sample_rate;
  uint64_t bits;
  memcpy(&bits, &mean, sizeof bits);
  cc_atomic_store_relaxed(&rate_bits, bits);
  double span = 2 * mean - 1;
  cc_atomic_store_relaxed(&sample_span, span < 4294967295.0 ? (uint64_t)(span + 0.5) : 4294967295u);
  cc_atomic_store_relaxed(&cc__prof_time_ops, p->opt.latency);
  cc_atomic_store_relaxed(&sample_all, mean <= 1.0);
  bool count_only = counts_only(&p->opt);
  cc_atomic_store_relaxed(&tally, count_only);
  cc_atomic_store_relaxed(&feat, (p->opt.sizes ? FEAT_SIZES : 0u) | (p->opt.cross_thread ? FEAT_CROSS : 0u));
  p->running = true;
  p->run_start_ns = cc__now_ns();
  cc__alloc_set_profiling(true, mean <= 1.0, count_only);
  pthread_mutex_unlock(&p->lock);
  return CC_OK;
}

int cc_profiler_stop(cc_profiler_t *p) {
  if (p == NULL) return CC_EINVAL;
  pthread_mutex_lock(&p->lock);
  int status = CC_EINVAL;
  if (p->running) {
    cc__alloc_set_profiling(false, false, false);
    p->accumulated_ns += cc__now_ns() - p->run_start_ns;
    p->running = false;
    cc_atomic_store_release(&active, NULL);
    status = CC_OK;
  }
  pthread_mutex_unlock(&p->lock);
  return status;
}

void cc_profiler_reset(cc_profiler_t *p) {
  if (p == NULL) return;
  pthread_mutex_lock(&p->lock);
  p->accumulated_ns = 0;
  if (p->running) p->run_start_ns = cc__now_ns();
  /* the figures are shared: only the running profiler (or any, when none
   * runs) may clear them */
  if (p->running || cc_atomic_load_relaxed(&active) == NULL) reset_all();
  pthread_mutex_unlock(&p->lock);
}

/* No other call on p may run or follow. */
void cc_profiler_free(cc_profiler_t *p) {
  if (p == NULL) return;
  cc_profiler_stop(p);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

/* ------------------------------------------------------------ snapshot */

typedef struct {
  cc_profile_t *s;
  double w;
  uint64_t now;
  size_t cap;
} leak_ctx_t;

static void collect_leak(const cc__reg_entry_t *e, void *ctx) {
  leak_ctx_t *c = ctx;
  cc_profile_t *s = c->s;
  s->leak_blocks++;
  s->leak_bytes += e->bytes;
  /* keep the largest c->cap, sorted by size, descending */
  size_t n = s->nleaks;
  if (n == c->cap && s->leaks[n - 1].bytes >= e->bytes) return;
  size_t i = n < c->cap ? n : n - 1;
  while (i > 0 && s->leaks[i - 1].bytes < e->bytes) {
    s->leaks[i] = s->leaks[i - 1];
    i--;
  }
  cc_profile_leak_t *l = &s->leaks[i];
  memset(l, 0, sizeof *l);
  l->ptr = e->ptr;
  l->bytes = e->bytes;
  l->owner = e->owner;
  l->age = (double)(c->now - e->time_ns) / 1e9;
  l->nframes = e->stack ? (e->nframes < 16 ? e->nframes : 16) : 0;
  if (l->nframes) memcpy(l->stack, e->stack, l->nframes * sizeof(void *));
  if (n < c->cap) s->nleaks++;
}

static int cmp_thread(const void *a, const void *b) {
  const cc_profile_thread_t *x = a, *y = b;
  return (x->tid > y->tid) - (x->tid < y->tid);
}

static uint64_t scaled(uint64_t v, double w) { return (uint64_t)((double)v * w + 0.5); }

/* Each live-generation thread's matrix row (what it freed, by allocating
 * thread), keyed by its tid: the thread list is sorted afterwards. */
typedef struct {
  size_t n;
  uint32_t *tid;
  uint64_t *row; /* [i * MDIM + midx(owner)] */
} rows_t;

static bool snapshot_threads(cc_profile_t *s, double w, uint64_t *lat_a, uint64_t *lat_f, rows_t *rows) {
  pthread_mutex_lock(&list_lock);
  uint64_t g = cc_atomic_load_relaxed(&gen);
  size_t n = 0;
  for (prec_t *r = recs; r; r = r->next) n += cc_atomic_load_relaxed(&r->gen) == g;
  s->threads = calloc(n + 1, sizeof *s->threads);
  rows->tid = calloc(n + 1, sizeof *rows->tid);
  rows->row = calloc((n + 1) * MDIM, sizeof *rows->row);
  if (s->threads == NULL || rows->tid == NULL || rows->row == NULL) {
    pthread_mutex_unlock(&list_lock);
    return false;
  }
  uint64_t req = 0, usable = 0, sizes[CC_PROFILE_SIZE_BUCKETS] = {0};
  for (prec_t *r = recs;; r = r->next) {
    prec_t *src = r ? r : &exited;
    if (r && cc_atomic_load_relaxed(&r->gen) != g) continue;
    uint64_t a = cc_atomic_load_relaxed(&src->allocs), f = cc_atomic_load_relaxed(&src->frees);
    if (r || a || f) {
      cc_profile_thread_t *t = &s->threads[s->nthreads++];
      t->tid = src->tid;
      memcpy(t->name, r ? src->name : "exited threads", 15);
      t->alive = r ? cc_atomic_load_relaxed(&src->alive) : false;
      t->allocs = scaled(a, w);
      t->frees = scaled(f, w);
      t->alloc_bytes = scaled(cc_atomic_load_relaxed(&src->alloc_bytes), w);
      t->free_bytes = scaled(cc_atomic_load_relaxed(&src->free_bytes), w);
      t->cross_sent = scaled(cc_atomic_load_relaxed(&src->cross_sent), w);
    }
    if (r) {
      rows->tid[rows->n] = r->tid;
      for (unsigned i = 0; i < MDIM; i++) rows->row[rows->n * MDIM + i] = cc_atomic_load_relaxed(&r->from[i]);
      rows->n++;
    }
    req += cc_atomic_load_relaxed(&src->frag_requested);
    usable += cc_atomic_load_relaxed(&src->frag_usable);
    for (unsigned b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++) sizes[b] += cc_atomic_load_relaxed(&src->size_hist[b]);
    for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) {
      lat_a[b] += cc_atomic_load_relaxed(&src->lat[0][b]);
      lat_f[b] += cc_atomic_load_relaxed(&src->lat[1][b]);
    }
    if (r == NULL) break;
  }
  pthread_mutex_unlock(&list_lock);
  qsort(s->threads, s->nthreads, sizeof *s->threads, cmp_thread);
  s->fragmentation = usable ? 1.0 - (double)req / (double)usable : 0;
  if (s->options.sizes) { /* filled in by the caller once alloc_bytes is summed */
    s->requested_bytes = req;
    s->usable_bytes = usable;
  }
  for (unsigned b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++) s->size_hist[b] = scaled(sizes[b], w);
  return true;
}

static const uint64_t *row_of(const rows_t *rows, uint32_t tid) {
  for (size_t i = 0; i < rows->n; i++)
    if (rows->tid[i] == tid) return &rows->row[i * MDIM];
  return NULL;
}

static bool snapshot_matrix(cc_profile_t *s, double w, const rows_t *rows) {
  size_t n = s->nthreads;
  s->matrix_dim = n;
  s->matrix = calloc(n * n + 1, sizeof *s->matrix);
  if (s->matrix == NULL) return false;
  for (size_t f = 0; f < n; f++) {
    const uint64_t *row = row_of(rows, s->threads[f].tid);
    if (row == NULL) continue; /* the exited aggregate has no row */
    for (size_t a = 0; a < n; a++) {
      uint32_t ta = s->threads[a].tid;
      if (ta == 0 || ta == s->threads[f].tid) continue;
      uint64_t v = scaled(row[midx(ta)], w);
      s->matrix[a * n + f] = v;
      s->threads[a].cross_received += v;
    }
  }
  return true;
}

/* The default domain (created here if the program never used it), then
 * every domain registered through cc__track_domain_register. */
static bool snapshot_domains(cc_profile_t *s) {
  /* creating the default domain is not the program's allocation */
  void *rec = cc__prof_tls.rec;
  cc__prof_tls.unobserved = true; /* with no record, the hot paths ask rec_renew, which says no */
  cc__prof_tls.rec = NULL;
  cc_smr_t *dflt = cc_smr_default();
  cc__prof_tls.rec = rec;
  cc__prof_tls.unobserved = false;
  pthread_mutex_lock(&dom_lock);
  s->domains = calloc(ndomains + 1, sizeof *s->domains);
  if (s->domains == NULL) {
    pthread_mutex_unlock(&dom_lock);
    return false;
  }
  if (dflt != NULL) {
    s->domains[0].kind = cc_smr_kind(dflt);
    cc_smr_stats(dflt, &s->domains[0].stats);
    s->ndomains = 1;
  }
  for (size_t i = 0; i < ndomains; i++) {
    if (domains[i] == dflt) continue;
    cc_profile_domain_t *out = &s->domains[s->ndomains++];
    out->kind = cc_smr_kind(domains[i]);
    cc_smr_stats(domains[i], &out->stats);
  }
  pthread_mutex_unlock(&dom_lock);
  return true;
}

static bool snapshot_timeline(cc_profile_t *s) {
  uint64_t now = cc__now_coarse_ns();
  pthread_mutex_lock(&tl_lock);
  s->timeline = calloc(tl_n + 1, sizeof *s->timeline);
  if (s->timeline) {
    memcpy(s->timeline, tl, tl_n * sizeof *tl);
    s->timeline[tl_n] = (cc_profile_point_t){(double)(now - epoch_ns) / 1e9, s->live_bytes, s->allocs, s->frees};
    s->ntimeline = tl_n + 1;
  }
  s->peak_t = ((double)cc_atomic_load_relaxed(&peak_ns) - (double)epoch_ns) / 1e9;
  if (s->peak_t < 0) s->peak_t = 0;
  pthread_mutex_unlock(&tl_lock);
  return s->timeline != NULL;
}

cc_profile_t *cc_profiler_snapshot(cc_profiler_t *p) {
  if (p == NULL) return NULL;
  cc_profile_t *s = calloc(1, sizeof *s);
  uint64_t *lat = calloc(2 * CC_PROFILE_LAT_BUCKETS, sizeof *lat);
  rows_t rows = {0};
  if (s == NULL || lat == NULL) goto fail;
  uint64_t now = cc__now_ns();
  double w = 1.0 / p->opt.sample_rate;
  s->options = p->opt;
  s->sample_rate = p->opt.sample_rate;
  pthread_mutex_lock(&p->lock);
  s->elapsed = (double)(p->accumulated_ns + (p->running ? now - p->run_start_ns : 0)) / 1e9;
  pthread_mutex_unlock(&p->lock);
  if (!snapshot_threads(s, w, lat, lat + CC_PROFILE_LAT_BUCKETS, &rows)) goto fail;
  for (size_t i = 0; i < s->nthreads; i++) {
    s->allocs += s->threads[i].allocs;
    s->frees += s->threads[i].frees;
    s->alloc_bytes += s->threads[i].alloc_bytes;
    s->free_bytes += s->threads[i].free_bytes;
    s->cross_frees += s->threads[i].cross_sent;
  }
  s->cross_share = s->frees ? (double)s->cross_frees / (double)s->frees : 0;
  if (s->usable_bytes && s->requested_bytes) { /* scale the measured ratio to every allocation */
    double ratio = (double)s->usable_bytes / (double)s->requested_bytes;
    s->requested_bytes = s->alloc_bytes;
    s->usable_bytes = (uint64_t)((double)s->alloc_bytes * ratio + 0.5);
  }
  s->live_bytes = s->alloc_bytes > s->free_bytes ? s->alloc_bytes - s->free_bytes : 0;
  s->live_blocks = s->allocs > s->frees ? s->allocs - s->frees : 0;
  s->peak_bytes = scaled((uint64_t)cc_atomic_load_relaxed(&peak_bytes), w);
  if (s->peak_bytes < s->live_bytes) s->peak_bytes = s->live_bytes;
  if (s->elapsed > 0) {
    s->alloc_per_s = (double)s->allocs / s->elapsed;
    s->free_per_s = (double)s->frees / s->elapsed;
  }
  memcpy(s->alloc_lat, lat, sizeof s->alloc_lat);
  memcpy(s->free_lat, lat + CC_PROFILE_LAT_BUCKETS, sizeof s->free_lat);
  static const double q[4] = {0.50, 0.95, 0.99, 0.999};
  for (int i = 0; i < 4; i++) {
    s->alloc_ns[i] = cc__prof_percentile(s->alloc_lat, q[i]);
    s->free_ns[i] = cc__prof_percentile(s->free_lat, q[i]);
  }
  if (!snapshot_matrix(s, w, &rows)) goto fail;
  leak_ctx_t lc = {s, w, now, 32};
  s->leaks = calloc(lc.cap, sizeof *s->leaks);
  if (s->leaks == NULL) goto fail;
  cc__registry_visit(table, false, collect_leak, &lc);
  s->leak_blocks = scaled(s->leak_blocks, w);
  s->leak_bytes = scaled(s->leak_bytes, w);
  if (counts_only(&p->opt)) { /* no block list: what is live is what leaked */
    s->leak_blocks = s->live_blocks;
    s->leak_bytes = s->live_bytes;
  }
  if (!snapshot_domains(s) || !snapshot_timeline(s)) goto fail;
  free(lat);
  free(rows.tid);
  free(rows.row);
  return s;
fail:
  free(lat);
  free(rows.tid);
  free(rows.row);
  cc_profile_free(s);
  return NULL;
}

void cc_profile_free(cc_profile_t *s) {
  if (s == NULL) return;
  free(s->threads);
  free(s->matrix);
  free(s->leaks);
  free(s->domains);
  free(s->timeline);
  free(s);
}

/* ------------------------------------------------------------ whole-run profile */

static cc_profiler_t *env_profiler;
static const char *env_path;

cc_profiler_t *cc_profiler_global(void) { return env_profiler; }

static void env_report(void) {
  cc_profiler_t *p = env_profiler;
  if (p == NULL) return;
  int status = cc_profiler_report(p, env_path, CC_PROFILE_AUTO);
  if (status == CC_OK) fprintf(stderr, "ccoll: profile of this run written to %s\n", env_path);
  else fprintf(stderr, "ccoll: could not write the profile to %s: %s\n", env_path, cc_strerror(status));
}

static double env_rate(void) {
  const char *s = getenv("CCOLL_PROFILE_RATE");
  if (s == NULL || *s == '\0') return 1.0;
  char *end;
  double r = strtod(s, &end);
  if (*end != '\0' || !(r > 0.0 && r <= 1.0)) {
    fprintf(stderr, "ccoll: CCOLL_PROFILE_RATE='%s' is not valid (accepted: a number in (0, 1]); using 1\n", s);
    return 1.0;
  }
  return r;
}

void cc__profiler_env_start(void) {
  const char *path = cc__env_profile_path();
  if (path == NULL) return;
  cc_profiler_options_t o = cc_profiler_default_options();
  o.sample_rate = env_rate();
  uint64_t v;
  if (cc__env_u64("CCOLL_PROFILE_STACKS", 0, 1, &v)) o.stacks = v == 1;
  cc_profiler_t *p = cc_profiler_new(&o);
  if (p == NULL || cc_profiler_start(p) != CC_OK) {
    fprintf(stderr, "ccoll: CCOLL_PROFILE: could not start the profiler\n");
    cc_profiler_free(p);
    return;
  }
  env_profiler = p;
  env_path = path;
  atexit(env_report);
}
