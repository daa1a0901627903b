/* Internal: profiler pieces shared by profiler.c, profiler_report.c and the
 * tests. Never installed. */
#ifndef CCOLL_PROFILER_INTERNAL_H
#define CCOLL_PROFILER_INTERNAL_H

#include <stdint.h>

/* Latency bucket of a duration in ns (see cc_profile_lat_bucket_ns). */
unsigned cc__prof_lat_bucket(uint64_t ns);

/* The q-quantile (0 < q <= 1) of a CC_PROFILE_LAT_BUCKETS histogram: the
 * middle of the bucket holding it; 0 for an empty histogram. */
double cc__prof_percentile(const uint64_t *hist, double q);

/* Records one latency (which: 0 alloc, 1 free) in this thread's record,
 * as a sampled operation would. For tests of the percentile path. */
void cc__prof_record_latency(int which, uint64_t ns);

/* One sampled operation in n (on average) is a detail one: timed, usable
 * size measured (default CC__PROF_DETAIL_EVERY; 1: every one). Takes
 * effect at once on the calling thread, at the next draw on the others.
 * For tests that want every operation timed. */
void cc__prof_set_detail_every(unsigned n);

#endif /* CCOLL_PROFILER_INTERNAL_H */
