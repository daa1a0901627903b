/* Internal to src/smr: what the .c files share beyond the container contract. */
#ifndef CCOLL_SMR_PRIVATE_H
#define CCOLL_SMR_PRIVATE_H

#include "smr_internal.h"

/* domain.c */
void cc__smr_scratch_free(cc__smr_thr_t *t);
void cc__smr_release(cc__smr_thr_t *t);
size_t cc__smr_reclaim_list(cc__smr_thr_t *t, cc__smr_hdr_t *h);
cc__smr_orphan_t *cc__smr_orphan_new(void);
void cc__smr_orphan_push(cc_smr_t *d, cc__smr_orphan_t *o);

/* asym.c */
bool cc__smr_asym_available(void);
void cc__smr_asym_fence(void);

/* debra.c */
void cc__smr_debra_release(cc__smr_thr_t *t);
void cc__smr_debra_destroy(cc__smr_thr_t *t);
void cc__smr_debra_drain(cc__smr_thr_t *t);
size_t cc__smr_reclaim_blocks(cc__smr_blk_t *b);

/* ibr.c */
void cc__smr_ibr_drain(cc__smr_thr_t *t);

/* neutralize.c */
void cc__smr_debrap_setup(cc_smr_t *d);
void cc__smr_debrap_leave(cc__smr_thr_t *t);
size_t cc__smr_debrap_snapshot_slots(cc__smr_thr_t *t);
bool cc__smr_debrap_slot_held(const cc__smr_thr_t *t, size_t n, const void *p);

#endif /* CCOLL_SMR_PRIVATE_H */
