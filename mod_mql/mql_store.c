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
 * The part of the store providers (mql_store.h) that needs no httpd: the
 * name MQLStore's argument picks, and the list its error gives.
 */
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "mql_store.h"

const char *mql_store_name_of(const char *arg, char *buf, apr_size_t len)
{
    apr_size_t n = 0;

    for (; arg[n] && apr_isalnum(arg[n]); n++) {
        if (n + 1 >= len)
            return NULL;
        buf[n] = (char)apr_tolower(arg[n]);
    }
    if (!n)
        return NULL;
    buf[n] = '\0';
    return buf;
}

/* The default store sorts first: it is what most servers use. */
static int before(const char *a, const char *b)
{
    if (!strcmp(a, MQL_STORE_DEFAULT) || !strcmp(b, MQL_STORE_DEFAULT))
        return !strcmp(a, MQL_STORE_DEFAULT) && strcmp(b, MQL_STORE_DEFAULT);
    return strcmp(a, b) < 0;
}

const char *mql_store_usages(apr_pool_t *p, const char *const *names,
                             const mql_store_provider_t *const *providers, int n)
{
    int *order = apr_palloc(p, sizeof *order * (apr_size_t)(n ? n : 1));
    const char *out = "";
    int i, j, k;

    for (i = 0; i < n; i++) {
        for (j = i; j > 0 && before(names[i], names[order[j - 1]]); j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (i = 0; i < n; i++) {
        /* a provider registered under several names is listed once */
        for (k = 0; k < i && providers[order[k]] != providers[order[i]]; k++)
            ;
        if (k == i)
            out = *out ? apr_pstrcat(p, out, ", ", providers[order[i]]->usage, NULL)
                       : providers[order[i]]->usage;
    }
    return out;
}
