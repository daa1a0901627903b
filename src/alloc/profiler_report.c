/* Profile exports: JSON, CSV, Prometheus text exposition, and a
 * self-contained HTML dashboard (inline SVG and CSS, no script, no
 * network). Every writer works from a cc_profile_t snapshot. */
#include <execinfo.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc/profiler_internal.h"
#include "ccoll/config.h"
#include "ccoll/profiler.h"

/* ------------------------------------------------------------ shared helpers */

static double fin(double v) { return isfinite(v) ? v : 0; }

static const char *kind_label(cc_smr_kind_t k) { return cc_smr_kind_name(k); }

/* Lowest and highest non-empty bucket of a histogram; false when empty. */
static bool hist_range(const uint64_t *h, unsigned n, unsigned *lo, unsigned *hi) {
  bool any = false;
  for (unsigned b = 0; b < n; b++) {
    if (h[b] == 0) continue;
    if (!any) *lo = b;
    *hi = b;
    any = true;
  }
  return any;
}

static void human_bytes(char *buf, size_t n, double v) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) { v /= 1024; u++; }
  snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void human_ns(char *buf, size_t n, double ns) {
  if (ns < 1000) snprintf(buf, n, "%.0f ns", ns);
  else if (ns < 1e6) snprintf(buf, n, "%.1f us", ns / 1e3);
  else snprintf(buf, n, "%.1f ms", ns / 1e6);
}

static uint64_t size_lo(unsigned b) { return 1ull << b; }

/* The three size ranges with the most allocations (bucket indexes; -1 none). */
static void hottest_sizes(const cc_profile_t *s, int out[3]) {
  out[0] = out[1] = out[2] = -1;
  for (int b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++) {
    if (s->size_hist[b] == 0) continue;
    for (int k = 0; k < 3; k++) {
      if (out[k] < 0 || s->size_hist[b] > s->size_hist[out[k]]) {
        for (int j = 2; j > k; j--) out[j] = out[j - 1];
        out[k] = b;
        break;
      }
    }
  }
}

/* ------------------------------------------------------------ recommendations */

enum { MAX_RECS = 10, REC_LEN = 400 };
typedef struct {
  int n;
  char text[MAX_RECS][REC_LEN];
} recs_t;

static void add_rec(recs_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_rec(recs_t *r, const char *fmt, ...) {
  if (r->n == MAX_RECS) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->text[r->n++], REC_LEN, fmt, ap);
  va_end(ap);
}

static void recommend(const cc_profile_t *s, recs_t *r) {
  char a[32], b[32];
  r->n = 0;
  if (s->allocs == 0) {
    add_rec(r, "No ccoll allocation was seen while the profiler ran: start it before the work you want to "
               "measure (or set CCOLL_PROFILE before the program starts).");
    return;
  }
  if (s->frees >= 100 && s->cross_share > 0.3)
    add_rec(r, "%.0f%% of frees happen on a thread other than the allocating one. That is normal for "
               "queues and for reclamation (the freeing thread is whoever reclaims), but each such free "
               "goes through the owner heap's remote free list: keep producer and consumer batches large, "
               "and give reclamation a few objects per operation rather than whole bags.",
            100 * s->cross_share);
  if (s->usable_bytes > 0 && s->fragmentation > 0.25) {
    int hot[3];
    hottest_sizes(s, hot);
    add_rec(r, "Internal fragmentation is %.0f%%: the allocator hands out more than is asked for. The "
               "hottest size range is %llu-%llu bytes; a node layout that fills its size class (or "
               "cc_alloc_node's 64-byte multiples) wastes less.",
            100 * s->fragmentation, hot[0] >= 0 ? (unsigned long long)size_lo((unsigned)hot[0]) : 0ull,
            hot[0] >= 0 ? (unsigned long long)(size_lo((unsigned)hot[0]) * 2 - 1) : 0ull);
  }
  if (s->alloc_ns[0] > 0 && s->alloc_ns[3] > 20 * s->alloc_ns[0] && s->alloc_ns[3] > 2000) {
    human_ns(a, sizeof a, s->alloc_ns[0]);
    human_ns(b, sizeof b, s->alloc_ns[3]);
    add_rec(r, "Allocation latency has a long tail: P50 %s but P99.9 %s. Tails this long usually come from "
               "fresh pages (page faults) or the OS; warming the heap up front or reserving memory "
               "(mimalloc's MIMALLOC_RESERVE_OS_MEMORY) flattens them.", a, b);
  }
  if (s->peak_bytes > 0 && s->live_bytes * 4 < s->peak_bytes && s->peak_bytes > (1u << 20)) {
    human_bytes(a, sizeof a, (double)s->peak_bytes);
    human_bytes(b, sizeof b, (double)s->live_bytes);
    add_rec(r, "Memory peaked at %s at %.2f s, over four times what is live now (%s): a burst of "
               "allocation (or a reclamation backlog) sized the heap.", a, s->peak_t, b);
  }
  for (size_t i = 0; i < s->ndomains; i++) {
    const cc_smr_stats_t *d = &s->domains[i].stats;
    if (d->retired >= 1000 && d->pending * 4 > d->retired)
      add_rec(r, "Reclamation domain %zu (%s) still holds %llu of %llu retired blocks: a thread may be "
                 "stalled inside an operation or section. IBR and DEBRA+ bound this; cc_smr_drain() "
                 "reclaims what is safe now.",
              i, kind_label(s->domains[i].kind), (unsigned long long)d->pending,
              (unsigned long long)d->retired);
    if (d->neutralized > 0)
      add_rec(r, "Domain %zu (%s) neutralised %llu stalled operations: some thread is regularly slow "
                 "to leave its read phase (preemption, oversubscription).",
              i, kind_label(s->domains[i].kind), (unsigned long long)d->neutralized);
  }
  if (s->leak_blocks > 0) {
    human_bytes(a, sizeof a, (double)s->leak_bytes);
    add_rec(r, "%llu blocks (%s) were still allocated when this report was taken; at exit these are "
               "leaks (blocks pending in a reclamation domain included).%s",
            (unsigned long long)s->leak_blocks, a,
            s->options.stacks ? " Their allocation stacks are listed below."
                              : " Profile with stacks on (CCOLL_PROFILE_STACKS=1) to see where they come from.");
  }
  if (s->sample_rate < 1.0)
    add_rec(r, "Figures are estimates from a %.3g%% sample of allocations (exact at sample rate 1).",
            100 * s->sample_rate);
  if (r->n == 0 || (r->n == 1 && s->sample_rate < 1.0))
    add_rec(r, "Nothing stands out: frees stay mostly on their allocating thread, fragmentation and "
               "latency tails are small, and no memory was left allocated.");
}

/* ------------------------------------------------------------ JSON */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void json_pcts(FILE *f, const double *v) {
  fprintf(f, "{\"p50\": %.1f, \"p95\": %.1f, \"p99\": %.1f, \"p999\": %.1f}", fin(v[0]), fin(v[1]),
          fin(v[2]), fin(v[3]));
}

static void json_stack(FILE *f, void *const *pc, unsigned n) {
  char **sym = n ? backtrace_symbols(pc, (int)n) : NULL;
  fputc('[', f);
  for (unsigned i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    char buf[32];
    snprintf(buf, sizeof buf, "%p", pc[i]);
    json_str(f, sym ? sym[i] : buf);
  }
  fputc(']', f);
  free(sym);
}

static void write_json(const cc_profile_t *s, FILE *f) {
  const cc_profiler_options_t *o = &s->options;
  fprintf(f, "{\n  \"ccoll_profile\": 1,\n  \"version\": \"%s\",\n", cc_version());
  fprintf(f, "  \"elapsed_s\": %.6f,\n  \"sample_rate\": %.6g,\n", fin(s->elapsed), fin(s->sample_rate));
  fprintf(f, "  \"options\": {\"sizes\": %s, \"latency\": %s, \"per_thread\": %s, \"cross_thread\": %s, "
             "\"leaks\": %s, \"stacks\": %s},\n",
          o->sizes ? "true" : "false", o->latency ? "true" : "false", o->per_thread ? "true" : "false",
          o->cross_thread ? "true" : "false", o->leaks ? "true" : "false", o->stacks ? "true" : "false");
  fprintf(f, "  \"totals\": {\"allocs\": %llu, \"frees\": %llu, \"alloc_bytes\": %llu, \"free_bytes\": %llu, "
             "\"live_blocks\": %llu, \"live_bytes\": %llu, \"peak_bytes\": %llu, \"peak_t\": %.6f, "
             "\"alloc_per_s\": %.1f, \"free_per_s\": %.1f, \"cross_frees\": %llu, \"cross_share\": %.6f},\n",
          (unsigned long long)s->allocs, (unsigned long long)s->frees, (unsigned long long)s->alloc_bytes,
          (unsigned long long)s->free_bytes, (unsigned long long)s->live_blocks,
          (unsigned long long)s->live_bytes, (unsigned long long)s->peak_bytes, fin(s->peak_t),
          fin(s->alloc_per_s), fin(s->free_per_s), (unsigned long long)s->cross_frees, fin(s->cross_share));
  fputs("  \"latency_ns\": {\"alloc\": ", f);
  json_pcts(f, s->alloc_ns);
  fputs(", \"free\": ", f);
  json_pcts(f, s->free_ns);
  fputs(", \"buckets\": [", f);
  bool first = true;
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) {
    if (s->alloc_lat[b] == 0 && s->free_lat[b] == 0) continue;
    fprintf(f, "%s{\"lo_ns\": %.0f, \"alloc\": %llu, \"free\": %llu}", first ? "" : ", ",
            cc_profile_lat_bucket_ns(b), (unsigned long long)s->alloc_lat[b],
            (unsigned long long)s->free_lat[b]);
    first = false;
  }
  fputs("]},\n  \"sizes\": {\"histogram\": [", f);
  first = true;
  for (unsigned b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++) {
    if (s->size_hist[b] == 0) continue;
    fprintf(f, "%s{\"lo\": %llu, \"hi\": %llu, \"count\": %llu}", first ? "" : ", ",
            (unsigned long long)size_lo(b), (unsigned long long)(size_lo(b) * 2 - 1),
            (unsigned long long)s->size_hist[b]);
    first = false;
  }
  int hot[3];
  hottest_sizes(s, hot);
  fputs("], \"hottest\": [", f);
  for (int k = 0; k < 3 && hot[k] >= 0; k++)
    fprintf(f, "%s{\"lo\": %llu, \"hi\": %llu, \"count\": %llu}", k ? ", " : "",
            (unsigned long long)size_lo((unsigned)hot[k]), (unsigned long long)(size_lo((unsigned)hot[k]) * 2 - 1),
            (unsigned long long)s->size_hist[hot[k]]);
  fprintf(f, "], \"requested_bytes\": %llu, \"usable_bytes\": %llu, \"fragmentation\": %.6f},\n",
          (unsigned long long)s->requested_bytes, (unsigned long long)s->usable_bytes, fin(s->fragmentation));
  fputs("  \"threads\": [", f);
  for (size_t i = 0; i < s->nthreads; i++) {
    const cc_profile_thread_t *t = &s->threads[i];
    fprintf(f, "%s\n    {\"tid\": %u, \"name\": ", i ? "," : "", t->tid);
    json_str(f, t->name);
    fprintf(f, ", \"alive\": %s, \"allocs\": %llu, \"frees\": %llu, \"alloc_bytes\": %llu, \"free_bytes\": %llu, "
               "\"cross_sent\": %llu, \"cross_received\": %llu}",
            t->alive ? "true" : "false", (unsigned long long)t->allocs, (unsigned long long)t->frees,
            (unsigned long long)t->alloc_bytes, (unsigned long long)t->free_bytes,
            (unsigned long long)t->cross_sent, (unsigned long long)t->cross_received);
  }
  fputs("],\n  \"cross_thread\": {\"tids\": [", f);
  for (size_t i = 0; i < s->matrix_dim; i++) fprintf(f, "%s%u", i ? ", " : "", s->threads[i].tid);
  fputs("], \"matrix\": [", f);
  for (size_t a = 0; a < s->matrix_dim; a++) {
    fprintf(f, "%s[", a ? ", " : "");
    for (size_t b = 0; b < s->matrix_dim; b++)
      fprintf(f, "%s%llu", b ? ", " : "", (unsigned long long)s->matrix[a * s->matrix_dim + b]);
    fputc(']', f);
  }
  fputs("]},\n  \"reclamation\": [", f);
  for (size_t i = 0; i < s->ndomains; i++) {
    const cc_smr_stats_t *d = &s->domains[i].stats;
    fprintf(f, "%s{\"kind\": \"%s\", \"retired\": %llu, \"freed\": %llu, \"pending\": %llu, "
               "\"pending_peak\": %llu, \"epoch\": %llu, \"scans\": %llu, \"neutralized\": %llu}",
            i ? ", " : "", kind_label(s->domains[i].kind), (unsigned long long)d->retired,
            (unsigned long long)d->freed, (unsigned long long)d->pending, (unsigned long long)d->pending_peak,
            (unsigned long long)d->epoch, (unsigned long long)d->scans, (unsigned long long)d->neutralized);
  }
  fprintf(f, "],\n  \"leaks\": {\"blocks\": %llu, \"bytes\": %llu, \"largest\": [",
          (unsigned long long)s->leak_blocks, (unsigned long long)s->leak_bytes);
  for (size_t i = 0; i < s->nleaks; i++) {
    const cc_profile_leak_t *l = &s->leaks[i];
    fprintf(f, "%s\n    {\"ptr\": \"%p\", \"bytes\": %zu, \"thread\": %u, \"age_s\": %.6f, \"stack\": ",
            i ? "," : "", l->ptr, l->bytes, l->owner, fin(l->age));
    json_stack(f, l->stack, l->nframes);
    fputc('}', f);
  }
  fputs("]},\n  \"timeline\": [", f);
  for (size_t i = 0; i < s->ntimeline; i++) {
    const cc_profile_point_t *p = &s->timeline[i];
    fprintf(f, "%s[%.6f, %llu, %llu, %llu]", i ? ", " : "", fin(p->t), (unsigned long long)p->live_bytes,
            (unsigned long long)p->allocs, (unsigned long long)p->frees);
  }
  recs_t r;
  recommend(s, &r);
  fputs("],\n  \"recommendations\": [", f);
  for (int i = 0; i < r.n; i++) {
    fputs(i ? ",\n    " : "\n    ", f);
    json_str(f, r.text[i]);
  }
  fputs("]\n}\n", f);
}

/* ------------------------------------------------------------ CSV */

/* One tidy table: every row has the same six columns. */
static void csv_row(FILE *f, const char *section, const char *name, long long thread, long long peer,
                    double bucket, double value) {
  fprintf(f, "%s,%s,", section, name);
  if (thread >= 0) fprintf(f, "%lld", thread);
  fputc(',', f);
  if (peer >= 0) fprintf(f, "%lld", peer);
  fputc(',', f);
  if (bucket >= 0) fprintf(f, "%.0f", bucket);
  fprintf(f, ",%.17g\n", fin(value));
}

static void write_csv(const cc_profile_t *s, FILE *f) {
  fputs("section,name,thread,peer,bucket,value\n", f);
  struct { const char *n; double v; } tot[] = {
    {"elapsed_s", s->elapsed}, {"sample_rate", s->sample_rate},
    {"allocs", (double)s->allocs}, {"frees", (double)s->frees},
    {"alloc_bytes", (double)s->alloc_bytes}, {"free_bytes", (double)s->free_bytes},
    {"live_blocks", (double)s->live_blocks}, {"live_bytes", (double)s->live_bytes},
    {"peak_bytes", (double)s->peak_bytes}, {"peak_t", s->peak_t},
    {"alloc_per_s", s->alloc_per_s}, {"free_per_s", s->free_per_s},
    {"cross_frees", (double)s->cross_frees}, {"cross_share", s->cross_share},
    {"requested_bytes", (double)s->requested_bytes}, {"usable_bytes", (double)s->usable_bytes},
    {"fragmentation", s->fragmentation},
    {"leak_blocks", (double)s->leak_blocks}, {"leak_bytes", (double)s->leak_bytes},
  };
  for (size_t i = 0; i < sizeof tot / sizeof tot[0]; i++) csv_row(f, "summary", tot[i].n, -1, -1, -1, tot[i].v);
  static const char *const pn[4] = {"p50_ns", "p95_ns", "p99_ns", "p999_ns"};
  for (int i = 0; i < 4; i++) {
    char n[32];
    snprintf(n, sizeof n, "alloc_%s", pn[i]);
    csv_row(f, "latency", n, -1, -1, -1, s->alloc_ns[i]);
    snprintf(n, sizeof n, "free_%s", pn[i]);
    csv_row(f, "latency", n, -1, -1, -1, s->free_ns[i]);
  }
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) {
    if (s->alloc_lat[b]) csv_row(f, "latency_hist", "alloc", -1, -1, cc_profile_lat_bucket_ns(b), (double)s->alloc_lat[b]);
    if (s->free_lat[b]) csv_row(f, "latency_hist", "free", -1, -1, cc_profile_lat_bucket_ns(b), (double)s->free_lat[b]);
  }
  for (unsigned b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++)
    if (s->size_hist[b]) csv_row(f, "size_hist", "allocs", -1, -1, (double)size_lo(b), (double)s->size_hist[b]);
  for (size_t i = 0; i < s->nthreads; i++) {
    const cc_profile_thread_t *t = &s->threads[i];
    csv_row(f, "thread", "allocs", t->tid, -1, -1, (double)t->allocs);
    csv_row(f, "thread", "frees", t->tid, -1, -1, (double)t->frees);
    csv_row(f, "thread", "alloc_bytes", t->tid, -1, -1, (double)t->alloc_bytes);
    csv_row(f, "thread", "free_bytes", t->tid, -1, -1, (double)t->free_bytes);
    csv_row(f, "thread", "cross_sent", t->tid, -1, -1, (double)t->cross_sent);
    csv_row(f, "thread", "cross_received", t->tid, -1, -1, (double)t->cross_received);
  }
  for (size_t a = 0; a < s->matrix_dim; a++)
    for (size_t b = 0; b < s->matrix_dim; b++)
      if (s->matrix[a * s->matrix_dim + b])
        csv_row(f, "cross", "frees", s->threads[a].tid, s->threads[b].tid, -1,
                (double)s->matrix[a * s->matrix_dim + b]);
  for (size_t i = 0; i < s->ndomains; i++) {
    const cc_smr_stats_t *d = &s->domains[i].stats;
    const char *n[] = {"retired", "freed", "pending", "pending_peak", "epoch", "scans", "neutralized"};
    uint64_t v[] = {d->retired, d->freed, d->pending, d->pending_peak, d->epoch, d->scans, d->neutralized};
    for (int k = 0; k < 7; k++) csv_row(f, "reclamation", n[k], (long long)i, -1, -1, (double)v[k]);
  }
  for (size_t i = 0; i < s->nleaks; i++)
    csv_row(f, "leak", "bytes", s->leaks[i].owner, -1, -1, (double)s->leaks[i].bytes);
  for (size_t i = 0; i < s->ntimeline; i++) {
    csv_row(f, "timeline", "t_s", -1, -1, (double)i, s->timeline[i].t);
    csv_row(f, "timeline", "live_bytes", -1, -1, (double)i, (double)s->timeline[i].live_bytes);
  }
}

/* ------------------------------------------------------------ Prometheus */

static void prom_head(FILE *f, const char *name, const char *type, const char *help) {
  fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_one(FILE *f, const char *name, const char *type, const char *help, double v) {
  prom_head(f, name, type, help);
  fprintf(f, "%s %.10g\n", name, fin(v));
}

static void prom_label(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if (*s == '\n') fputs("\\n", f);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static void prom_summary(FILE *f, const char *name, const char *help, const double *ns, const uint64_t *hist) {
  static const char *const q[4] = {"0.5", "0.95", "0.99", "0.999"};
  prom_head(f, name, "summary", help);
  double sum = 0;
  uint64_t count = 0;
  for (unsigned b = 0; b < CC_PROFILE_LAT_BUCKETS; b++) {
    count += hist[b];
    sum += (double)hist[b] * cc_profile_lat_bucket_ns(b) * 1e-9;
  }
  for (int i = 0; i < 4; i++) fprintf(f, "%s{quantile=\"%s\"} %.9g\n", name, q[i], fin(ns[i]) * 1e-9);
  fprintf(f, "%s_sum %.9g\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}

static void prom_thread_metric(FILE *f, const cc_profile_t *s, const char *name, const char *help,
                               size_t field) {
  prom_head(f, name, "counter", help);
  for (size_t i = 0; i < s->nthreads; i++) {
    const cc_profile_thread_t *t = &s->threads[i];
    fprintf(f, "%s{thread=\"%u\",name=", name, t->tid);
    prom_label(f, t->name);
    fprintf(f, "} %llu\n", (unsigned long long)*(const uint64_t *)((const char *)t + field));
  }
}

static void prom_domain_metric(FILE *f, const cc_profile_t *s, const char *name, const char *type,
                               const char *help, size_t field) {
  prom_head(f, name, type, help);
  for (size_t i = 0; i < s->ndomains; i++)
    fprintf(f, "%s{domain=\"%zu\",kind=\"%s\"} %llu\n", name, i, kind_label(s->domains[i].kind),
            (unsigned long long)*(const uint64_t *)((const char *)&s->domains[i].stats + field));
}

static void write_prom(const cc_profile_t *s, FILE *f) {
  prom_one(f, "ccoll_profile_duration_seconds", "gauge", "Seconds profiled.", s->elapsed);
  prom_one(f, "ccoll_profile_sample_rate", "gauge", "Fraction of allocations sampled.", s->sample_rate);
  prom_one(f, "ccoll_allocations_total", "counter", "ccoll allocations.", (double)s->allocs);
  prom_one(f, "ccoll_frees_total", "counter", "ccoll frees of profiled blocks.", (double)s->frees);
  prom_one(f, "ccoll_allocated_bytes_total", "counter", "Bytes requested from ccoll.", (double)s->alloc_bytes);
  prom_one(f, "ccoll_freed_bytes_total", "counter", "Bytes given back to ccoll.", (double)s->free_bytes);
  prom_one(f, "ccoll_live_bytes", "gauge", "Bytes allocated and not yet freed.", (double)s->live_bytes);
  prom_one(f, "ccoll_live_blocks", "gauge", "Blocks allocated and not yet freed.", (double)s->live_blocks);
  prom_one(f, "ccoll_peak_live_bytes", "gauge", "Highest live bytes seen.", (double)s->peak_bytes);
  prom_one(f, "ccoll_cross_thread_frees_total", "counter", "Frees made by a thread other than the allocator.",
           (double)s->cross_frees);
  prom_one(f, "ccoll_internal_fragmentation_ratio", "gauge", "1 - requested / usable bytes.", s->fragmentation);
  prom_one(f, "ccoll_leaked_blocks", "gauge", "Blocks still allocated at report time.", (double)s->leak_blocks);
  prom_one(f, "ccoll_leaked_bytes", "gauge", "Bytes still allocated at report time.", (double)s->leak_bytes);
  prom_summary(f, "ccoll_alloc_latency_seconds", "Backend time of sampled allocations.", s->alloc_ns, s->alloc_lat);
  prom_summary(f, "ccoll_free_latency_seconds", "Backend time of sampled frees.", s->free_ns, s->free_lat);

  prom_head(f, "ccoll_allocation_size_bytes", "histogram", "Requested allocation sizes.");
  unsigned lo = 0, hi = 0;
  uint64_t cum = 0;
  if (hist_range(s->size_hist, CC_PROFILE_SIZE_BUCKETS, &lo, &hi)) {
    for (unsigned b = 0; b <= hi && b < 63; b++) {
      cum += s->size_hist[b];
      fprintf(f, "ccoll_allocation_size_bytes_bucket{le=\"%llu\"} %llu\n",
              (unsigned long long)(size_lo(b) * 2 - 1), (unsigned long long)cum);
    }
  }
  uint64_t total = 0;
  for (unsigned b = 0; b < CC_PROFILE_SIZE_BUCKETS; b++) total += s->size_hist[b];
  fprintf(f, "ccoll_allocation_size_bytes_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)total);
  fprintf(f, "ccoll_allocation_size_bytes_sum %llu\n", (unsigned long long)s->alloc_bytes);
  fprintf(f, "ccoll_allocation_size_bytes_count %llu\n", (unsigned long long)total);

  prom_thread_metric(f, s, "ccoll_thread_allocations_total", "Allocations per thread.",
                     offsetof(cc_profile_thread_t, allocs));
  prom_thread_metric(f, s, "ccoll_thread_frees_total", "Frees per thread.", offsetof(cc_profile_thread_t, frees));
  prom_thread_metric(f, s, "ccoll_thread_cross_sent_total", "Frees a thread made of other threads' blocks.",
                     offsetof(cc_profile_thread_t, cross_sent));
  prom_thread_metric(f, s, "ccoll_thread_cross_received_total", "A thread's blocks freed by other threads.",
                     offsetof(cc_profile_thread_t, cross_received));
  prom_head(f, "ccoll_cross_thread_pair_frees_total", "counter",
            "Blocks allocated by thread `allocator` and freed by thread `freer`.");
  for (size_t a = 0; a < s->matrix_dim; a++)
    for (size_t b = 0; b < s->matrix_dim; b++)
      if (s->matrix[a * s->matrix_dim + b])
        fprintf(f, "ccoll_cross_thread_pair_frees_total{allocator=\"%u\",freer=\"%u\"} %llu\n",
                s->threads[a].tid, s->threads[b].tid, (unsigned long long)s->matrix[a * s->matrix_dim + b]);
  prom_domain_metric(f, s, "ccoll_smr_retired_total", "counter", "Blocks retired to a reclamation domain.",
                     offsetof(cc_smr_stats_t, retired));
  prom_domain_metric(f, s, "ccoll_smr_freed_total", "counter", "Retired blocks freed.",
                     offsetof(cc_smr_stats_t, freed));
  prom_domain_metric(f, s, "ccoll_smr_pending_blocks", "gauge", "Retired blocks not yet freed.",
                     offsetof(cc_smr_stats_t, pending));
  prom_domain_metric(f, s, "ccoll_smr_pending_peak_blocks", "gauge", "Highest pending count.",
                     offsetof(cc_smr_stats_t, pending_peak));
  prom_domain_metric(f, s, "ccoll_smr_epoch", "gauge", "Current epoch.", offsetof(cc_smr_stats_t, epoch));
  prom_domain_metric(f, s, "ccoll_smr_scans_total", "counter", "Reclamation scans.",
                     offsetof(cc_smr_stats_t, scans));
  prom_domain_metric(f, s, "ccoll_smr_neutralized_total", "counter", "Threads neutralised (DEBRA+).",
                     offsetof(cc_smr_stats_t, neutralized));
}

/* ------------------------------------------------------------ HTML */

static void html_esc(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default: fputc(*s, f);
    }
  }
}

enum { W = 860, H = 240, ML = 70, MR = 20, MT = 20, MB = 40 };

static void svg_open(FILE *f, const char *title, int h) {
  fprintf(f, "<section><h2>%s</h2>\n<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">\n", title,
          W, h, W, h);
}
static void svg_close(FILE *f) { fputs("</svg></section>\n", f); }

static void svg_axes(FILE *f, int h, const char *ylabel, double ymax, bool bytes) {
  int y0 = h - MB;
  fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"ax\"/>\n", ML, MT, ML, y0);
  fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"ax\"/>\n", ML, y0, W - MR, y0);
  for (int i = 0; i <= 4; i++) {
    double v = ymax * i / 4;
    int y = y0 - (y0 - MT) * i / 4;
    char buf[32];
    if (bytes) human_bytes(buf, sizeof buf, v);
    else snprintf(buf, sizeof buf, "%.3g", v);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"yl\">%s</text>\n", ML - 6, y + 4, buf);
    if (i) fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>\n", ML, y, W - MR, y);
  }
  fprintf(f, "<text x=\"12\" y=\"%d\" class=\"lab\" transform=\"rotate(-90 12 %d)\">%s</text>\n", (MT + y0) / 2,
          (MT + y0) / 2, ylabel);
}

static void html_timeline(FILE *f, const cc_profile_t *s) {
  svg_open(f, "Memory over time", H);
  double tmax = s->ntimeline ? s->timeline[s->ntimeline - 1].t : 0, ymax = (double)s->peak_bytes;
  for (size_t i = 0; i < s->ntimeline; i++)
    if ((double)s->timeline[i].live_bytes > ymax) ymax = (double)s->timeline[i].live_bytes;
  if (ymax <= 0) ymax = 1;
  if (tmax <= 0) tmax = 1e-3;
  svg_axes(f, H, "live bytes", ymax, true);
  int y0 = H - MB, pw = W - ML - MR, ph = y0 - MT;
  /* the timeline is sampled every few ms: thread the peak itself into it */
  fputs("<polyline class=\"line\" points=\"", f);
  bool peak_drawn = false;
  for (size_t i = 0; i < s->ntimeline; i++) {
    if (!peak_drawn && s->timeline[i].t >= s->peak_t) {
      fprintf(f, "%.1f,%.1f ", ML + pw * s->peak_t / tmax, y0 - ph * (double)s->peak_bytes / ymax);
      peak_drawn = true;
    }
    fprintf(f, "%.1f,%.1f ", ML + pw * s->timeline[i].t / tmax,
            y0 - ph * (double)s->timeline[i].live_bytes / ymax);
  }
  fputs("\"/>\n", f);
  double px = ML + pw * (s->peak_t < tmax ? s->peak_t : tmax) / tmax, py = y0 - ph * (double)s->peak_bytes / ymax;
  char buf[32];
  human_bytes(buf, sizeof buf, (double)s->peak_bytes);
  fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" class=\"peak\"/><text x=\"%.1f\" y=\"%.1f\" class=\"pl\">"
             "peak %s at %.2f s</text>\n", px, py, px + 8 > W - 200 ? px - 190 : px + 8, py + 14, buf, s->peak_t);
  fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lab\">0 s</text><text x=\"%d\" y=\"%d\" class=\"lab\" "
             "text-anchor=\"end\">%.2f s</text>\n", ML, H - 10, W - MR, H - 10, tmax);
  svg_close(f);
}

/* Bars for buckets lo..hi of up to two series. */
static void svg_bars(FILE *f, const uint64_t *a, const uint64_t *b, unsigned lo, unsigned hi,
                     void (*label)(char *buf, size_t n, unsigned bucket), const char *ylabel) {
  uint64_t ymax = 1;
  for (unsigned k = lo; k <= hi; k++) {
    if (a[k] > ymax) ymax = a[k];
    if (b && b[k] > ymax) ymax = b[k];
  }
  svg_axes(f, H, ylabel, (double)ymax, false);
  int y0 = H - MB, pw = W - ML - MR, ph = y0 - MT;
  double slot = (double)pw / (hi - lo + 1), bw = b ? slot * 0.4 : slot * 0.8;
  unsigned every = (hi - lo + 1) / 12 + 1;
  for (unsigned k = lo; k <= hi; k++) {
    double x = ML + slot * (k - lo) + slot * 0.1;
    double ha = ph * (double)a[k] / (double)ymax;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"s1\"><title>%llu</title></rect>\n",
            x, y0 - ha, bw, ha, (unsigned long long)a[k]);
    if (b) {
      double hb = ph * (double)b[k] / (double)ymax;
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"s2\"><title>%llu</title></rect>\n",
              x + bw, y0 - hb, bw, hb, (unsigned long long)b[k]);
    }
    if ((k - lo) % every == 0) {
      char buf[32];
      label(buf, sizeof buf, k);
      fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%s</text>\n", x + slot * 0.4, y0 + 16, buf);
    }
  }
}

static void size_label(char *buf, size_t n, unsigned b) { human_bytes(buf, n, (double)size_lo(b)); }
static void lat_label(char *buf, size_t n, unsigned b) { human_ns(buf, n, cc_profile_lat_bucket_ns(b)); }

static void html_sizes(FILE *f, const cc_profile_t *s) {
  unsigned lo = 0, hi = 0;
  if (!hist_range(s->size_hist, CC_PROFILE_SIZE_BUCKETS, &lo, &hi)) return;
  svg_open(f, "Allocation sizes (requested, power-of-two ranges)", H);
  svg_bars(f, s->size_hist, NULL, lo, hi, size_label, "allocations");
  svg_close(f);
  char req[32], use[32];
  human_bytes(req, sizeof req, (double)s->requested_bytes);
  human_bytes(use, sizeof use, (double)s->usable_bytes);
  fprintf(f, "<p class=\"note\">Internal fragmentation: %.1f%% (%s requested, %s usable).</p>\n",
          100 * s->fragmentation, req, use);
}

static void html_latency(FILE *f, const cc_profile_t *s) {
  unsigned lo1 = 0, hi1 = 0, lo2 = 0, hi2 = 0;
  bool a = hist_range(s->alloc_lat, CC_PROFILE_LAT_BUCKETS, &lo1, &hi1);
  bool b = hist_range(s->free_lat, CC_PROFILE_LAT_BUCKETS, &lo2, &hi2);
  if (!a && !b) return;
  unsigned lo = a && b ? (lo1 < lo2 ? lo1 : lo2) : a ? lo1 : lo2;
  unsigned hi = a && b ? (hi1 > hi2 ? hi1 : hi2) : a ? hi1 : hi2;
  svg_open(f, "Latency distribution (backend call; <span class=\"k1\">alloc</span> / <span class=\"k2\">free</span>)", H);
  svg_bars(f, s->alloc_lat, s->free_lat, lo, hi, lat_label, "operations");
  svg_close(f);
  char p[8][16];
  for (int i = 0; i < 4; i++) {
    human_ns(p[i], sizeof p[i], s->alloc_ns[i]);
    human_ns(p[4 + i], sizeof p[i], s->free_ns[i]);
  }
  fprintf(f, "<table><tr><th></th><th>P50</th><th>P95</th><th>P99</th><th>P99.9</th></tr>"
             "<tr><td>alloc</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
             "<tr><td>free</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr></table>\n",
          p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
}

enum { SHOW_THREADS = 32 };

static void html_threads(FILE *f, const cc_profile_t *s) {
  size_t n = s->nthreads < SHOW_THREADS ? s->nthreads : SHOW_THREADS;
  if (n == 0) return;
  int row = 22, h = MT + (int)n * row + 30;
  uint64_t vmax = 1;
  for (size_t i = 0; i < n; i++) {
    const cc_profile_thread_t *t = &s->threads[i];
    uint64_t v[4] = {t->allocs, t->frees, t->cross_sent, t->cross_received};
    for (int k = 0; k < 4; k++) if (v[k] > vmax) vmax = v[k];
  }
  fprintf(f, "<section><h2>Per-thread activity (<span class=\"k1\">allocs</span>, <span class=\"k2\">frees</span>, "
             "<span class=\"k3\">cross-thread frees sent</span>, <span class=\"k4\">received</span>)</h2>\n"
             "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">\n", W, h, W, h);
  int pw = W - 160 - MR;
  for (size_t i = 0; i < n; i++) {
    const cc_profile_thread_t *t = &s->threads[i];
    int y = MT + (int)i * row;
    fprintf(f, "<text x=\"150\" y=\"%d\" class=\"yl\">#%u ", y + 14, t->tid);
    html_esc(f, t->name[0] ? t->name : "thread");
    fputs(t->alive ? "" : " (exited)", f);
    fputs("</text>\n", f);
    uint64_t v[4] = {t->allocs, t->frees, t->cross_sent, t->cross_received};
    for (int k = 0; k < 4; k++)
      fprintf(f, "<rect x=\"160\" y=\"%d\" width=\"%.1f\" height=\"4.5\" class=\"s%d\"><title>%llu</title></rect>\n",
              y + 2 + k * 5, pw * (double)v[k] / (double)vmax, k + 1, (unsigned long long)v[k]);
  }
  svg_close(f);
  if (s->nthreads > n) fprintf(f, "<p class=\"note\">%zu more threads not drawn (see the JSON export).</p>\n",
                               s->nthreads - n);
}

static void html_matrix(FILE *f, const cc_profile_t *s) {
  size_t n = s->matrix_dim < SHOW_THREADS ? s->matrix_dim : SHOW_THREADS;
  if (n < 2) return;
  uint64_t vmax = 0;
  for (size_t a = 0; a < n; a++)
    for (size_t b = 0; b < n; b++)
      if (s->matrix[a * s->matrix_dim + b] > vmax) vmax = s->matrix[a * s->matrix_dim + b];
  int cell = (int)(480 / n) < 40 ? (int)(480 / n) : 40, x0 = 120, y0 = 60;
  int w = x0 + cell * (int)n + 40, h = y0 + cell * (int)n + 20;
  fprintf(f, "<section><h2>Cross-thread frees: who allocated (row) &rarr; who freed (column)</h2>\n"
             "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">\n", w, h, w, h);
  for (size_t i = 0; i < n; i++) {
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"yl\">#%u</text>\n", x0 - 6, y0 + cell * (int)i + cell / 2 + 4,
            s->threads[i].tid);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"xl\">#%u</text>\n", x0 + cell * (int)i + cell / 2, y0 - 8,
            s->threads[i].tid);
  }
  for (size_t a = 0; a < n; a++) {
    for (size_t b = 0; b < n; b++) {
      uint64_t v = s->matrix[a * s->matrix_dim + b];
      double op = vmax ? 0.08 + 0.92 * (double)v / (double)vmax : 0.08;
      fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"%s\" fill-opacity=\"%.2f\">"
                 "<title>#%u &rarr; #%u: %llu</title></rect>\n",
              x0 + cell * (int)b, y0 + cell * (int)a, cell - 1, cell - 1, a == b ? "diag" : "cell",
              v ? op : (a == b ? 1.0 : 0.06), s->threads[a].tid, s->threads[b].tid, (unsigned long long)v);
    }
  }
  svg_close(f);
}

static void html_gauges(FILE *f, const cc_profile_t *s) {
  fputs("<section><h2>Reclamation</h2>\n", f);
  if (s->ndomains == 0) {
    fputs("<p class=\"note\">No reclamation domain was live.</p></section>\n", f);
    return;
  }
  for (size_t i = 0; i < s->ndomains; i++) {
    const cc_smr_stats_t *d = &s->domains[i].stats;
    double frac = d->retired ? (double)d->freed / (double)d->retired : 1.0;
    if (frac > 1) frac = 1;
    /* the arc is 80 * pi long: a dash of that fraction draws the gauge */
    const double arc = 251.327;
    fprintf(f, "<figure class=\"gauge\"><svg viewBox=\"0 0 200 130\" width=\"200\" height=\"130\">"
               "<path d=\"M20,100 A80,80 0 0 1 180,100\" class=\"gbg\"/>"
               "<path d=\"M20,100 A80,80 0 0 1 180,100\" class=\"gfg\" stroke-dasharray=\"%.1f %.1f\"/>"
               "<text x=\"100\" y=\"95\" class=\"gv\">%.0f%%</text>"
               "<text x=\"100\" y=\"120\" class=\"lab\" text-anchor=\"middle\">freed / retired</text></svg>"
               "<figcaption>domain %zu (%s)<br>retired %llu, freed %llu<br>pending %llu (peak %llu)<br>"
               "epoch %llu, scans %llu, neutralised %llu</figcaption></figure>\n",
            arc * frac, arc, 100 * frac, i, kind_label(s->domains[i].kind), (unsigned long long)d->retired,
            (unsigned long long)d->freed, (unsigned long long)d->pending, (unsigned long long)d->pending_peak,
            (unsigned long long)d->epoch, (unsigned long long)d->scans, (unsigned long long)d->neutralized);
  }
  fputs("</section>\n", f);
}

static void html_leaks(FILE *f, const cc_profile_t *s) {
  char buf[32];
  human_bytes(buf, sizeof buf, (double)s->leak_bytes);
  fprintf(f, "<section><h2>Still allocated (leaks at exit)</h2><p>%llu blocks, %s.</p>\n",
          (unsigned long long)s->leak_blocks, buf);
  if (s->nleaks == 0) {
    fputs("</section>\n", f);
    return;
  }
  fputs("<table><tr><th>address</th><th>bytes</th><th>thread</th><th>age</th><th>stack</th></tr>\n", f);
  for (size_t i = 0; i < s->nleaks && i < 16; i++) {
    const cc_profile_leak_t *l = &s->leaks[i];
    fprintf(f, "<tr><td>%p</td><td>%zu</td><td>#%u</td><td>%.3f s</td><td><pre>", l->ptr, l->bytes, l->owner, l->age);
    char **sym = l->nframes ? backtrace_symbols(l->stack, (int)l->nframes) : NULL;
    for (unsigned k = 0; k < l->nframes && sym; k++) {
      html_esc(f, sym[k]);
      fputc('\n', f);
    }
    free(sym);
    fputs(l->nframes ? "" : "(no stack: profile with stacks on)", f);
    fputs("</pre></td></tr>\n", f);
  }
  fputs("</table></section>\n", f);
}

static const char css[] =
  "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:900px;color:#1d2330;background:#fbfbfd}"
  "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px}"
  ".cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}.card{background:#fff;border:1px solid #dde;"
  "border-radius:8px;padding:10px 14px;min-width:120px}.card b{display:block;font-size:20px}"
  ".card span{color:#667;font-size:12px}svg{background:#fff;border:1px solid #e4e4ee;border-radius:6px}"
  ".ax{stroke:#889;stroke-width:1}.grid{stroke:#eef;stroke-width:1}.yl{font-size:11px;text-anchor:end;fill:#556}"
  ".xl{font-size:11px;text-anchor:middle;fill:#556}.lab{font-size:11px;fill:#556}"
  ".line{fill:none;stroke:#2b6cb0;stroke-width:2}.peak{fill:#c53030}.pl{font-size:12px;fill:#c53030}"
  ".s1{fill:#2b6cb0}.s2{fill:#dd6b20}.s3{fill:#38a169}.s4{fill:#805ad5}"
  ".k1{color:#2b6cb0}.k2{color:#dd6b20}.k3{color:#38a169}.k4{color:#805ad5}"
  ".cell{fill:#c53030}.diag{fill:#e2e8f0}.gauge{display:inline-block;margin:0 16px 8px 0;text-align:center}"
  ".gbg{fill:none;stroke:#e2e8f0;stroke-width:16}.gfg{fill:none;stroke:#38a169;stroke-width:16}"
  ".gv{font-size:22px;text-anchor:middle;fill:#1d2330}figcaption{font-size:12px;color:#556}"
  "table{border-collapse:collapse;background:#fff}td,th{border:1px solid #dde;padding:4px 8px;text-align:right}"
  "pre{margin:0;font-size:11px;text-align:left}.note{color:#556}ul.recs li{margin:6px 0}";

static void card(FILE *f, const char *label, const char *value) {
  fprintf(f, "<div class=\"card\"><b>%s</b><span>%s</span></div>\n", value, label);
}

static void write_html(const cc_profile_t *s, FILE *f) {
  char b[64];
  fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>ccoll allocation profile</title><style>%s</style></head><body>\n", css);
  fprintf(f, "<h1>ccoll allocation profile</h1><p class=\"note\">ccoll %s &middot; %.3f s profiled &middot; "
             "sample rate %.3g%s</p>\n<div class=\"cards\">\n",
          cc_version(), s->elapsed, s->sample_rate, s->sample_rate < 1 ? " (figures are estimates)" : "");
  snprintf(b, sizeof b, "%llu", (unsigned long long)s->allocs);
  card(f, "allocations", b);
  snprintf(b, sizeof b, "%llu", (unsigned long long)s->frees);
  card(f, "frees", b);
  snprintf(b, sizeof b, "%.3g /s", s->alloc_per_s);
  card(f, "allocation rate", b);
  human_bytes(b, sizeof b, (double)s->live_bytes);
  card(f, "live now", b);
  human_bytes(b, sizeof b, (double)s->peak_bytes);
  card(f, "peak", b);
  snprintf(b, sizeof b, "%.1f%%", 100 * s->cross_share);
  card(f, "cross-thread frees", b);
  snprintf(b, sizeof b, "%.1f%%", 100 * s->fragmentation);
  card(f, "internal fragmentation", b);
  human_ns(b, sizeof b, s->alloc_ns[2]);
  card(f, "alloc P99", b);
  fputs("</div>\n", f);

  recs_t r;
  recommend(s, &r);
  fputs("<section><h2>Recommendations</h2><ul class=\"recs\">\n", f);
  for (int i = 0; i < r.n; i++) {
    fputs("<li>", f);
    html_esc(f, r.text[i]);
    fputs("</li>\n", f);
  }
  fputs("</ul></section>\n", f);
  html_timeline(f, s);
  if (s->options.sizes) html_sizes(f, s);
  if (s->options.latency) html_latency(f, s);
  if (s->options.per_thread) html_threads(f, s);
  if (s->options.cross_thread) html_matrix(f, s);
  html_gauges(f, s);
  if (s->options.leaks) html_leaks(f, s);
  fputs("<p class=\"note\">Generated by ccoll's profiler. Self-contained: no script, no network.</p>\n"
        "</body></html>\n", f);
}

/* ------------------------------------------------------------ entry points */

static cc_profile_format_t format_of(const char *path) {
  const char *dot = path ? strrchr(path, '.') : NULL;
  if (dot == NULL) return CC_PROFILE_JSON;
  if (strcasecmp(dot, ".csv") == 0) return CC_PROFILE_CSV;
  if (strcasecmp(dot, ".prom") == 0) return CC_PROFILE_PROMETHEUS;
  if (strcasecmp(dot, ".html") == 0 || strcasecmp(dot, ".htm") == 0) return CC_PROFILE_HTML;
  return CC_PROFILE_JSON;
}

int cc_profile_write(const cc_profile_t *s, FILE *out, cc_profile_format_t fmt) {
  if (s == NULL || out == NULL || (unsigned)fmt > CC_PROFILE_HTML) return CC_EINVAL;
  switch (fmt) {
  case CC_PROFILE_CSV: write_csv(s, out); break;
  case CC_PROFILE_PROMETHEUS: write_prom(s, out); break;
  case CC_PROFILE_HTML: write_html(s, out); break;
  default: write_json(s, out); break;
  }
  return ferror(out) ? CC_EINVAL : CC_OK;
}

int cc_profiler_report(cc_profiler_t *p, const char *path, cc_profile_format_t fmt) {
  if (p == NULL || path == NULL || (unsigned)fmt > CC_PROFILE_HTML) return CC_EINVAL;
  if (fmt == CC_PROFILE_AUTO) fmt = format_of(path);
  cc_profile_t *s = cc_profiler_snapshot(p);
  if (s == NULL) return CC_ENOMEM;
  FILE *f = fopen(path, "w");
  int status = CC_EINVAL;
  if (f != NULL) {
    status = cc_profile_write(s, f, fmt);
    if (fclose(f) != 0) status = CC_EINVAL;
  }
  cc_profile_free(s);
  return status;
}
