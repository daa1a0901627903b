/* Internal: the contract between reclamation (src/smr) and the containers
 * (src/containers). Never installed.
 *
 * STATUS: contract first; src/smr implements it. Names below are fixed;
 * the reclamation side may add to them but not rename them.
 *
 * ------------------------------------------------------------------ model
 * A container is written once (e.g. skiplist_impl.h) against the functions
 *
 *     cc__smr_<S>_<op>(...)          S in: none, debra, debrap, ibr
 *
 * through the macro CC__SMR(S, op), and the impl header is included once
 * per scheme, so each instantiation calls static inline functions only: one
 * indirect call per operation (the container's ops table), none per node.
 *
 * Nodes embed `cc__smr_hdr_t hdr;` as their FIRST member and never touch it.
 * All link words are cc_atomic(uintptr_t) so low bits can carry marks.
 *
 * ------------------------------------------------------------------ an operation
 *
 *   cc__smr_thr_t *t = cc__smr_thr(d);          // this thread's record; NULL -> CC_ENOMEM
 *   if (!CC__SMR(S, reserve)(t, rec)) -> CC_ENOMEM   // an operation that may retire
 *   node = CC__SMR(S, alloc)(t, size);          // allocate BEFORE the read phase
 *   CC__SMR(S, begin)(t);                       // operation starts
 *   CC__SMR_READ_PHASE(S, t);                   // restartable from here (DEBRA+)
 *     x = CC__SMR(S, read)(t, &pred->next[i]);  // every load of a link that will be followed
 *     ... traversal: no allocator, libc, syscall or lock call ...
 *     CC__SMR(S, protect)(t, 0, pred);          // up to CC__SMR_SLOTS nodes the write touches
 *     CC__SMR(S, protect)(t, 1, curr);
 *   CC__SMR(S, write_phase)(t);                 // not restartable from here
 *     CAS ... ; only protected or own new nodes are touched here.
 *     on a failed CAS that needs a new traversal: CC__SMR_READ_PHASE(S, t) again
 *     CC__SMR(S, retire)(t, victim);            // unlinked by this thread: free when safe
 *   CC__SMR(S, end)(t);                         // operation ends
 *
 * Under DEBRA+, a neutralisation signal that arrives in the read phase jumps
 * back to the most recent CC__SMR_READ_PHASE (sigsetjmp(env, 0)); locals
 * written since that point are indeterminate after the jump (C11 7.13.2.1),
 * so a read phase must re-derive everything from values fixed before it
 * (function arguments, the pre-allocated node, volatile locals).
 * Outside DEBRA+ the phase macros and protect are no-ops.
 *
 * begin/end nest: an operation made inside a user section (cc_smr_enter)
 * keeps what it read alive until cc_smr_leave, and is never restarted
 * (user sections are not restartable).
 *
 * IBR: traversals must never step from an unlinked node into memory that may
 * be freed: unlink marked nodes as they are met (Michael), or validate (SCOT).
 *
 * ------------------------------------------------------------------ functions
 * For each scheme S (static inline, in the scheme's header):
 *
 *   void      CC__SMR(S, begin)(cc__smr_thr_t *t);
 *   void      CC__SMR(S, end)(cc__smr_thr_t *t);
 *   uintptr_t CC__SMR(S, read)(cc__smr_thr_t *t, cc_atomic(uintptr_t) *src);
 *               acquire load, low bits returned as stored; the target (mark
 *               bits cleared) stays allocated until end.
 *   cc__smr_pair_t CC__SMR(S, read_pair)(cc__smr_thr_t *t, cc_atomic(uintptr_t) *a,
 *                                        cc_atomic(uintptr_t) *b);
 *               read of a and of b, in that order, as two reads would; IBR
 *               checks its epoch once for both.
 *   void     *CC__SMR(S, alloc)(cc__smr_thr_t *t, size_t size);
 *               size includes the header; CC_CACHE_LINE-aligned; header set
 *               (IBR birth epoch); NULL on failure (fault injection too).
 *   void     *CC__SMR(S, alloc_packed)(cc__smr_thr_t *t, size_t size);
 *               as alloc, but sized to the byte and only 8-aligned (cc__alloc_packed):
 *               for nodes much smaller than a line (smr_types.h, CC__SMR_PACKED).
 *   void      CC__SMR(S, dealloc)(cc__smr_thr_t *t, void *node);
 *               never published (or the structure is being destroyed): free now.
 *   void      CC__SMR(S, retire)(cc__smr_thr_t *t, void *node);
 *   void      CC__SMR(S, retire_fn)(cc__smr_thr_t *t, void *p,
 *                                   void (*fn)(void *p, void *ctx), void *ctx);
 *               any object (no birth epoch: IBR treats it conservatively).
 *   bool      CC__SMR(S, reserve)(cc__smr_thr_t *t, bool rec);
 *               before an operation that may retire does anything: makes its
 *               retirements (and one retire_fn when rec) need no allocation;
 *               false: no memory, return CC_ENOMEM with nothing changed.
 *               Without it a retirement allocates, and aborts on failure.
 *   void      CC__SMR(S, protect)(cc__smr_thr_t *t, unsigned slot, const void *node);
 *               slot < CC__SMR_SLOTS; DEBRA+ only, a no-op elsewhere.
 *   void      CC__SMR(S, write_phase)(cc__smr_thr_t *t);
 *   CC__SMR_READ_PHASE(S, t)    statement macro
 *
 * Domain side:
 *   cc__smr_thr_t *cc__smr_thr(cc_smr_t *d);   static inline, TLS fast path
 *   cc_smr_kind() gives the (resolved, never DEFAULT) kind at container creation.
 */
#ifndef CCOLL_SMR_INTERNAL_H
#define CCOLL_SMR_INTERNAL_H

#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "compiler.h"
#include "ccoll/smr.h"

#define CC__SMR_SLOTS 8

#define CC__SMR_CAT3(a, b, c) a##b##c
#define CC__SMR_XCAT3(a, b, c) CC__SMR_CAT3(a, b, c)
#define CC__SMR(S, op) CC__SMR_XCAT3(cc__smr_, S, _##op)

/* Dispatches the statement macro to CC__SMR_READ_PHASE_<S>(t). */
#define CC__SMR_CAT2(a, b) a##b
#define CC__SMR_XCAT2(a, b) CC__SMR_CAT2(a, b)
#define CC__SMR_READ_PHASE(S, t) CC__SMR_XCAT2(CC__SMR_READ_PHASE_, S)(t)

#include "smr_types.h"
#include "smr_reuse.h"
#include "smr_none.h"
#include "smr_debra.h"
#include "smr_debrap.h"
#include "smr_ibr.h"

#endif /* CCOLL_SMR_INTERNAL_H */
