/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_stats — the operating counters of mod_cis2 shared by every process
 * of a server (logins, refusals by reason, logouts, back-channel logouts)
 * and the last sign-in error with its reference id, in a small block of
 * shared memory the glue gives it (mod_cis2_status.c keeps it across
 * restarts). Updates are lock-free (APR atomics), so counting never blocks
 * a request; the last error is published through a sequence number so a
 * reader never sees a half-written record. Nothing here is secret or about
 * a user: reasons are error-code names and references are random ids.
 */
#ifndef CIS2_STATS_H
#define CIS2_STATS_H

#include "cis2.h"

/** Event counters. Append new ones before CIS2_STAT__COUNT (the block
 *  reserves CIS2_STATS_MAX_COUNTERS slots, so a new counter keeps a
 *  retained block valid); never reorder. */
typedef enum cis2_stat_counter {
    CIS2_STAT_LOGINS_STARTED = 0,  /* redirects to CIS2 (pending logins made) */
    CIS2_STAT_LOGINS,              /* successful sign-ins (sessions made) */
    CIS2_STAT_REFUSALS,            /* failed sign-ins, all reasons */
    CIS2_STAT_LOGOUTS,             /* local / RP-initiated logouts */
    CIS2_STAT_BCL_RECEIVED,        /* back-channel logout tokens accepted */
    CIS2_STAT_BCL_REFUSED,         /* back-channel logout tokens refused */
    CIS2_STAT_BCL_SESSIONS_ENDED,  /* sessions ended by back-channel logout */
    CIS2_STAT_SCRIPT_401,          /* no-session requests answered 401 */
    CIS2_STAT__COUNT
} cis2_stat_counter;

#define CIS2_STATS_MAX_COUNTERS 32
#define CIS2_STATS_MAX_REASONS  64   /* refusals by cis2_err_code */
#define CIS2_STATS_REF_LEN      32   /* reference id, NUL included */
#define CIS2_STATS_LOGNO_LEN    16   /* "CIS2-nnnnn", NUL included */

typedef struct cis2_stats_t cis2_stats_t;

/** What the last recorded sign-in error was. `time` 0 = none yet. */
typedef struct cis2_stats_error_t {
    apr_time_t time;
    int code;                         /* cis2_err_code */
    char logno[CIS2_STATS_LOGNO_LEN]; /* the log line's number */
    char ref[CIS2_STATS_REF_LEN];     /* the reference shown to the user */
} cis2_stats_error_t;

/** A consistent-enough copy for the status page (each counter is read
 *  atomically; counters are not frozen against each other). */
typedef struct cis2_stats_snapshot_t {
    apr_time_t created;               /* when the block was formatted */
    apr_uint32_t generation;          /* configurations that used it */
    apr_uint64_t counters[CIS2_STAT__COUNT];
    apr_uint64_t refusals[CIS2_STATS_MAX_REASONS];
    cis2_stats_error_t last_error;
} cis2_stats_snapshot_t;

/** Bytes a stats block needs. */
apr_size_t cis2_stats_block_size(void);

/** Use the block [base, base+size) (size >= cis2_stats_block_size()).
 *  With `format`, it is zeroed and stamped `now`; otherwise an existing
 *  block is attached and checked (magic, layout version, size):
 *  CIS2_E_INVALID if it is not a block of this layout. The handle is
 *  allocated from p (per process); the block holds no pointer. */
apr_status_t cis2_stats_attach(cis2_stats_t **pst, void *base,
                               apr_size_t size, int format, apr_time_t now,
                               const cis2_err_t **perr, apr_pool_t *p);

/** Count one more configuration generation (graceful restart). */
void cis2_stats_new_generation(cis2_stats_t *st);

/** Add n to a counter. NULL st or an unknown counter: nothing. */
void cis2_stats_add(cis2_stats_t *st, cis2_stat_counter c, apr_uint64_t n);

/** A refused sign-in: counts CIS2_STAT_REFUSALS and the reason `code`
 *  (a cis2_err_code; out of range counts as CIS2_E_NONE), and makes it
 *  the last error with its log number and reference (both truncated to
 *  fit; either may be NULL). */
void cis2_stats_refused(cis2_stats_t *st, int code, const char *logno,
                        const char *ref, apr_time_t now);

/** Copy the counters and the last error out. */
void cis2_stats_snapshot(cis2_stats_t *st, cis2_stats_snapshot_t *snap);

#endif /* CIS2_STATS_H */
