/* ccoll: process-wide options.
 *
 * Each option is resolved with this precedence: a setting on the object
 * itself (e.g. a map's own domain) > cc_option_set() > the environment >
 * the compiled default. The environment is read once, on first need:
 *
 *   CCOLL_SMR     ibr | debra | debra+ | none   kind of cc_smr_default()
 *   CCOLL_ALLOC   mimalloc | libc               allocation backend
 *   CCOLL_STATS   0 | 1                         allocation statistics
 *   CCOLL_TRACK   0 | 1                         route allocations through the registry
 *   CCOLL_PROFILE path                          profile the whole run, report at exit
 *
 * An unparsable value prints one line on stderr naming the variable and the
 * accepted values; the compiled default is then used. */
#ifndef CCOLL_CONFIG_H
#define CCOLL_CONFIG_H

#include "export.h"
#include "status.h"

CC_BEGIN_DECLS

typedef enum { CC_SMR_DEFAULT = 0, CC_SMR_NONE, CC_SMR_DEBRA, CC_SMR_DEBRA_PLUS, CC_SMR_IBR } cc_smr_kind_t;
typedef enum { CC_ALLOC_DEFAULT = 0, CC_ALLOC_MIMALLOC, CC_ALLOC_LIBC } cc_alloc_kind_t;
typedef enum { CC_OPT_SMR, CC_OPT_ALLOC, CC_OPT_STATS, CC_OPT_TRACK } cc_option_t;

/* Sets an option for the whole process. CC_SMR_DEFAULT / CC_ALLOC_DEFAULT
 * fall back to the environment or the compiled default.
 * Returns CC_EINVAL for an unknown option or value, and for a change that
 * comes too late: CC_OPT_ALLOC and CC_OPT_TRACK are fixed by the first
 * allocation, CC_OPT_SMR by the creation of cc_smr_default(). Setting the
 * value already in force is always CC_OK. */
CC_API int  cc_option_set(cc_option_t opt, long value);

/* The value in force (never *_DEFAULT once resolved); -1 for an unknown option. */
CC_API long cc_option_get(cc_option_t opt);

/* "ibr", "debra", "debra+", "none", in any case. CC_OK or CC_EINVAL. */
CC_API int  cc_smr_kind_parse(const char *name, cc_smr_kind_t *out);

/* "ibr", "debra", "debra+", "none", "default"; "unknown" for other values. */
CC_API const char *cc_smr_kind_name(cc_smr_kind_t kind);

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
CC_API const char *cc_version(void);

CC_END_DECLS

#endif /* CCOLL_CONFIG_H */
