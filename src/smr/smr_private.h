/* Internal to src/smr: what the .c files share beyond the container contract. */
#ifndef CCOLL_SMR_PRIVATE_H
#define CCOLL_SMR_PRIVATE_H

#include "smr_internal.h"

/* domain.c */
void cc__smr_scratch_free(cc__smr_thr_t *t);
void cc__smr_release(cc__smr_thr_t *t);
cc__smr_orphan_t *cc__smr_orphan_take(cc__smr_thr_t *t);
void cc__smr_orphan_push(cc_smr_t *d, cc__smr_orphan_t *o);

/* limbo.c */
cc__smr_blk_t *cc__smr_blk_get(cc__smr_thr_t *t);
void cc__smr_blk_put(cc__smr_thr_t *t, cc__smr_blk_t *b);
void cc__smr_pool_drop(cc__smr_thr_t *t);
cc__smr_fnrec_t *cc__smr_rec_get(cc__smr_thr_t *t);
void cc__smr_rec_put(cc__smr_thr_t *t, cc__smr_fnrec_t *r);
void cc__smr_recs_drop(cc__smr_thr_t *t);
void cc__smr_bag_append(cc__smr_bag_t *dst, cc__smr_blk_t *head, cc__smr_blk_t *tail, size_t count);
cc__smr_bag_t cc__smr_bag_take(cc__smr_bag_t *bag);
cc__smr_blk_t *cc__smr_chain_tail(cc__smr_blk_t *b);
size_t cc__smr_reclaim_blocks(cc__smr_blk_t *b);

/* asym.c */
bool cc__smr_asym_available(void);
void cc__smr_asym_fence(void);
/* The membarrier of a reclamation pass, timed: *at, the retirements
 * between two passes, follows its cost within [min, max]. */
void cc__smr_fence_paced(cc__smr_thr_t *t, size_t *at, size_t min, size_t max);

/* debra.c */
void cc__smr_debra_release(cc__smr_thr_t *t);
void cc__smr_debra_destroy(cc__smr_thr_t *t);
void cc__smr_debra_drain(cc__smr_thr_t *t);
void cc__smr_debra_synchronize(cc_smr_t *d);

/* ibr.c */
void cc__smr_ibr_drain(cc__smr_thr_t *t);
void cc__smr_ibr_synchronize(cc_smr_t *d);

/* neutralize.c */
void cc__smr_debrap_setup(cc_smr_t *d);
void cc__smr_debrap_leave(cc__smr_thr_t *t);
size_t cc__smr_debrap_snapshot_slots(cc__smr_thr_t *t);
bool cc__smr_debrap_slot_held(const cc__smr_thr_t *t, size_t n, const void *p);

#endif /* CCOLL_SMR_PRIVATE_H */
