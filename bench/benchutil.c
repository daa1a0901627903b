#include "benchutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int allowed_cpus(int *ids, int max) {
  cpu_set_t set;
  int n = 0;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  for (int c = 0; c < CPU_SETSIZE && n < max; c++)
    if (CPU_ISSET(c, &set)) ids[n++] = c;
  return n;
}

static int cpu_ids[CPU_SETSIZE];
static int cpu_count;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static void cpu_init(void) {
  cpu_count = allowed_cpus(cpu_ids, CPU_SETSIZE);
  if (cpu_count <= 0) { cpu_count = 1; cpu_ids[0] = 0; }
}

int bench_ncpu(void) {
  pthread_once(&cpu_once, cpu_init);
  return cpu_count;
}

void bench_pin(int i) {
  int n = bench_ncpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu_ids[i % n], &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

double bench_thread_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
  int tid;
  void (*body)(int, void *);
  void *ctx;
  pthread_barrier_t *start;
  double t_begin, t_end, cpu;
} thread_arg_t;

static double last_cpu;

/* Each worker times itself: the main thread may be descheduled between the
 * barrier and its own clock read (on a loaded 2-CPU machine, long enough
 * for the workers to finish), so its clock would see nothing. */
static void *thread_main(void *p) {
  thread_arg_t *a = p;
  bench_pin(a->tid);
  pthread_barrier_wait(a->start);
  a->t_begin = bench_now();
  double c0 = bench_thread_cpu();
  a->body(a->tid, a->ctx);
  a->cpu = bench_thread_cpu() - c0;
  a->t_end = bench_now();
  return NULL;
}

double bench_threads(int n, void (*body)(int tid, void *ctx), void *ctx) {
  pthread_t *th = calloc((size_t)n, sizeof *th);
  thread_arg_t *args = calloc((size_t)n, sizeof *args);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    args[i] = (thread_arg_t){.tid = i, .body = body, .ctx = ctx, .start = &start};
    if (pthread_create(&th[i], NULL, thread_main, &args[i]) != 0) {
      perror("pthread_create");
      exit(1);
    }
  }
  pthread_barrier_wait(&start);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  /* from the first worker's start to the last worker's end */
  double t0 = args[0].t_begin, t1 = args[0].t_end;
  last_cpu = 0;
  for (int i = 0; i < n; i++) {
    if (args[i].t_begin < t0) t0 = args[i].t_begin;
    if (args[i].t_end > t1) t1 = args[i].t_end;
    last_cpu += args[i].cpu;
  }
  double t = t1 - t0;
  pthread_barrier_destroy(&start);
  free(args);
  free(th);
  return t;
}

double bench_last_cpu(void) { return last_cpu; }

void bench_backoff(unsigned step) {
  if ((step & 63) == 63) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
  else __builtin_ia32_pause();
#endif
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_interleave(int nvar, int reps, double (*fn)(int, void *), void *ctx, double *out) {
  /* the order rotates (A B C, B C A, C A B, ...): no variant always runs
   * right after the same one, whose heap state or cache footprint it
   * would inherit */
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < nvar; k++) {
      int v = (r + k) % nvar;
      out[v * reps + r] = fn(v, ctx);
    }
}

bool bench_parse_opts(int argc, char **argv, bench_opts_t *o, const char *usage) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) o->quick = true;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) o->reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) o->csv = argv[++i];
    else if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc) o->svg = argv[++i];
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("usage: %s [--quick] [--reps N] [--csv PATH] [--svg PATH]%s\n", argv[0], usage ? usage : "");
      return false;
    }
  }
  if (o->reps <= 0) o->reps = o->quick ? 3 : 7;
  return true;
}

FILE *bench_csv_open(const char *path, const char *header) {
  if (path == NULL) return NULL;
  FILE *f = fopen(path, "w");
  if (f == NULL) { perror(path); return NULL; }
  fprintf(f, "%s\n", header);
  return f;
}

bool bench_plot_svg(const char *svg_path, const char *script) {
  if (svg_path == NULL) return false;
  FILE *g = popen("gnuplot 2>/dev/null", "w");
  if (g == NULL) return false;
  fprintf(g, "set terminal svg size 900,540 dynamic enhanced font 'sans,11' background rgb 'white'\n");
  fprintf(g, "set output '%s'\n%s\n", svg_path, script);
  return pclose(g) == 0;
}

int bench_same_thread_points(bench_point_t *pts, int n, bool quick, uint64_t pairs) {
  static const int counts[] = {1, 2, 4, 8, 16};
  for (int i = 0; i < 5; i++) {
    if (quick && counts[i] > 4) break;
    uint64_t per = counts[i] <= 2 ? pairs : pairs * 2 / (uint64_t)counts[i];
    pts[n++] = (bench_point_t){false, counts[i], per};
  }
  return n;
}

bool bench_reps_given(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--reps") == 0) return true;
  return false;
}
