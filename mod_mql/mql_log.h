/*
 * Logging from the core through a callback, so the core needs no httpd.
 * The glue installs one that calls ap_log_error; tests point it at stderr.
 * Every warning and error carries its own tag, "MQL00001: ...", never
 * reused, so tests and admins can grep for it.
 */
#ifndef MQL_LOG_H
#define MQL_LOG_H

#include <stdarg.h>

/* Same numbers as syslog / APLOG_* so the glue passes them straight on. */
#define MQL_LOG_ERR     3
#define MQL_LOG_WARNING 4
#define MQL_LOG_NOTICE  5
#define MQL_LOG_INFO    6
#define MQL_LOG_DEBUG   7

typedef void mql_log_fn(void *baton, int level, const char *msg);

void mql_log_set(mql_log_fn *fn, void *baton, int max_level);
void mql_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mql_log_enabled(int level);

#endif
