/*
 * Copyright 2026 mod_mql maintainers
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

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
