/* Internal: option resolution shared by the modules. */
#ifndef CCOLL_OPTIONS_H
#define CCOLL_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "ccoll/config.h"

/* The value in force for opt (environment read on first call). */
long cc__option_value(cc_option_t opt);

/* Fixes opt at its value in force and returns that value; later
 * cc_option_set calls that would change it fail with CC_EINVAL. */
long cc__option_freeze(cc_option_t opt);

/* CCOLL_PROFILE, or NULL when unset or empty. */
const char *cc__env_profile_path(void);

/* Reads an unsigned decimal environment variable in [min, max]. Returns
 * false when unset; when set but invalid, prints the one-line complaint
 * naming the variable and the accepted range, and returns false. */
bool cc__env_u64(const char *name, uint64_t min, uint64_t max, uint64_t *out);
/* An on/off environment variable (0 or 1, read as cc__env_u64 does);
 * dflt when unset or invalid. */
bool cc__env_flag(const char *name, bool dflt);

/* Called by config.c when CC_OPT_STATS or CC_OPT_TRACK changes, so the
 * allocator can refresh its fast-path mode word. */
void cc__alloc_options_changed(void);

#endif /* CCOLL_OPTIONS_H */
