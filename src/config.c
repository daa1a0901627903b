/* Options, environment parsing, status strings and the version. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "compiler.h"
#include "options.h"
#include "ccoll/config.h"
#include "ccoll/status.h"

#define OPT_COUNT 4
#define UNSET (-1L)

/* Each option: what the user set, what the environment said, and whether
 * a module has frozen it. Reads are lock-free; writes take opt_lock so a
 * set cannot slip between a freeze's read and its publication. */
static cc_atomic(long) opt_user[OPT_COUNT] = {UNSET, UNSET, UNSET, UNSET};
static long opt_env[OPT_COUNT] = {UNSET, UNSET, UNSET, UNSET};
static cc_atomic(bool) opt_frozen[OPT_COUNT];
static pthread_mutex_t opt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static const char *env_profile;

static long compiled_default(cc_option_t opt) {
  switch (opt) {
  case CC_OPT_SMR: return CC_SMR_IBR;
  case CC_OPT_ALLOC: return (CC_ASAN || CC_TSAN) ? CC_ALLOC_LIBC : CC_ALLOC_MIMALLOC;
  default: return 0;
  }
}

static void complain(const char *name, const char *value, const char *accepted) {
  fprintf(stderr, "ccoll: %s='%s' is not valid (accepted: %s); using the default\n",
          name, value, accepted);
}

static bool parse_bool(const char *s, long *out) {
  if (strcmp(s, "0") == 0) { *out = 0; return true; }
  if (strcmp(s, "1") == 0) { *out = 1; return true; }
  return false;
}

static bool parse_alloc(const char *s, long *out) {
  if (strcasecmp(s, "mimalloc") == 0) { *out = CC_ALLOC_MIMALLOC; return true; }
  if (strcasecmp(s, "libc") == 0) { *out = CC_ALLOC_LIBC; return true; }
  return false;
}

static void read_env_option(cc_option_t opt, const char *name, const char *accepted,
                            bool (*parse)(const char *, long *)) {
  const char *s = getenv(name);
  long v;
  if (s == NULL || *s == '\0') return;
  if (parse(s, &v)) opt_env[opt] = v;
  else complain(name, s, accepted);
}

static bool parse_smr(const char *s, long *out) {
  cc_smr_kind_t k;
  if (cc_smr_kind_parse(s, &k) != CC_OK) return false;
  *out = k;
  return true;
}

static void read_env(void) {
  read_env_option(CC_OPT_SMR, "CCOLL_SMR", "ibr, debra, debra+, none", parse_smr);
  read_env_option(CC_OPT_ALLOC, "CCOLL_ALLOC", "mimalloc, libc", parse_alloc);
  read_env_option(CC_OPT_STATS, "CCOLL_STATS", "0, 1", parse_bool);
  read_env_option(CC_OPT_TRACK, "CCOLL_TRACK", "0, 1", parse_bool);
  const char *p = getenv("CCOLL_PROFILE");
  env_profile = (p != NULL && *p != '\0') ? p : NULL;
}

static void ensure_env(void) { pthread_once(&env_once, read_env); }

static bool valid_value(cc_option_t opt, long v) {
  switch (opt) {
  case CC_OPT_SMR: return v >= CC_SMR_DEFAULT && v <= CC_SMR_IBR;
  case CC_OPT_ALLOC: return v >= CC_ALLOC_DEFAULT && v <= CC_ALLOC_LIBC;
  case CC_OPT_STATS:
  case CC_OPT_TRACK: return v == 0 || v == 1;
  default: return false;
  }
}

/* Value in force if the user's setting were `user`. */
static long effective(cc_option_t opt, long user) {
  if (user != UNSET) return user;
  if (opt_env[opt] != UNSET) return opt_env[opt];
  return compiled_default(opt);
}

long cc__option_value(cc_option_t opt) {
  ensure_env();
  /* relaxed: an option is a plain value, it publishes no other memory */
  return effective(opt, cc_atomic_load_relaxed(&opt_user[opt]));
}

long cc__option_freeze(cc_option_t opt) {
  ensure_env();
  pthread_mutex_lock(&opt_lock);
  cc_atomic_store_relaxed(&opt_frozen[opt], true);
  long v = effective(opt, cc_atomic_load_relaxed(&opt_user[opt]));
  pthread_mutex_unlock(&opt_lock);
  return v;
}

int cc_option_set(cc_option_t opt, long value) {
  if ((unsigned)opt >= OPT_COUNT || !valid_value(opt, value)) return CC_EINVAL;
  ensure_env();
  /* 0 means "back to the environment or the compiled default" for the
   * enum options; for the boolean ones it is a real value. */
  long user = (value == 0 && (opt == CC_OPT_SMR || opt == CC_OPT_ALLOC)) ? UNSET : value;
  pthread_mutex_lock(&opt_lock);
  long before = effective(opt, cc_atomic_load_relaxed(&opt_user[opt]));
  bool too_late = cc_atomic_load_relaxed(&opt_frozen[opt]) && effective(opt, user) != before;
  if (!too_late) cc_atomic_store_relaxed(&opt_user[opt], user);
  pthread_mutex_unlock(&opt_lock);
  if (too_late) return CC_EINVAL;
  if (opt == CC_OPT_STATS || opt == CC_OPT_TRACK) cc__alloc_options_changed();
  return CC_OK;
}

long cc_option_get(cc_option_t opt) {
  if ((unsigned)opt >= OPT_COUNT) return -1;
  return cc__option_value(opt);
}

const char *cc__env_profile_path(void) {
  ensure_env();
  return env_profile;
}

bool cc__env_u64(const char *name, uint64_t min, uint64_t max, uint64_t *out) {
  const char *s = getenv(name);
  if (s == NULL || *s == '\0') return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || !isdigit((unsigned char)s[0]) || v < min || v > max) {
    fprintf(stderr, "ccoll: %s='%s' is not valid (accepted: an integer from %llu to %llu); ignored\n",
            name, s, (unsigned long long)min, (unsigned long long)max);
    return false;
  }
  *out = v;
  return true;
}

bool cc__env_flag(const char *name, bool dflt) {
  uint64_t v = dflt;
  (void)cc__env_u64(name, 0, 1, &v);
  return v != 0;
}

/* ------------------------------------------------------------ names */

static const char *const smr_names[] = {
  [CC_SMR_DEFAULT] = "default", [CC_SMR_NONE] = "none", [CC_SMR_DEBRA] = "debra",
  [CC_SMR_DEBRA_PLUS] = "debra+", [CC_SMR_IBR] = "ibr",
};

int cc_smr_kind_parse(const char *name, cc_smr_kind_t *out) {
  if (name == NULL || out == NULL) return CC_EINVAL;
  for (int k = CC_SMR_NONE; k <= CC_SMR_IBR; k++) {
    if (strcasecmp(name, smr_names[k]) == 0) {
      *out = (cc_smr_kind_t)k;
      return CC_OK;
    }
  }
  return CC_EINVAL;
}

const char *cc_smr_kind_name(cc_smr_kind_t kind) {
  if ((unsigned)kind > CC_SMR_IBR) return "unknown";
  return smr_names[kind];
}

const char *cc_strerror(int status) {
  switch (status) {
  case CC_OK: return "success";
  case CC_NOT_FOUND: return "key not found";
  case CC_EXISTS: return "key already exists";
  case CC_EMPTY: return "empty";
  case CC_CHANGED: return "value changed concurrently";
  case CC_ENOMEM: return "out of memory";
  case CC_EINVAL: return "invalid argument";
  default: return "unknown status";
  }
}

#define CC__STR2(x) #x
#define CC__STR(x) CC__STR2(x)

const char *cc_version(void) {
  return CC__STR(CC_VERSION_MAJOR) "." CC__STR(CC_VERSION_MINOR) "." CC__STR(CC_VERSION_PATCH);
}
