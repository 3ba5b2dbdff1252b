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
 * mqlctl accounts [--site NAME] [--format text|csv|json]: the companies
 * behind the people (mqlctl_accounts.h).  The server counts them; this
 * reads what it wrote, so it needs no lock and shows the figures of the
 * writer's last count (the header says when).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "mqlctl_accounts.h"
#include "mqlctl_out.h"
#include "mql_contact.h"
#include "mql_json.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* A CSV field: quoted when it holds a separator, a quote or a line
 * break, and never read as a formula by a spreadsheet. */
static const char *csv(apr_pool_t *p, const char *s)
{
    const char *q;
    char *out, *o;

    if (!strpbrk(s, ",\"\r\n") && !strchr("=+-@", s[0] ? s[0] : 'x'))
        return s;
    out = o = apr_palloc(p, strlen(s) * 2 + 4);
    *o++ = '"';
    if (strchr("=+-@", s[0]) && s[0])
        *o++ = '\'';
    for (q = s; *q; q++) {
        if (*q == '"')
            *o++ = '"';
        *o++ = *q;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

int mqlctl_accounts(apr_pool_t *p, const char *state_dir, const char *site,
                    const char *format)
{
    const char *path = apr_pstrcat(p, state_dir, "/" MQL_ACCOUNTS_NAME, NULL), *text;
    apr_array_header_t *all;
    uint32_t made, dropped;
    apr_status_t rv;
    char err[128];
    int i, bad, n = 0;

    if (!format)
        format = "text";
    if (strcmp(format, "text") && strcmp(format, "csv") && strcmp(format, "json")) {
        fprintf(stderr, "mqlctl: accounts --format expects text, csv or json, got '%s'\n",
                mql_text_safe(p, format));
        return EXIT_USAGE;
    }
    rv = mql_accounts_read(p, path, &text);
    if (rv == APR_ENOENT) {
        fprintf(stderr, "mqlctl: no accounts in %s yet: a running server counts them every "
                "few seconds (is --state-dir its MQLStateDir?)\n", mql_text_safe(p, path));
        return EXIT_FAIL;
    }
    if (rv == APR_EGENERAL) {
        fprintf(stderr, "mqlctl: %s is not a regular file of at most %d bytes; not read\n",
                mql_text_safe(p, path), MQL_ACCOUNTS_FILE_MAX);
        return EXIT_FAIL;
    }
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "mqlctl: cannot read %s: %s\n", mql_text_safe(p, path),
                apr_strerror(rv, err, sizeof err));
        return EXIT_FAIL;
    }
    all = mql_accounts_parse(p, text, &made, &dropped, &bad);
    if (bad)
        fprintf(stderr, "mqlctl: warning: %d malformed line%s in %s skipped\n", bad,
                bad == 1 ? "" : "s", mql_text_safe(p, path));

    if (!strcmp(format, "csv"))
        printf("site,domain,people,engaged,leads,score,first_seen,last_seen,qualified_at\r\n");
    else if (!strcmp(format, "json"))
        printf("{\"counted\":%u,\"dropped\":%u,\"accounts\":[", made, dropped);
    else
        printf("%-32s %6s %7s %5s %7s  %-20s  %-20s  %s\n", "ACCOUNT", "PEOPLE", "ENGAGED",
               "LEADS", "SCORE", "FIRST SEEN", "LAST ACTIVITY", "QUALIFIED");
    for (i = 0; i < all->nelts; i++) {
        const mql_account_t *a = &((const mql_account_t *)all->elts)[i];

        if (site && strcasecmp(site, a->site))
            continue;
        if (!strcmp(format, "csv"))
            printf("%s,%s,%u,%u,%u,%.0f,%s,%s,%s\r\n", csv(p, a->site), csv(p, a->domain),
                   a->people, a->engaged, a->leads, a->score, mqlctl_iso_time(p, a->first_seen, ""),
                   mqlctl_iso_time(p, a->last_seen, ""), mqlctl_iso_time(p, a->announced, ""));
        else if (!strcmp(format, "json"))
            printf("%s\n{\"site\":%s,\"domain\":%s,\"people\":%u,\"engaged\":%u,\"leads\":%u,"
                   "\"score\":%.0f,\"first_seen\":%u,\"last_seen\":%u,\"qualified\":%s,"
                   "\"qualified_at\":%s}", n ? "," : "", mql_json_str(p, a->site, 0),
                   mql_json_str(p, a->domain, 0), a->people, a->engaged, a->leads, a->score,
                   a->first_seen, a->last_seen, a->announced ? "true" : "false",
                   a->announced ? apr_psprintf(p, "%u", a->announced) : "null");
        else
            printf("%-32s %6u %7u %5u %7.0f  %-20s  %-20s  %s\n", mql_text_safe(p, a->domain),
                   a->people, a->engaged, a->leads, a->score, mqlctl_iso_time(p, a->first_seen, ""),
                   mqlctl_iso_time(p, a->last_seen, ""),
                   a->announced ? mqlctl_iso_time(p, a->announced, "") : "no");
        n++;
    }
    if (!strcmp(format, "json"))
        printf("]}\n");
    else if (!strcmp(format, "text")) {
        if (!n)
            printf("(no accounts)\n");
        printf("counted %s%s\n", made ? mqlctl_iso_time(p, made, "") : "never",
               dropped ? apr_psprintf(p, "; %u accounts did not fit the table", dropped) : "");
    }
    return 0;
}
