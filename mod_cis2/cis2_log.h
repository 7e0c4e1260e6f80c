/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_log — the core's log sink. The core never calls httpd: it calls
 * cis2_log(), and the glue (mod_cis2.c) installs a callback that forwards to
 * ap_log_perror with the module's index, so `LogLevel cis2:trace3` works.
 * Core lines carry no CIS2-nnnnn number; the glue's summary line does.
 * Unit tests install their own sink to capture lines.
 */
#ifndef CIS2_LOG_H
#define CIS2_LOG_H

#include "cis2.h"

typedef enum cis2_log_level {
    CIS2_LOG_EMERG = 0, CIS2_LOG_ALERT, CIS2_LOG_CRIT, CIS2_LOG_ERR,
    CIS2_LOG_WARNING, CIS2_LOG_NOTICE, CIS2_LOG_INFO, CIS2_LOG_DEBUG,
    CIS2_LOG_TRACE1, CIS2_LOG_TRACE2, CIS2_LOG_TRACE3, CIS2_LOG_TRACE4,
    CIS2_LOG_TRACE5, CIS2_LOG_TRACE6, CIS2_LOG_TRACE7, CIS2_LOG_TRACE8
} cis2_log_level;

/** Receives one formatted line. `p` is the caller's pool (may be NULL). */
typedef void cis2_log_fn(void *baton, const char *file, int line,
                         cis2_log_level level, apr_status_t rv,
                         apr_pool_t *p, const char *msg);
/** Tells whether a level would be written (so callers skip costly formatting). */
typedef int cis2_log_enabled_fn(void *baton, cis2_log_level level);

/** Install the sink (once, at startup; not thread-safe against logging). */
void cis2_log_set_sink(cis2_log_fn *fn, cis2_log_enabled_fn *enabled,
                       void *baton);

int cis2_log_enabled(cis2_log_level level);

#define CIS2_LOG_MARK __FILE__, __LINE__

/** Log a line; formats only when the level is enabled. Never pass secrets. */
void cis2_log(const char *file, int line, cis2_log_level level,
              apr_status_t rv, apr_pool_t *p, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif /* CIS2_LOG_H */
