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
 * Contacts from httpd's own authentication and the accounts behind
 * people (the decisions are the core's: mql_contact.c).
 *
 * MQLContactFrom is read in the fixups (mod_mql_request.c), when
 * authentication has run and the visitor is known; a request without a
 * user or the variable costs a pointer test and a table lookup.  The
 * accounts are counted by the background writer every ACCOUNTS_EVERY
 * seconds from the visitors that carry a contact (the store's walk,
 * which copies them out chunk by chunk): never in the request path.  The
 * table goes to MQLStateDir/accounts (when it changed, or once a minute), which the status page and mqlctl
 * read and the next round (in whichever process) takes the announced
 * marks from, so an account is announced once across restarts.  The
 * file is the server's user's, like everything in MQLStateDir: root never
 * reads it (mqlctl becomes the directory's owner first).
 */
#include <math.h>
#include <string.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_request.h"

#include "mod_mql_accounts.h"
#include "mod_mql_jobs.h"
#include "mod_mql_notify.h"
#include "mod_mql_runtime.h"
#include "mod_mql_webhook.h"
#include "mql_contact.h"

APLOG_USE_MODULE(mql);

#define ACCOUNTS_EVERY 2            /* seconds between counts, at least */
#define ACCOUNTS_SHARE 50           /* ... and 50 times what the last one took (2%) */
#define ACCOUNTS_FRESH 60           /* an unchanged table is rewritten this often */

/* ---------------------------------------------------------- directives */

static const char *bad(cmd_parms *cmd, const char *expects, const char *got)
{
    return apr_psprintf(cmd->pool, "%s: %s; got '%s'", cmd->cmd->name, expects, got);
}

const char *mql_set_contact_from(cmd_parms *cmd, void *dconf, const char *arg)
{
    mql_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &mql_module);
    mql_contact_src_t src = { 0, NULL };

    if (!strcasecmp(arg, "remote-user"))
        src.kind = MQL_CONTACT_FROM_USER;
    else if (!strncasecmp(arg, "env=", 4) && arg[4] && !ap_strchr_c(arg + 4, '=')) {
        src.kind = MQL_CONTACT_FROM_ENV;
        src.name = arg + 4;
    }
    else
        return bad(cmd, "expects remote-user or env=NAME (an environment variable or note "
                   "such as OIDC_CLAIM_email)", arg);
    if (!sc->contact_from)
        sc->contact_from = apr_array_make(cmd->pool, 2, sizeof(mql_contact_src_t));
    *(mql_contact_src_t *)apr_array_push(sc->contact_from) = src;
    return NULL;
}

const char *mql_set_freemail(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err)
        return err;
    if (!mql_freemail_valid(arg))
        return bad(cmd, "expects e-mail domains such as example.net, or NAME.* for NAME "
                   "under any suffix", arg);
    if (!mql_g->freemail)
        mql_g->freemail = apr_array_make(cmd->pool, 4, sizeof(const char *));
    *(const char **)apr_array_push(mql_g->freemail) = apr_pstrdup(cmd->pool, arg);
    ap_str_tolower(((char **)mql_g->freemail->elts)[mql_g->freemail->nelts - 1]);
    return NULL;
}

const char *mql_set_account_threshold(cmd_parms *cmd, void *dconf, const char *people,
                                      const char *score)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int64_t n, m;

    if (err)
        return err;
    if (mql_parse_int(cmd->pool, people, 1, 100000, &n))
        return bad(cmd, "expects PEOPLE SCORE, PEOPLE a number of people from 1 to 100000",
                   people);
    if (mql_parse_int(cmd->pool, score, 0, 1000000000, &m))
        return bad(cmd, "expects PEOPLE SCORE, SCORE the points their scores add up to, "
                   "from 0 to 1000000000", score);
    mql_g->account_people = (uint32_t)n;
    mql_g->account_score = (double)m;
    return NULL;
}

/* ---------------------------------------------------------- the request */

const char *mql_contact_normalised(request_rec *r, const char *value)
{
    char buf[MQL_CONTACT_LEN];

    return mql_contact_normalise(value, buf, sizeof buf) ? apr_pstrdup(r->pool, buf) : NULL;
}

const char *mql_contact_from_request(request_rec *r, const apr_array_header_t *sources)
{
    const mql_contact_src_t *src = (const mql_contact_src_t *)sources->elts;
    int i;

    for (i = 0; i < sources->nelts; i++) {
        const char *value, *c;

        if (src[i].kind == MQL_CONTACT_FROM_USER) {
            /* a login name is no contact: only an address is taken */
            if (r->user && *r->user && (c = mql_contact_normalised(r, r->user))
                && mql_contact_is_email(c))
                return c;
            continue;
        }
        value = apr_table_get(r->subprocess_env, src[i].name);
        if (!value || !*value)
            value = apr_table_get(r->notes, src[i].name);
        if (value && *value && (c = mql_contact_normalised(r, value)))
            return c;
    }
    return NULL;
}

/* ---------------------------------------------------------- the writer */

typedef struct count {
    mql_accounts_t *acc;
    const char *const *site_names;
    int nsites;
    uint32_t now;
} count_t;

static int count_one(const mql_visitor_t *v, const char *contact, void *baton)
{
    count_t *c = baton;

    if (contact && *contact)
        mql_accounts_add(c->acc, mql_g->freemail,
                         v->site < c->nsites ? c->site_names[v->site] : "", contact, v,
                         mql_current_score(v, c->now, (uint32_t)mql_g->half_life));
    return 0;
}

apr_array_header_t *mql_accounts_current(apr_pool_t *p, uint32_t *made, uint32_t *dropped)
{
    const char *text;
    int bad_lines;

    *made = *dropped = 0;
    if (mql_accounts_read(p, mql_state_path(p, MQL_ACCOUNTS_NAME), &text) != APR_SUCCESS)
        return NULL;
    return mql_accounts_parse(p, text, made, dropped, &bad_lines);
}

static void announce(server_rec *s, apr_pool_t *p, apr_array_header_t *fresh, int notify)
{
    int i;

    for (i = 0; i < fresh->nelts; i++) {
        mql_account_t *a = &((mql_account_t *)fresh->elts)[i];

        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "MQL09301: account %s%s%s is marketing-qualified: %u engaged people, "
                     "score %.0f, %u leads", a->domain, a->site[0] ? " of " : "", a->site,
                     a->engaged, a->score, a->leads);
        if (notify && !mql_notify_write(apr_pstrcat(p, mql_account_json(p, a, a->announced),
                                                    "\n", NULL)))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "MQL09302: MQLNotify program is not reading: the notification of "
                         "account %s dropped", a->domain);
        if (mql_g->webhooks) {
            /* the same object to MQLWebhook; announced once, so its key
             * is the account and the time it qualified */
            mql_notification_t ev = { 0 };

            ev.type = ev.event = "account";
            ev.key = apr_psprintf(p, "account:%s:%s:%u", a->site, a->domain, a->announced);
            ev.lead = apr_pstrcat(p, "account:", a->domain, NULL);
            ev.json = mql_account_json(p, a, a->announced);
            ev.contact = a->domain;
            ev.stage = "qualified";
            ev.score = lround(a->score);
            ev.detail = apr_psprintf(p, "%u engaged people, %u leads", a->engaged, a->leads);
            mql_webhook_enqueue(s, &ev);
        }
    }
}

void mql_accounts_round(server_rec *s, apr_pool_t *pool, uint32_t now, int final)
{
    static uint32_t next;
    apr_time_t started = apr_time_now();
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;
    apr_array_header_t *prev, *table, *fresh = NULL;
    uint32_t made, dropped_before, dropped = 0;
    const char *text;
    apr_status_t rv;
    apr_pool_t *p;
    count_t c;
    int i;

    if (final || (next && now < next && next - now <= 3600))
        return;
    apr_pool_create(&p, pool);
    c.acc = mql_accounts_make(p);
    c.nsites = mql_g->sites->nelts;
    c.site_names = apr_palloc(p, sizeof(char *) * (apr_size_t)(c.nsites + 1));
    for (i = 0; i < c.nsites; i++)
        ((const char **)c.site_names)[i] = mql_site_name(&sites[i]);
    c.now = now;
    mql_visitors_walk(mql_g->store, MQL_WALK_CONTACTS, count_one, &c);
    prev = mql_accounts_current(p, &made, &dropped_before);
    table = mql_accounts_finish(c.acc, prev, mql_g->account_people, mql_g->account_score,
                                MQL_ACCOUNTS_MAX, now, &fresh, &dropped, p);
    if (dropped && !dropped_before)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "MQL09303: %u accounts do not fit the table of %d: the ones with "
                     "leads, announced and with the highest scores are kept", dropped,
                     MQL_ACCOUNTS_MAX);
    /* a count of a full contact area of a large table takes a while (15 ms
     * for 100 000 visitors, 3 125 contacts): it never takes more than a
     * small share of the writer */
    next = now + ACCOUNTS_EVERY
           + (uint32_t)apr_time_sec((apr_time_now() - started) * ACCOUNTS_SHARE);
    /* an unchanged table is not written again every round (a thousand
     * accounts are some 80 KB), only often enough to say it is current */
    text = mql_accounts_format(p, table, now, dropped);
    if (!fresh->nelts && prev && now - made < ACCOUNTS_FRESH && dropped == dropped_before
        && !strcmp(strchr(text, '\n'), strchr(mql_accounts_format(p, prev, made,
                                                                   dropped_before), '\n'))) {
        apr_pool_destroy(p);
        return;
    }
    /* written before it is announced: a crash in between loses a line,
     * never sends one twice */
    rv = mql_accounts_write(p, mql_state_path(p, MQL_ACCOUNTS_NAME), text);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "MQL09304: cannot write %s: accounts are not announced until it can be",
                     mql_state_path(p, MQL_ACCOUNTS_NAME));
    else if (fresh->nelts)
        announce(s, p, fresh, mql_notify_ready(s));
    apr_pool_destroy(p);
}
