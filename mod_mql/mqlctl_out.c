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

#include <string.h>
#include <time.h>
#include "apr_strings.h"
#include "mqlctl_out.h"

const char *mqlctl_iso_time(apr_pool_t *p, uint32_t t, const char *none)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];

    if (!t && none)
        return none;
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return apr_pstrdup(p, buf);
}

const char *mqlctl_csv(apr_pool_t *p, const char *s, int defuse)
{
    const char *q;
    char *out, *o;

    if (!s)
        return "";
    if (defuse && s[0] && strchr("=+-@\t\r", s[0]))
        s = apr_pstrcat(p, "'", s, NULL);
    if (!strpbrk(s, ",\"\r\n"))
        return s;
    out = o = apr_palloc(p, strlen(s) * 2 + 3);
    *o++ = '"';
    for (q = s; *q; q++) {
        if (*q == '"')
            *o++ = '"';
        *o++ = *q;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}
