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
 * Knock-outs' pure parts (mql_knockout.h): domains, as configured and as
 * a contact gives them.
 */
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mql_knockout.h"

const char *mql_domain_parse(apr_pool_t *p, const char *s, const char **out)
{
    static const char expects[] = "expects domains such as competitor.example (letters, "
                                  "digits, hyphens and dots, two labels at least)";
    size_t n = s ? strlen(s) : 0, label = 0, i;
    int labels = 1;
    char *low;

    if (n && s[n - 1] == '.')
        n--;
    if (!n || n > MQL_DOMAIN_MAX)
        return expects;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (!label || s[i - 1] == '-')
                return expects;
            labels++;
            label = 0;
            continue;
        }
        if (!apr_isalnum(s[i]) && (s[i] != '-' || !label))
            return expects;
        if (++label > 63)
            return expects;
    }
    if (!label || s[n - 1] == '-' || labels < 2)
        return expects;
    if (out) {
        low = apr_pstrmemdup(p, s, n);
        for (i = 0; i < n; i++)
            low[i] = (char)apr_tolower(low[i]);
        *out = low;
    }
    return NULL;
}

int mql_knockout_domain(const char *contact, char *buf)
{
    const char *at = contact ? strrchr(contact, '@') : NULL;
    size_t n = 0;

    if (!at)
        return 0;
    for (at++; *at && *at != '>' && !apr_isspace(*at); at++) {
        if (n == MQL_DOMAIN_MAX)
            return 0;           /* no domain is that long: no match either */
        buf[n++] = (char)apr_tolower(*at);
    }
    while (n && buf[n - 1] == '.')
        n--;
    buf[n] = '\0';
    return n > 0;
}

int mql_domain_listed(const char *domain, const char *const *domains, int n)
{
    size_t len = strlen(domain);
    int i;

    for (i = 0; i < n; i++) {
        size_t dl = strlen(domains[i]);

        if (len == dl ? !strcmp(domain, domains[i])
                      : len > dl && domain[len - dl - 1] == '.'
                        && !strcmp(domain + len - dl, domains[i]))
            return i;
    }
    return -1;
}

const char *mql_knockout_reason(apr_pool_t *p, const char *kind, const char *what)
{
    return apr_psprintf(p, MQL_KNOCKOUT_REASON " (%s %s)", kind, what);
}
