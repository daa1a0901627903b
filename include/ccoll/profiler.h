/* ccoll: allocation profiler — how much, how fast, which thread freed
 * what another allocated, what leaked, and how reclamation keeps up.
 *
 * One profiler runs at a time. While it runs, ccoll allocations leave the
 * inline fast path: each allocation (and, without block memory, each free)
 * is sampled with probability `sample_rate`. By default no block is
 * remembered: the thread that allocated a freed block comes from a table of
 * the allocator's 64 KiB regions (see doc/profiler.md). With `leaks` or
 * `stacks`, a sampled block is remembered until it is freed, which gives
 * the list of blocks still allocated, with their stacks. Counts, bytes and
 * histograms are exact at rate 1 and unbiased estimates (sampled figures /
 * rate) below it. Latencies are measured on one sampled operation in 64
 * and kept in log-bucket histograms (4 buckets per power of two, no
 * allocation on the hot path). Profiler memory comes from libc and is not
 * counted.
 *
 * CCOLL_PROFILE=path profiles the whole run and writes the report at exit;
 * the format follows the extension: .json .csv .prom .html (anything else:
 * JSON). CCOLL_PROFILE_RATE (0 < rate <= 1, default 1) and
 * CCOLL_PROFILE_STACKS=1 tune that run.
 *
 * Figures cover blocks allocated while the profiler ran: a block allocated
 * before start and freed during the run is not seen. */
#ifndef CCOLL_PROFILER_H
#define CCOLL_PROFILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"
#include "smr.h"
#include "status.h"

CC_BEGIN_DECLS

typedef struct cc_profiler cc_profiler_t;

typedef struct {
  bool sizes;         /* size histogram and internal fragmentation */
  bool latency;       /* time the backend call of one sampled operation in 64 */
  bool per_thread;    /* per-thread breakdown in reports */
  bool cross_thread;  /* who-allocated -> who-freed matrix in reports */
  bool leaks;         /* list blocks still allocated in reports (remembers every sampled block) */
  bool stacks;        /* allocation stack of each sampled block (backtrace: ~1 us; remembers blocks) */
  double sample_rate; /* fraction of allocations sampled, (0, 1] */
} cc_profiler_options_t;

/* sizes, latency, per_thread, cross_thread on; leaks and stacks off; rate 1. */
CC_API cc_profiler_options_t cc_profiler_default_options(void);

typedef enum {
  CC_PROFILE_AUTO = 0, /* from the file name's extension; JSON when unknown */
  CC_PROFILE_JSON,
  CC_PROFILE_CSV,
  CC_PROFILE_PROMETHEUS,
  CC_PROFILE_HTML
} cc_profile_format_t;

#define CC_PROFILE_LAT_BUCKETS 256 /* see cc_profile_lat_bucket_ns */
#define CC_PROFILE_SIZE_BUCKETS 64 /* bucket k: requested sizes in [2^k, 2^(k+1)) */

typedef struct {
  uint32_t tid;        /* ccoll thread id */
  char name[16];       /* pthread name at its first sampled operation */
  bool alive;
  uint64_t allocs, frees, alloc_bytes, free_bytes;
  uint64_t cross_sent;     /* frees it made of blocks other threads allocated */
  uint64_t cross_received; /* its blocks that other threads freed */
} cc_profile_thread_t;

typedef struct {
  double t;            /* seconds since start */
  uint64_t live_bytes; /* estimate */
  uint64_t allocs, frees;
} cc_profile_point_t;

typedef struct {
  void *ptr;
  size_t bytes;
  uint32_t owner;
  double age;          /* seconds since allocation */
  unsigned nframes;
  void *stack[16];
} cc_profile_leak_t;

typedef struct {
  cc_smr_kind_t kind;
  cc_smr_stats_t stats;
} cc_profile_domain_t;

typedef struct {
  double elapsed;      /* seconds profiled */
  double sample_rate;
  cc_profiler_options_t options;

  uint64_t allocs, frees, alloc_bytes, free_bytes;
  uint64_t live_blocks, live_bytes, peak_bytes;
  double peak_t;                      /* seconds since start at the peak */
  double alloc_per_s, free_per_s;
  uint64_t cross_frees;
  double cross_share;                 /* cross_frees / frees */

  double alloc_ns[4], free_ns[4];     /* P50, P95, P99, P99.9 (0 without latency) */
  uint64_t alloc_lat[CC_PROFILE_LAT_BUCKETS], free_lat[CC_PROFILE_LAT_BUCKETS]; /* sampled counts */

  uint64_t size_hist[CC_PROFILE_SIZE_BUCKETS];
  uint64_t requested_bytes, usable_bytes; /* over sampled allocations */
  double fragmentation;                   /* 1 - requested / usable */

  size_t nthreads;
  cc_profile_thread_t *threads;
  size_t matrix_dim;   /* rows/columns: threads[0..matrix_dim) */
  uint64_t *matrix;    /* [a * matrix_dim + f]: blocks of threads[a] freed by threads[f] */

  uint64_t leak_blocks, leak_bytes; /* blocks still allocated (estimates) */
  size_t nleaks;
  cc_profile_leak_t *leaks;         /* the largest ones, at most 32 */

  size_t ndomains;
  cc_profile_domain_t *domains;     /* every live reclamation domain */

  size_t ntimeline;
  cc_profile_point_t *timeline;
} cc_profile_t;

CC_API cc_profiler_t *cc_profiler_new(const cc_profiler_options_t *opt); /* NULL: defaults; NULL on bad options or ENOMEM */
CC_API void cc_profiler_free(cc_profiler_t *p);   /* stops it first */

/* CC_OK | CC_EXISTS (another profiler is running) | CC_EINVAL */
CC_API int  cc_profiler_start(cc_profiler_t *p);
CC_API int  cc_profiler_stop(cc_profiler_t *p);   /* CC_OK | CC_EINVAL (not running) */
CC_API void cc_profiler_reset(cc_profiler_t *p);  /* forget everything seen so far (exact when quiescent) */

/* The figures so far; NULL on ENOMEM or bad argument. Free with cc_profile_free. */
CC_API cc_profile_t *cc_profiler_snapshot(cc_profiler_t *p);
CC_API void cc_profile_free(cc_profile_t *s);

CC_API int cc_profile_write(const cc_profile_t *s, FILE *out, cc_profile_format_t fmt);
/* Snapshot and write to path (format from the extension when AUTO). */
CC_API int cc_profiler_report(cc_profiler_t *p, const char *path, cc_profile_format_t fmt);

/* The profiler started by CCOLL_PROFILE, or NULL. */
CC_API cc_profiler_t *cc_profiler_global(void);

/* Lower bound in ns of latency bucket b (buckets 0..15 hold 0..15 ns
 * exactly; above, 4 buckets per power of two). */
CC_API double cc_profile_lat_bucket_ns(unsigned b);

CC_END_DECLS

#endif /* CCOLL_PROFILER_H */
