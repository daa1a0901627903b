/* ccoll: lock-free concurrent collections with safe memory reclamation.
 * Umbrella header: includes every public header. */
#ifndef CCOLL_H
#define CCOLL_H

#include "ccoll/export.h"
#include "ccoll/status.h"
#include "ccoll/config.h"
#include "ccoll/alloc.h"
#include "ccoll/smr.h"
#include "ccoll/map.h"
#include "ccoll/skiplist.h"
#include "ccoll/queue.h"
#include "ccoll/registry.h"
#include "ccoll/profiler.h"

#endif /* CCOLL_H */
