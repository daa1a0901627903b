/* ccoll: safe memory reclamation domains.
 *
 * A domain decides when a retired block can no longer be reached by any
 * thread and frees it then. Kinds (ccoll/config.h): IBR (interval-based,
 * 2GEIBR), DEBRA, DEBRA+ (DEBRA with neutralisation of stalled threads) and
 * NONE (frees nothing until the domain is destroyed).
 *
 * Threads register implicitly on first use and deregister at thread exit;
 * garbage a leaving thread still holds is handed to the domain, never lost
 * and never freed early.
 *
 * User sections (cc_smr_enter/leave) nest. A section keeps alive, until the
 * matching leave, every block read through cc_smr_protect() or through a
 * container call made inside it. User sections are never restarted: under
 * DEBRA+ a thread stalled inside one holds reclamation back exactly as under
 * DEBRA. */
#ifndef CCOLL_SMR_H
#define CCOLL_SMR_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "export.h"

CC_BEGIN_DECLS

typedef struct cc_smr cc_smr_t;

typedef struct {
  cc_smr_kind_t kind;      /* CC_SMR_DEFAULT: the kind of CC_OPT_SMR */
  unsigned epoch_freq;     /* IBR: allocations per thread between epoch advances; 0 = default */
  unsigned empty_freq;     /* retires per thread between reclamation scans; 0 = default */
} cc_smr_config_t;

CC_API cc_smr_t *cc_smr_new(const cc_smr_config_t *cfg);  /* NULL cfg: defaults; NULL on failure */
CC_API void      cc_smr_free(cc_smr_t *smr);              /* no operation may be running; frees everything pending */
CC_API cc_smr_t *cc_smr_default(void);                    /* process-wide domain of kind CC_OPT_SMR */
CC_API cc_smr_kind_t cc_smr_kind(const cc_smr_t *smr);

CC_API void  cc_smr_enter(cc_smr_t *smr);
CC_API void  cc_smr_leave(cc_smr_t *smr);
CC_API void *cc_smr_protect(cc_smr_t *smr, void *const *src); /* inside a section: acquire-load *src */
CC_API void *cc_smr_alloc(cc_smr_t *smr, size_t size);        /* a block this domain can date */
/* Both retire calls defer the free. Without memory for that bookkeeping,
 * called outside any section of smr, they wait for the readers instead and
 * free before returning (doc/smr.md, Limitations). */
CC_API void  cc_smr_retire(cc_smr_t *smr, void *block);       /* block from cc_smr_alloc */
CC_API void  cc_smr_retire_fn(cc_smr_t *smr, void *p, void (*fn)(void *p, void *ctx), void *ctx);
CC_API void  cc_smr_drain(cc_smr_t *smr);                     /* reclaim now whatever is safe */

typedef struct {
  uint64_t retired, freed, pending, pending_peak, epoch, scans, neutralized;
} cc_smr_stats_t;

CC_API void cc_smr_stats(const cc_smr_t *smr, cc_smr_stats_t *out);
CC_API void cc_thread_detach(void);

CC_END_DECLS

#endif /* CCOLL_SMR_H */
