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
 * The status page's Accounts section: the table the background writer
 * last counted (MQLStateDir/accounts, mod_mql_accounts.c), the page's
 * site's accounts only unless it shows every site.  Its figures are a
 * table of mql_status_table.h (all ?auto has); the list of accounts
 * follows them on the page and in ?json.
 */
#include <string.h>

#include "apr_strings.h"
#include "http_protocol.h"

#include "mod_mql_accounts.h"
#include "mod_mql_status_int.h"
#include "mql_contact.h"
#include "mql_json.h"

typedef struct accounts_view {
    uint32_t counted;               /* when the writer counted them, 0 = never */
    uint32_t total;
    uint32_t qualified;
    uint32_t dropped;
    apr_array_header_t *list;       /* the scope's, mql_account_t */
} accounts_view_t;

#define A accounts_view_t
static const mql_stat_row_t account_rows[] = {
    { MQL_STAT_ROW("accounts", "MQLAccounts", "total", "Accounts", MQL_STAT_U32, A, total) },
    { MQL_STAT_ROW("accounts-qualified", "MQLAccountsQualified", "qualified",
                   "Marketing-qualified accounts", MQL_STAT_U32, A, qualified) },
    { MQL_STAT_ROW("accounts-dropped", "MQLAccountsDropped", "dropped",
                   "Accounts that did not fit", MQL_STAT_U32, A, dropped),
      .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW("accounts-counted", "MQLAccountsCounted", "counted", "Accounts counted",
                   MQL_STAT_U32, A, counted), .html = mql_stat_html_when },
    { 0 }
};
#undef A

static void gather(request_rec *r, int scope, accounts_view_t *v)
{
    const char *site = scope == MQL_SCOPE_ALL ? NULL : mql_status_site_name(scope);
    apr_array_header_t *all = mql_accounts_current(r->pool, &v->counted, &v->dropped);
    int i;

    v->list = apr_array_make(r->pool, 8, sizeof(mql_account_t));
    for (i = 0; all && i < all->nelts; i++) {
        const mql_account_t *a = &((const mql_account_t *)all->elts)[i];

        if (site && strcasecmp(a->site, site))
            continue;
        *(mql_account_t *)apr_array_push(v->list) = *a;
        v->total++;
        v->qualified += a->announced != 0;
    }
}

void mql_status_accounts_auto(request_rec *r, int scope, uint32_t now)
{
    accounts_view_t v;
    mql_stat_env_t env;

    /* figures only: ?auto is one number per key (the list is ?json's) */
    memset(&v, 0, sizeof v);
    gather(r, scope, &v);
    mql_status_env(r, &env, now);
    ap_rputs(mql_stat_auto(&env, account_rows, &v), r);
}

void mql_status_accounts_json(request_rec *r, int scope, uint32_t now)
{
    accounts_view_t v;
    mql_stat_env_t env;
    apr_pool_t *p = r->pool;
    int i;

    memset(&v, 0, sizeof v);
    gather(r, scope, &v);
    mql_status_env(r, &env, now);
    ap_rputs(",\n\"accounts\":{", r);
    ap_rputs(mql_stat_json(&env, account_rows, &v, 1), r);
    ap_rputs(",\"list\":[", r);
    for (i = 0; i < v.list->nelts; i++) {
        const mql_account_t *a = &((const mql_account_t *)v.list->elts)[i];

        ap_rprintf(r, "%s{\"site\":%s,\"domain\":%s,\"people\":%u,\"engaged\":%u,\"leads\":%u,"
                   "\"score\":%.0f,\"first_seen\":%u,\"last_seen\":%u,\"qualified\":%s,"
                   "\"qualified_at\":%s}", i ? ",\n" : "\n",
                   mql_json_str(p, a->site, MQL_JSON_HTML_SAFE),
                   mql_json_str(p, a->domain, MQL_JSON_HTML_SAFE), a->people, a->engaged,
                   a->leads, a->score, a->first_seen, a->last_seen,
                   a->announced ? "true" : "false",
                   a->announced ? apr_psprintf(p, "%u", a->announced) : "null");
    }
    ap_rputs("]}", r);
}

void mql_status_accounts_html(request_rec *r, int scope, uint32_t now)
{
    accounts_view_t v;
    mql_stat_env_t env;
    apr_pool_t *p = r->pool;
    int i;

    memset(&v, 0, sizeof v);
    gather(r, scope, &v);
    mql_status_env(r, &env, now);
    ap_rputs("<section id=\"accounts\"><h2>Accounts<small>people grouped by their e-mail "
             "domain, free mail excluded</small></h2>\n<table class=\"kv\">", r);
    ap_rputs(mql_stat_html(&env, account_rows, &v), r);
    ap_rputs("</table>\n", r);
    if (!v.list->nelts) {
        ap_rputs("<p class=\"muted\">No accounts yet: people appear here once their contact "
                 "is a company's e-mail address.</p></section>\n", r);
        return;
    }
    ap_rputs("<table><thead><tr><th>Domain</th><th>People</th><th>Engaged</th><th>Leads</th>"
             "<th>Score</th><th>First seen</th><th>Last activity</th><th>Qualified</th>"
             "</tr></thead><tbody>\n", r);
    for (i = 0; i < v.list->nelts; i++) {
        const mql_account_t *a = &((const mql_account_t *)v.list->elts)[i];

        ap_rprintf(r, "<tr class=\"account\"><td>%s%s%s</td><td>%u</td><td>%u</td><td>%u</td>"
                   "<td>%.0f</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                   ap_escape_html(p, a->domain),
                   scope == MQL_SCOPE_ALL && a->site[0] ? " <small class=\"muted\">" : "",
                   scope == MQL_SCOPE_ALL && a->site[0]
                       ? apr_pstrcat(p, ap_escape_html(p, a->site), "</small>", NULL) : "",
                   a->people, a->engaged, a->leads, a->score,
                   a->first_seen ? mql_stat_ago(p, (long)now - (long)a->first_seen) : "&ndash;",
                   a->last_seen ? mql_stat_ago(p, (long)now - (long)a->last_seen) : "&ndash;",
                   a->announced ? "yes" : "no");
    }
    ap_rputs("</tbody></table></section>\n", r);
}
