/* ccoll: ordered map, a lock-free skip list or BST behind one contract.
 *
 * Every point operation is linearizable. cc_map_range is weakly consistent:
 * it sees every key present for the whole scan, never a key absent for the
 * whole scan, each key at most once, in ascending order.
 *
 * Values are opaque words (NULL allowed). With val_free set the map owns its
 * values: a value replaced or removed is passed to val_free exactly once,
 * only when no reader can still see it; cc_map_free frees the rest.
 *
 * Byte-string keys (CC_KEY_BYTES) are copied into the map and ordered by
 * memcmp, then by length; a key of length 0 is valid. Calling a u64 function
 * on a bytes map (or the reverse) returns CC_EINVAL.
 *
 * Out-pointers (found, key, val, old) may be NULL when the caller does not
 * want that output, except cc_map_get's val (its only result): CC_EINVAL. */
#ifndef CCOLL_MAP_H
#define CCOLL_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "smr.h"

CC_BEGIN_DECLS

typedef struct cc_map cc_map_t;
typedef enum { CC_MAP_SKIPLIST = 0, CC_MAP_BST } cc_map_kind_t;
typedef enum { CC_KEY_U64 = 0, CC_KEY_BYTES } cc_key_kind_t;

typedef struct {
  cc_map_kind_t kind;
  cc_key_kind_t key_kind;
  cc_smr_t *smr;                           /* NULL: cc_smr_default() */
  void (*val_free)(void *val, void *ctx);  /* NULL: the caller owns values */
  void *val_ctx;
} cc_map_config_t;

CC_API cc_map_t *cc_map_new(const cc_map_config_t *cfg); /* NULL cfg: skip list, u64 keys, default domain */
CC_API void      cc_map_free(cc_map_t *m);               /* not concurrent with other calls on m */

/* CC_ENOMEM, the map unchanged, besides the statuses listed: from any call
 * when this thread cannot be registered with the map's domain; from updates
 * (and the BST's navigation) when memory for a node, or for the reclamation
 * bookkeeping of what they retire, runs out. pop_first waits for memory
 * instead (doc/map.md). */
CC_API int cc_map_insert (cc_map_t *m, uint64_t key, void *val);             /* CC_OK | CC_EXISTS | CC_ENOMEM */
CC_API int cc_map_put    (cc_map_t *m, uint64_t key, void *val, void **old); /* CC_OK inserted | CC_EXISTS replaced (*old) */
CC_API int cc_map_get    (cc_map_t *m, uint64_t key, void **val);            /* CC_OK | CC_NOT_FOUND */
CC_API int cc_map_remove (cc_map_t *m, uint64_t key, void **val);            /* CC_OK | CC_NOT_FOUND; val may be NULL */
CC_API int cc_map_replace(cc_map_t *m, uint64_t key, void *expected, void *desired); /* CC_OK | CC_NOT_FOUND | CC_CHANGED */

/* Navigation: CC_OK, or CC_NOT_FOUND when no key qualifies. */
CC_API int cc_map_floor  (cc_map_t *m, uint64_t key, uint64_t *found, void **val); /* greatest <= key */
CC_API int cc_map_ceiling(cc_map_t *m, uint64_t key, uint64_t *found, void **val); /* least >= key */
CC_API int cc_map_lower  (cc_map_t *m, uint64_t key, uint64_t *found, void **val); /* greatest <  key */
CC_API int cc_map_higher (cc_map_t *m, uint64_t key, uint64_t *found, void **val); /* least >  key */

/* CC_OK, or CC_EMPTY on an empty map. */
CC_API int cc_map_first    (cc_map_t *m, uint64_t *key, void **val);
CC_API int cc_map_last     (cc_map_t *m, uint64_t *key, void **val);
CC_API int cc_map_pop_first(cc_map_t *m, uint64_t *key, void **val);  /* remove and return the least */

/* lo <= key <= hi ascending; a nonzero return from fn stops the scan and is
 * returned; otherwise CC_OK. */
CC_API int cc_map_range(cc_map_t *m, uint64_t lo, uint64_t hi,
                        int (*fn)(uint64_t key, void *val, void *arg), void *arg);

CC_API size_t cc_map_size(const cc_map_t *m); /* O(1); exact when no update is running */

/* byte-string keys (key_kind CC_KEY_BYTES) */
CC_API int cc_map_insert_bytes(cc_map_t *m, const void *key, size_t len, void *val);
CC_API int cc_map_put_bytes   (cc_map_t *m, const void *key, size_t len, void *val, void **old);
CC_API int cc_map_get_bytes   (cc_map_t *m, const void *key, size_t len, void **val);
CC_API int cc_map_remove_bytes(cc_map_t *m, const void *key, size_t len, void **val);
CC_API int cc_map_range_bytes (cc_map_t *m, const void *lo, size_t lo_len, const void *hi, size_t hi_len,
                               int (*fn)(const void *key, size_t len, void *val, void *arg), void *arg);

CC_END_DECLS

#endif /* CCOLL_MAP_H */
