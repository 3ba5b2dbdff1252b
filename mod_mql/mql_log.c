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

#include <stdio.h>
#include "mql_log.h"

static mql_log_fn *log_fn;
static void *log_baton;
static int log_max = MQL_LOG_WARNING;

void mql_log_set(mql_log_fn *fn, void *baton, int max_level)
{
    log_fn = fn;
    log_baton = baton;
    log_max = max_level;
}

int mql_log_enabled(int level)
{
    return log_fn && level <= log_max;
}

void mql_log(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!mql_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(log_baton, level, buf);
}
