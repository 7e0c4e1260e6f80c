/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_log — see cis2_log.h. Without an installed sink, lines go nowhere
 * (the core must never write to stderr inside httpd).
 */
#include <stdarg.h>
#include <apr_strings.h>

#include "cis2_log.h"

static cis2_log_fn *sink_fn;
static cis2_log_enabled_fn *sink_enabled;
static void *sink_baton;

void cis2_log_set_sink(cis2_log_fn *fn, cis2_log_enabled_fn *enabled,
                       void *baton)
{
    sink_fn = fn;
    sink_enabled = enabled;
    sink_baton = baton;
}

int cis2_log_enabled(cis2_log_level level)
{
    if (sink_fn == NULL) {
        return 0;
    }
    return sink_enabled == NULL || sink_enabled(sink_baton, level);
}

void cis2_log(const char *file, int line, cis2_log_level level,
              apr_status_t rv, apr_pool_t *p, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!cis2_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sink_fn(sink_baton, file, line, level, rv, p, buf);
}
