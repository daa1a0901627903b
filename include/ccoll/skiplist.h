/* ccoll: knobs of the skip-list kind of cc_map (CC_MAP_SKIPLIST).
 * The operations are those of ccoll/map.h; this header adds no second copy. */
#ifndef CCOLL_SKIPLIST_H
#define CCOLL_SKIPLIST_H

#include "export.h"

/* Tallest tower. Levels are drawn with p = 1/2, so 32 levels keep searches
 * O(log n) up to about 2^32 keys; taller towers are never built. */
#define CC_SKIPLIST_MAX_LEVEL 32

#endif /* CCOLL_SKIPLIST_H */
