/* ccoll: status codes shared by every module. */
#ifndef CCOLL_STATUS_H
#define CCOLL_STATUS_H

#include "export.h"

CC_BEGIN_DECLS

/* Non-negative codes are outcomes, negative codes are errors (-errno values).
 * Every call that returns an error leaves the structure it was given unchanged. */
enum {
  CC_OK        = 0,    /* success */
  CC_NOT_FOUND = 1,    /* key absent */
  CC_EXISTS    = 2,    /* key already present */
  CC_EMPTY     = 3,    /* queue or map empty */
  CC_CHANGED   = 4,    /* compare-and-set lost: current value differs */
  CC_ENOMEM    = -12,  /* allocation failed; the structure is unchanged */
  CC_EINVAL    = -22   /* bad argument (NULL handle, wrong key kind, ...); unchanged */
};

/* A short English description of a status; never NULL, also for unknown codes. */
CC_API const char *cc_strerror(int status);

CC_END_DECLS

#endif /* CCOLL_STATUS_H */
