/* The pointer registry: sharded open-addressing hash tables, one lock per
 * shard, records kept inline in the slots; shared buffers with aliases;
 * tracking mode's bad-free and leak reports.
 *
 * Why a lock per shard and not a lock-free table: a registration writes a
 * whole record (size, kind, owner, time, stack) that readers must see
 * complete, and removal must pair with the one free that follows it. A
 * shard lock held for a few dozen instructions does both simply; sharding
 * by pointer hash keeps threads on different pointers apart. */
#include <execinfo.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc/track_internal.h"
#include "atomic.h"
#include "compiler.h"
#include "options.h"
#include "ccoll/alloc.h"
#include "ccoll/registry.h"

/* ------------------------------------------------------------ common helpers */

cc_thread_local uint32_t cc__t_tid;
static cc_atomic(uint32_t) next_tid = 1;

uint32_t cc__thread_id_assign(void) {
  /* relaxed: an id is a name, it publishes nothing */
  cc__t_tid = cc_atomic_fetch_add_relaxed(&next_tid, 1);
  return cc__t_tid;
}

uint64_t cc__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Records are dated with the coarse clock: on virtual machines a precise
 * clock_gettime can cost more than the whole registration. */
uint64_t cc__now_coarse_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned cc__stack_capture(void **pc, unsigned max, unsigned skip) {
  void *buf[CC_REG_STACK_MAX + 8];
  unsigned want = max + skip + 1;
  if (want > sizeof buf / sizeof buf[0]) want = sizeof buf / sizeof buf[0];
  int got = backtrace(buf, (int)want);
  unsigned first = skip + 1, n = 0;
  for (unsigned i = first; i < (unsigned)got && n < max; i++) pc[n++] = buf[i];
  return n;
}

void cc__stack_print(FILE *out, void *const *pc, unsigned n, const char *indent) {
  if (n == 0) return;
  char **sym = backtrace_symbols(pc, (int)n);
  for (unsigned i = 0; i < n; i++)
    fprintf(out, "%s#%u %s\n", indent, i, sym ? sym[i] : "?");
  free(sym);
}

/* A libc copy of a freshly captured stack; NULL when off or out of memory. */
static void **stack_grab(unsigned skip, uint8_t *nframes) {
  void *pc[CC_REG_STACK_MAX];
  unsigned n = cc__stack_capture(pc, CC_REG_STACK_MAX, skip + 1);
  void **copy = n ? malloc(n * sizeof *copy) : NULL;
  if (copy) memcpy(copy, pc, n * sizeof *copy);
  *nframes = copy ? (uint8_t)n : 0;
  return copy;
}

/* ------------------------------------------------------------ layout */

struct buffer;

typedef struct {
  uintptr_t key; /* 0: empty */
  size_t bytes;
  uint64_t time_ns;
  union {
    cc_deleter_t del;
    struct buffer *buf; /* when in_buffer */
  } u;
  void **stack;
  uint32_t owner;
  uint8_t kind;
  uint8_t nframes;
  uint8_t in_buffer;
} slot_t;

/* Recently unregistered pointers: a bad free of one of them is a double
 * free, reported with the allocation and first-free stacks. */
enum { TOMBS = 32 };
typedef struct {
  uintptr_t key;
  size_t bytes;
  uint32_t owner, freer;
  uint8_t an, fn;
  void **astack, **fstack;
} tomb_t;

typedef struct {
  pthread_mutex_t lock;
  slot_t *slots;
  size_t mask;  /* capacity - 1 */
  size_t count;
  /* written under the lock by its holder only; read lock-free by queries */
  cc_atomic(uint64_t) n_ptrs, bytes, registered, unregistered, cross, bad;
  tomb_t tomb[TOMBS];
  unsigned tomb_next;
} cc_cache_aligned shard_t;

struct buffer {
  uint64_t id;
  void *real;
  size_t bytes;
  cc_reg_kind_t kind;
  cc_deleter_t del;
  cc_atomic(unsigned) refs;
  uint32_t owner;
  struct buffer *next, *prev;
};

struct cc_registry {
  unsigned nshards;
  bool quiet;  /* internal (profiler): no reports, no tombstones */
  bool global; /* the tracking registry: ccoll blocks bypass tracking when freed */
  cc_atomic(bool) stacks;
  pthread_mutex_t buf_lock;
  struct buffer *buffers;
  cc_atomic(uint64_t) nbuffers, buffer_bytes;
  cc_atomic(uint64_t) next_buffer_id;
  shard_t shard[];
};

static inline void shard_add(cc_atomic(uint64_t) *c, int64_t v) {
  cc_atomic_add_owner(c, (uint64_t)v); /* only the lock holder writes */
}

/* Two independent multiplicative hashes: one picks the shard, the other
 * the home slot, so pointers of one shard still spread over its table.
 * The shard hashes the 64 KiB region, not the pointer: allocators hand a
 * thread blocks from its own pages, so a thread keeps working in the same
 * shards and their lines stay in its cache instead of bouncing between
 * cores on every operation. */
static inline unsigned shard_of(const cc_registry_t *r, uintptr_t k) {
  uint64_t h = ((uint64_t)(k >> 16) * 0xD6E8FEB86659FD93ull) >> 32;
  return (unsigned)((h * r->nshards) >> 32);
}
static inline size_t home_of(const shard_t *s, uintptr_t k) {
  uint64_t h = (uint64_t)k * 0x9E3779B97F4A7C15ull;
  return (size_t)(h ^ (h >> 31) ^ (h >> 47)) & s->mask;
}

static size_t find_locked(const shard_t *s, uintptr_t k) {
  for (size_t i = home_of(s, k);; i = (i + 1) & s->mask) {
    if (s->slots[i].key == k) return i;
    if (s->slots[i].key == 0) return SIZE_MAX;
  }
}

/* Backward-shift deletion keeps linear probing tombstone-free. */
static void delete_at_locked(shard_t *s, size_t i) {
  for (size_t j = (i + 1) & s->mask; s->slots[j].key != 0; j = (j + 1) & s->mask) {
    size_t home = home_of(s, s->slots[j].key);
    if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
      s->slots[i] = s->slots[j];
      i = j;
    }
  }
  s->slots[i].key = 0;
  s->count--;
}

static bool grow_locked(shard_t *s) {
  size_t cap = (s->mask + 1) * 2;
  slot_t *old = s->slots;
  size_t old_cap = s->mask + 1;
  slot_t *fresh = calloc(cap, sizeof *fresh);
  if (fresh == NULL) return false;
  s->slots = fresh;
  s->mask = cap - 1;
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i].key == 0) continue;
    size_t j = home_of(s, old[i].key);
    while (fresh[j].key != 0) j = (j + 1) & s->mask;
    fresh[j] = old[i];
  }
  free(old);
  return true;
}

/* The slot for a new key k (absent): NULL on out of memory. */
static slot_t *claim_locked(shard_t *s, uintptr_t k) {
  if ((s->count + 1) * 4 > (s->mask + 1) * 3 && !grow_locked(s)) return NULL;
  size_t i = home_of(s, k);
  while (s->slots[i].key != 0) i = (i + 1) & s->mask;
  s->count++;
  s->slots[i].key = k;
  return &s->slots[i];
}

/* ------------------------------------------------------------ create / free */

static unsigned ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

/* Threads, not CPUs, meet on a shard: with one shard per CPU, two threads
 * have even odds of hashing their regions to the same lock (measured: at 2
 * workers on 2 CPUs a register/unregister pair swung between 26 and 381 ns
 * by placement alone). Eight per CPU makes such a collision rare for a
 * few dozen shards' worth of memory. */
static unsigned default_shards(void) {
  unsigned n = 8 * ncpu();
  return n < 16 ? 16 : n;
}

static cc_registry_t *registry_create(unsigned shards, bool quiet) {
  if (shards == 0) shards = default_shards();
  if (shards > 4096) shards = 4096;
  cc_registry_t *r;
  size_t size = sizeof *r + shards * sizeof(shard_t);
  if (posix_memalign((void **)&r, CC__LINE, size) != 0) return NULL;
  memset(r, 0, size);
  r->nshards = shards;
  r->quiet = quiet;
  pthread_mutex_init(&r->buf_lock, NULL);
  cc_atomic_store_relaxed(&r->next_buffer_id, 1);
  for (unsigned i = 0; i < shards; i++) {
    shard_t *s = &r->shard[i];
    s->slots = calloc(64, sizeof *s->slots);
    if (s->slots == NULL) {
      for (unsigned j = 0; j < i; j++) free(r->shard[j].slots);
      free(r);
      return NULL;
    }
    s->mask = 63;
    /* adaptive: a holder keeps the lock for a few dozen instructions, so
     * a contender spins briefly before it sleeps in the kernel */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  return r;
}

cc_registry_t *cc_registry_new(unsigned shards) { return registry_create(shards, false); }
cc_registry_t *cc__registry_new_quiet(unsigned shards) { return registry_create(shards, true); }

void cc_registry_capture_stacks(cc_registry_t *reg, bool on) {
  if (reg) cc_atomic_store_relaxed(&reg->stacks, on);
}

static void release_block(cc_registry_t *r, uint8_t kind, void *p, size_t bytes, cc_deleter_t del) {
  switch (kind) {
  case CC_REG_CCOLL:
    /* In the global registry the record just removed is the tracking
     * record itself: free without a second lookup. */
    if (r->global) cc__alloc_release(p, bytes);
    else cc_free(p, bytes);
    break;
  case CC_REG_MALLOC:
  case CC_REG_ALIGNED: free(p); break;
  case CC_REG_CUSTOM: del(p, bytes); break;
  default: break; /* internal kinds own nothing */
  }
}

static void buffer_unlink(cc_registry_t *r, struct buffer *b) {
  pthread_mutex_lock(&r->buf_lock);
  if (b->prev) b->prev->next = b->next;
  else r->buffers = b->next;
  if (b->next) b->next->prev = b->prev;
  cc_atomic_add_owner(&r->nbuffers, (uint64_t)-1);
  cc_atomic_add_owner(&r->buffer_bytes, -(uint64_t)b->bytes);
  pthread_mutex_unlock(&r->buf_lock);
}

/* One reference of b is gone; the last one frees the memory, once. */
static void buffer_put(cc_registry_t *r, struct buffer *b) {
  /* acq_rel: the last dropper must see every other holder's use of the
   * buffer finished before it frees it */
  if (cc_atomic_fetch_sub_acq_rel(&b->refs, 1) != 1) return;
  buffer_unlink(r, b);
  release_block(r, (uint8_t)b->kind, b->real, b->bytes, b->del);
  free(b);
}

static void tomb_clear(tomb_t *t) {
  free(t->astack);
  free(t->fstack);
  memset(t, 0, sizeof *t);
}

void cc_registry_free(cc_registry_t *reg) {
  if (reg == NULL || reg->global) return;
  for (unsigned i = 0; i < reg->nshards; i++) {
    shard_t *s = &reg->shard[i];
    /* detach the table, then free outside the lock: a deleter may do anything */
    pthread_mutex_lock(&s->lock);
    slot_t *slots = s->slots;
    size_t cap = s->mask + 1;
    s->slots = NULL;
    pthread_mutex_unlock(&s->lock);
    for (size_t k = 0; k < cap; k++) {
      slot_t *e = &slots[k];
      if (e->key == 0) continue;
      if (e->in_buffer) buffer_put(reg, e->u.buf);
      else release_block(reg, e->kind, (void *)e->key, e->bytes, e->u.del);
      free(e->stack);
    }
    free(slots);
    for (unsigned t = 0; t < TOMBS; t++) tomb_clear(&s->tomb[t]);
    pthread_mutex_destroy(&s->lock);
  }
  pthread_mutex_destroy(&reg->buf_lock);
  free(reg);
}

/* ------------------------------------------------------------ register */

typedef struct {
  size_t bytes;
  uint8_t kind;
  cc_deleter_t del;
  struct buffer *buf;
  void **stack;
  uint8_t nframes;
} newrec_t;

static void fill(slot_t *e, const newrec_t *n) {
  e->bytes = n->bytes;
  e->time_ns = cc__now_coarse_ns();
  e->owner = cc__thread_id();
  e->kind = n->kind;
  e->nframes = n->nframes;
  e->stack = n->stack;
  e->in_buffer = n->buf != NULL;
  if (n->buf) e->u.buf = n->buf;
  else e->u.del = n->del;
}

/* CC_OK | CC_EXISTS | CC_ENOMEM. On success the record owns n->stack. */
static int insert(cc_registry_t *r, void *ptr, const newrec_t *n, bool replace) {
  uintptr_t k = (uintptr_t)ptr;
  shard_t *s = &r->shard[shard_of(r, k)];
  void **stale = NULL;
  int status = CC_OK;
  pthread_mutex_lock(&s->lock);
  size_t i = find_locked(s, k);
  slot_t *e = NULL;
  if (i != SIZE_MAX) {
    if (replace && !s->slots[i].in_buffer) {
      e = &s->slots[i];
      stale = e->stack;
      shard_add(&s->bytes, -(int64_t)e->bytes);
      shard_add(&s->n_ptrs, -1);
    } else {
      status = CC_EXISTS;
    }
  } else {
    e = claim_locked(s, k);
    if (e == NULL) status = CC_ENOMEM;
  }
  if (e != NULL) {
    fill(e, n);
    shard_add(&s->n_ptrs, 1);
    shard_add(&s->registered, 1);
    if (n->buf == NULL) shard_add(&s->bytes, (int64_t)n->bytes);
  }
  pthread_mutex_unlock(&s->lock);
  free(stale);
  return status;
}

static bool want_stack(const cc_registry_t *r) { return cc_atomic_load_relaxed(&r->stacks); }

static bool kind_ok(cc_reg_kind_t kind, cc_deleter_t del) {
  if ((unsigned)kind > CC_REG_CUSTOM) return false;
  return kind != CC_REG_CUSTOM || del != NULL;
}

int cc_registry_register_ptr(cc_registry_t *reg, void *ptr, size_t bytes, cc_reg_kind_t kind,
                             cc_deleter_t deleter) {
  if (reg == NULL || ptr == NULL || !kind_ok(kind, deleter)) return CC_EINVAL;
  newrec_t n = {.bytes = bytes, .kind = (uint8_t)kind, .del = deleter};
  if (want_stack(reg)) n.stack = stack_grab(1, &n.nframes);
  int status = insert(reg, ptr, &n, false);
  if (status != CC_OK) free(n.stack);
  return status;
}

bool cc__registry_put(cc_registry_t *reg, void *ptr, size_t bytes, uint8_t kind, bool with_stack) {
  newrec_t n = {.bytes = bytes, .kind = kind};
  if (with_stack) n.stack = stack_grab(2, &n.nframes);
  if (insert(reg, ptr, &n, true) == CC_OK) return true;
  free(n.stack);
  return false;
}

void *cc_registry_new_array(cc_registry_t *reg, size_t count, size_t elem_size) {
  if (reg == NULL) return NULL;
  void *p = cc_calloc(count, elem_size);
  if (p == NULL) return NULL;
  /* tracking mode registered it in the global registry already */
  if (reg->global && cc_option_get(CC_OPT_TRACK) == 1) return p;
  if (cc_registry_register_ptr(reg, p, count * elem_size, CC_REG_CCOLL, NULL) != CC_OK) {
    cc_free(p, count * elem_size);
    return NULL;
  }
  return p;
}

/* ------------------------------------------------------------ buffers */

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
  return (x > y) - (x < y);
}

/* real and the aliases: all non-NULL and pairwise distinct. */
static bool distinct_ptrs(void *real, void *const *aliases, size_t n) {
  void **all = malloc((n + 1) * sizeof *all);
  if (all == NULL) return false;
  all[0] = real;
  if (n > 0) memcpy(all + 1, aliases, n * sizeof *all);
  qsort(all, n + 1, sizeof *all, cmp_ptr);
  bool ok = all[0] != NULL;
  for (size_t i = 1; i <= n && ok; i++) ok = all[i] != all[i - 1];
  free(all);
  return ok;
}

static void remove_quietly(cc_registry_t *r, void *ptr) {
  uintptr_t k = (uintptr_t)ptr;
  shard_t *s = &r->shard[shard_of(r, k)];
  pthread_mutex_lock(&s->lock);
  size_t i = find_locked(s, k);
  if (i != SIZE_MAX) {
    free(s->slots[i].stack);
    delete_at_locked(s, i);
    shard_add(&s->n_ptrs, -1);
    shard_add(&s->registered, -1);
  }
  pthread_mutex_unlock(&s->lock);
}

uint64_t cc_registry_register_buffer_with_aliases(cc_registry_t *reg, void *real, size_t bytes,
                                                  void *const *aliases, size_t n,
                                                  cc_reg_kind_t kind, cc_deleter_t deleter) {
  if (reg == NULL || real == NULL || (n > 0 && aliases == NULL) || n >= UINT32_MAX ||
      !kind_ok(kind, deleter) || !distinct_ptrs(real, aliases, n))
    return 0;
  struct buffer *b = calloc(1, sizeof *b);
  if (b == NULL) return 0;
  b->id = cc_atomic_fetch_add_relaxed(&reg->next_buffer_id, 1);
  b->real = real;
  b->bytes = bytes;
  b->kind = kind;
  b->del = deleter;
  b->owner = cc__thread_id();
  cc_atomic_store_relaxed(&b->refs, (unsigned)n + 1);

  newrec_t rec = {.bytes = bytes, .kind = (uint8_t)kind, .buf = b};
  size_t done = 0;
  for (; done <= n; done++) {
    void *p = done == 0 ? real : aliases[done - 1];
    rec.stack = want_stack(reg) ? stack_grab(1, &rec.nframes) : NULL;
    if (insert(reg, p, &rec, false) != CC_OK) {
      free(rec.stack);
      break;
    }
  }
  if (done <= n) { /* roll back: nothing stays registered */
    for (size_t i = 0; i < done; i++) remove_quietly(reg, i == 0 ? real : aliases[i - 1]);
    free(b);
    return 0;
  }
  pthread_mutex_lock(&reg->buf_lock);
  b->next = reg->buffers;
  if (reg->buffers) reg->buffers->prev = b;
  reg->buffers = b;
  cc_atomic_add_owner(&reg->nbuffers, 1);
  cc_atomic_add_owner(&reg->buffer_bytes, bytes);
  pthread_mutex_unlock(&reg->buf_lock);
  return b->id;
}

int cc_registry_get_buffer(cc_registry_t *reg, uint64_t id, cc_reg_buffer_t *out) {
  if (reg == NULL || out == NULL || id == 0) return CC_EINVAL;
  int status = CC_NOT_FOUND;
  pthread_mutex_lock(&reg->buf_lock);
  for (struct buffer *b = reg->buffers; b; b = b->next) {
    if (b->id != id) continue;
    *out = (cc_reg_buffer_t){b->id, b->real, b->bytes, b->kind,
                             cc_atomic_load_acquire(&b->refs), b->owner};
    status = CC_OK;
    break;
  }
  pthread_mutex_unlock(&reg->buf_lock);
  return status;
}

/* ------------------------------------------------------------ unregister */

typedef struct {
  bool found, was_freed;
  size_t bytes;
  uint32_t owner, freer;
  uint8_t an, fn;
  void *astack[CC_REG_STACK_MAX], *fstack[CC_REG_STACK_MAX];
} bad_info_t;

static void tomb_push_locked(shard_t *s, const slot_t *e, void **fstack, uint8_t fn) {
  tomb_t *t = &s->tomb[s->tomb_next++ % TOMBS];
  tomb_clear(t);
  *t = (tomb_t){.key = e->key, .bytes = e->bytes, .owner = e->owner, .freer = cc__thread_id(),
                .an = e->nframes, .fn = fn, .astack = e->stack, .fstack = fstack};
}

/* Copies what the shard remembers about a pointer that is not registered. */
static void tomb_lookup_locked(const shard_t *s, uintptr_t k, bad_info_t *bi) {
  memset(bi, 0, offsetof(bad_info_t, astack));
  for (unsigned i = 0; i < TOMBS; i++) {
    const tomb_t *t = &s->tomb[(s->tomb_next - 1 - i) % TOMBS];
    if (t->key != k) continue;
    bi->was_freed = true;
    bi->bytes = t->bytes;
    bi->owner = t->owner;
    bi->freer = t->freer;
    bi->an = t->an;
    bi->fn = t->fn;
    if (t->astack) memcpy(bi->astack, t->astack, t->an * sizeof(void *));
    if (t->fstack) memcpy(bi->fstack, t->fstack, t->fn * sizeof(void *));
    return;
  }
}

static void report_bad_free(const void *ptr, const bad_info_t *bi, const char *what) {
  void *here[CC_REG_STACK_MAX];
  unsigned n = cc__stack_capture(here, CC_REG_STACK_MAX, 2);
  flockfile(stderr);
  if (bi->was_freed)
    fprintf(stderr,
            "ccoll: %s: double free of %p (%zu bytes, allocated by thread %u, first freed by thread %u); "
            "not passed to the allocator\n",
            what, ptr, bi->bytes, bi->owner, bi->freer);
  else
    fprintf(stderr, "ccoll: %s: free of %p, which is not registered (foreign pointer or double free); "
                    "not passed to the allocator\n", what, ptr);
  fprintf(stderr, "  this free (thread %u):\n", cc__thread_id());
  cc__stack_print(stderr, here, n, "    ");
  if (bi->was_freed && bi->fn) {
    fprintf(stderr, "  first free (thread %u):\n", bi->freer);
    cc__stack_print(stderr, bi->fstack, bi->fn, "    ");
  }
  if (bi->was_freed && bi->an) {
    fprintf(stderr, "  allocation (thread %u):\n", bi->owner);
    cc__stack_print(stderr, bi->astack, bi->an, "    ");
  }
  if (bi->was_freed && !bi->an && !bi->fn)
    fprintf(stderr, "  (CCOLL_TRACK_STACKS=1 records allocation and free stacks)\n");
  funlockfile(stderr);
}

/* Removes ptr's record into *out. Returns CC_OK, or CC_NOT_FOUND (after
 * the report) when ptr is not registered. `only_plain` refuses buffer
 * members and kinds other than `want_kind` (reported, left in place). */
static int take(cc_registry_t *r, void *ptr, slot_t *out, bool is_free, int want_kind) {
  uintptr_t k = (uintptr_t)ptr;
  shard_t *s = &r->shard[shard_of(r, k)];
  uint8_t fn = 0;
  void **fstack = (is_free && !r->quiet && want_stack(r)) ? stack_grab(2, &fn) : NULL;
  bad_info_t bi;
  bool mismatch = false;
  pthread_mutex_lock(&s->lock);
  size_t i = find_locked(s, k);
  if (i != SIZE_MAX && want_kind >= 0 &&
      (s->slots[i].in_buffer || s->slots[i].kind != (uint8_t)want_kind)) {
    mismatch = true;
    i = SIZE_MAX;
  }
  if (i == SIZE_MAX) {
    if (is_free) shard_add(&s->bad, 1);
    if (!r->quiet && is_free && !mismatch) tomb_lookup_locked(s, k, &bi);
    pthread_mutex_unlock(&s->lock);
    free(fstack);
    if (!r->quiet && is_free && mismatch)
      fprintf(stderr, "ccoll: cc_free(%p): the block is registered as another kind (not from cc_alloc*); "
                      "not freed\n", ptr);
    else if (!r->quiet && is_free)
      report_bad_free(ptr, &bi, r->global ? "tracking" : "registry");
    return CC_NOT_FOUND;
  }
  *out = s->slots[i];
  delete_at_locked(s, i);
  shard_add(&s->n_ptrs, -1);
  if (!out->in_buffer) shard_add(&s->bytes, -(int64_t)out->bytes);
  shard_add(&s->unregistered, 1);
  if (out->owner != cc__thread_id()) shard_add(&s->cross, 1);
  if (!r->quiet && is_free) {
    tomb_push_locked(s, out, fstack, fn); /* the tomb owns both stacks now */
    out->stack = NULL;
    fstack = NULL;
  }
  pthread_mutex_unlock(&s->lock);
  free(fstack);
  return CC_OK;
}

int cc_registry_unregister_ptr(cc_registry_t *reg, void *ptr) {
  if (reg == NULL || ptr == NULL) return CC_EINVAL;
  slot_t e;
  int status = take(reg, ptr, &e, true, -1);
  if (status != CC_OK) return status;
  free(e.stack);
  if (e.in_buffer) buffer_put(reg, e.u.buf);
  else release_block(reg, e.kind, ptr, e.bytes, e.u.del);
  return CC_OK;
}

int cc_registry_forget_ptr(cc_registry_t *reg, void *ptr) {
  if (reg == NULL || ptr == NULL) return CC_EINVAL;
  uintptr_t k = (uintptr_t)ptr;
  shard_t *s = &reg->shard[shard_of(reg, k)];
  pthread_mutex_lock(&s->lock);
  size_t i = find_locked(s, k);
  int status = CC_NOT_FOUND;
  if (i != SIZE_MAX && !s->slots[i].in_buffer) {
    free(s->slots[i].stack);
    shard_add(&s->bytes, -(int64_t)s->slots[i].bytes);
    shard_add(&s->n_ptrs, -1);
    shard_add(&s->unregistered, 1);
    delete_at_locked(s, i);
    status = CC_OK;
  }
  pthread_mutex_unlock(&s->lock);
  return status;
}

bool cc__registry_take(cc_registry_t *reg, const void *ptr, cc__reg_entry_t *out) {
  slot_t e;
  if (take(reg, (void *)ptr, &e, false, -1) != CC_OK) return false;
  *out = (cc__reg_entry_t){(void *)e.key, e.bytes, e.time_ns, e.owner, e.kind, e.nframes, e.stack};
  return true;
}

void cc__registry_visit(cc_registry_t *reg, bool remove,
                        void (*fn)(const cc__reg_entry_t *e, void *ctx), void *ctx) {
  for (unsigned i = 0; i < reg->nshards; i++) {
    shard_t *s = &reg->shard[i];
    pthread_mutex_lock(&s->lock);
    for (size_t k = 0; k <= s->mask; k++) {
      slot_t *e = &s->slots[k];
      if (e->key == 0) continue;
      cc__reg_entry_t v = {(void *)e->key, e->bytes, e->time_ns, e->owner, e->kind, e->nframes, e->stack};
      fn(&v, ctx);
    }
    if (remove) {
      for (size_t k = 0; k <= s->mask; k++) {
        if (s->slots[k].key == 0) continue;
        free(s->slots[k].stack);
        s->slots[k].key = 0;
      }
      s->count = 0;
      cc_atomic_store_relaxed(&s->n_ptrs, 0);
      cc_atomic_store_relaxed(&s->bytes, 0);
    }
    pthread_mutex_unlock(&s->lock);
  }
}

/* ------------------------------------------------------------ queries */

bool cc_registry_is_registered(cc_registry_t *reg, const void *ptr) {
  if (reg == NULL || ptr == NULL) return false;
  uintptr_t k = (uintptr_t)ptr;
  shard_t *s = &reg->shard[shard_of(reg, k)];
  pthread_mutex_lock(&s->lock);
  bool found = find_locked(s, k) != SIZE_MAX;
  pthread_mutex_unlock(&s->lock);
  return found;
}

int cc_registry_get_ptr_record(cc_registry_t *reg, const void *ptr, cc_reg_record_t *out) {
  if (reg == NULL || ptr == NULL || out == NULL) return CC_EINVAL;
  uintptr_t k = (uintptr_t)ptr;
  shard_t *s = &reg->shard[shard_of(reg, k)];
  pthread_mutex_lock(&s->lock);
  size_t i = find_locked(s, k);
  if (i != SIZE_MAX) {
    const slot_t *e = &s->slots[i];
    memset(out, 0, sizeof *out);
    out->ptr = (void *)k;
    out->bytes = e->bytes;
    out->kind = (cc_reg_kind_t)e->kind;
    out->owner_thread = e->owner;
    out->time_ns = e->time_ns;
    out->buffer_id = e->in_buffer ? e->u.buf->id : 0;
    out->nframes = e->stack ? e->nframes : 0;
    if (out->nframes) memcpy(out->stack, e->stack, out->nframes * sizeof(void *));
  }
  pthread_mutex_unlock(&s->lock);
  return i != SIZE_MAX ? CC_OK : CC_NOT_FOUND;
}

static uint64_t sum_shards(cc_registry_t *reg, size_t field_offset) {
  uint64_t t = 0;
  for (unsigned i = 0; i < reg->nshards; i++)
    t += cc_atomic_load_relaxed((cc_atomic(uint64_t) *)((char *)&reg->shard[i] + field_offset));
  return t;
}

#define SUM(reg, field) sum_shards((reg), offsetof(shard_t, field))

size_t cc_registry_num_pointers(cc_registry_t *reg) { return reg ? (size_t)SUM(reg, n_ptrs) : 0; }
size_t cc_registry_num_buffers(cc_registry_t *reg) {
  return reg ? (size_t)cc_atomic_load_relaxed(&reg->nbuffers) : 0;
}
size_t cc_registry_total_bytes(cc_registry_t *reg) {
  return reg ? (size_t)(SUM(reg, bytes) + cc_atomic_load_relaxed(&reg->buffer_bytes)) : 0;
}

void cc_registry_stats(cc_registry_t *reg, cc_reg_stats_t *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof *out);
  if (reg == NULL) return;
  out->registered = SUM(reg, registered);
  out->unregistered = SUM(reg, unregistered);
  out->cross_thread_frees = SUM(reg, cross);
  out->bad_frees = SUM(reg, bad);
}

static const char *kind_name(uint8_t k) {
  static const char *const names[] = {"ccoll", "malloc", "aligned", "custom"};
  return k <= CC_REG_CUSTOM ? names[k] : "internal";
}

size_t cc_registry_report_leaks(cc_registry_t *reg, FILE *out, size_t max_listed) {
  if (reg == NULL) return 0;
  size_t n = cc_registry_num_pointers(reg);
  if (out == NULL) return n;
  uint64_t now = cc__now_ns();
  fprintf(out, "ccoll: %zu pointer%s still registered (%zu bytes, %zu shared buffer%s)\n", n,
          n == 1 ? "" : "s", cc_registry_total_bytes(reg), cc_registry_num_buffers(reg),
          cc_registry_num_buffers(reg) == 1 ? "" : "s");
  size_t listed = 0;
  bool any_stack = false;
  for (unsigned i = 0; i < reg->nshards && listed < max_listed; i++) {
    shard_t *s = &reg->shard[i];
    pthread_mutex_lock(&s->lock);
    for (size_t k = 0; k <= s->mask && listed < max_listed; k++) {
      const slot_t *e = &s->slots[k];
      if (e->key == 0) continue;
      listed++;
      fprintf(out, "  %p: %zu bytes (%s%s), thread %u, %.3f s ago\n", (void *)e->key, e->bytes,
              kind_name(e->kind), e->in_buffer ? ", shared buffer" : "", e->owner,
              (double)(now - e->time_ns) / 1e9);
      if (e->stack) {
        any_stack = true;
        cc__stack_print(out, e->stack, e->nframes, "      ");
      }
    }
    pthread_mutex_unlock(&s->lock);
  }
  if (n > listed) fprintf(out, "  ... and %zu more\n", n - listed);
  if (listed && !any_stack) fprintf(out, "  (CCOLL_TRACK_STACKS=1 records allocation stacks)\n");
  return n;
}

/* ------------------------------------------------------------ tracking mode */

static cc_registry_t *global_reg;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void global_init(void) {
  global_reg = registry_create(0, false);
  if (global_reg == NULL) return;
  global_reg->global = true;
  uint64_t v;
  if (cc__env_u64("CCOLL_TRACK_STACKS", 0, 1, &v)) cc_atomic_store_relaxed(&global_reg->stacks, v == 1);
}

cc_registry_t *cc_registry_global(void) {
  pthread_once(&global_once, global_init);
  return global_reg;
}

/* At exit: the leaks and the bad frees of the run, on stderr. */
static void track_exit_report(void) {
  cc_registry_t *r = global_reg;
  cc_reg_stats_t st;
  cc_registry_stats(r, &st);
  size_t n = cc_registry_num_pointers(r);
  fprintf(stderr,
          "ccoll tracking: %llu allocations, %llu frees, %llu cross-thread frees, %llu bad frees; "
          "%zu leaked (%zu bytes)\n",
          (unsigned long long)st.registered, (unsigned long long)st.unregistered,
          (unsigned long long)st.cross_thread_frees, (unsigned long long)st.bad_frees, n,
          cc_registry_total_bytes(r));
  if (n > 0) cc_registry_report_leaks(r, stderr, 10);
}

static void exit_init(void) { atexit(track_exit_report); }

bool cc__track_on_alloc(void *ptr, size_t requested) {
  cc_registry_t *r = cc_registry_global();
  if (r == NULL) return false;
  pthread_once(&exit_once, exit_init);
  newrec_t n = {.bytes = requested, .kind = CC_REG_CCOLL};
  if (want_stack(r)) n.stack = stack_grab(2, &n.nframes);
  /* replace: a stale record at this address was never freed through ccoll */
  if (insert(r, ptr, &n, true) == CC_OK) return true;
  free(n.stack);
  return false;
}

bool cc__track_on_free(void *ptr, size_t *requested) {
  cc_registry_t *r = cc_registry_global();
  if (r == NULL) return false;
  slot_t e;
  if (take(r, ptr, &e, true, CC_REG_CCOLL) != CC_OK) return false;
  free(e.stack);
  *requested = e.bytes;
  return true;
}
