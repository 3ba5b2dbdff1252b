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
 * The request path: recognise the visitor early, export what we know to
 * the environment, learn who a signed-in visitor is once authentication
 * has run (MQLContactFrom, in the fixups), take the application's signals
 * off the response, and score the request once it is logged.  Nothing
 * here touches the disk; the only wait is the table's mutex, held for a
 * hash lookup and a few additions.
 */
#include <math.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "mod_mql_private.h"
#include "mod_mql_accounts.h"
#include "mod_mql_flood.h"
#include "mod_mql_geoip.h"
#include "mod_mql_journal.h"
#include "mod_mql_knockout.h"
#include "mod_mql_request.h"
#include "mod_mql_touch.h"
#include "mod_mql_returns.h"
#include "mql_bots.h"
#include "mql_cookie.h"
#include "mql_log.h"

APLOG_USE_MODULE(mql);

#define APP_FILTER "MQL_APP_SIGNALS"
#define LATE_FILTER "MQL_LATE"
#define NOTE_VISITOR "mql_visitor"

/* The state belongs to the request the client sent, whatever internal
 * redirects and subrequests came of it. */
mql_req_t *mql_req_state(request_rec *r)
{
    while (r->main)
        r = r->main;
    while (r->prev)
        r = r->prev;
    return ap_get_module_config(r->request_config, &mql_module);
}

static mql_srv_conf_t *srv_conf(request_rec *r)
{
    return ap_get_module_config(r->server->module_config, &mql_module);
}

/*
 * The request headers the early hook reads, found in one pass over the
 * table rather than one apr_table_get each; like apr_table_get, the
 * first header of a name counts.
 */
typedef struct early_headers {
    const char *cookie, *user_agent, *dnt, *sec_gpc, *purpose, *sec_purpose;
} early_headers_t;

static void take(const char **slot, const char *key, const char *name, const char *val)
{
    if (!*slot && !strcasecmp(key, name))
        *slot = val;
}

static void read_early_headers(const request_rec *r, early_headers_t *h)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    memset(h, 0, sizeof *h);
    for (i = 0; i < arr->nelts; i++) {
        const char *k = e[i].key, *v = e[i].val;

        if (!k)
            continue;
        /* bit 0x20 lowers a letter (and strcasecmp confirms): the locale's
         * table lookup, once per header, cost more than the rest */
        switch (k[0] | 0x20) {
        case 'c': take(&h->cookie, k, "Cookie", v); break;
        case 'u': take(&h->user_agent, k, "User-Agent", v); break;
        case 'd': take(&h->dnt, k, "DNT", v); break;
        case 'p': take(&h->purpose, k, "Purpose", v); break;
        case 's':
            take(&h->sec_gpc, k, "Sec-GPC", v);
            take(&h->sec_purpose, k, "Sec-Purpose", v);
            break;
        }
    }
}

/* value, possibly after whitespace, alone or followed by whitespace */
static int header_is(const char *v, const char *value)
{
    size_t n = strlen(value);

    if (!v)
        return 0;
    while (apr_isspace(*v))
        v++;
    return strncmp(v, value, n) == 0 && (v[n] == '\0' || apr_isspace(v[n]));
}

static int has_consent(const mql_consent_t *c, const mql_cookie_found_t *first)
{
    const char *val = first->val, *at = first->rest;
    size_t len = first->vlen;

    if (!val)
        return 0;
    do {
        if (!c->value_re || ap_regexec_len(c->value_re, val, len, 0, NULL, 0) == 0)
            return 1;
    } while ((at = mql_cookie_next(at, c->name, &val, &len)));
    return 0;
}

static int excluded_address(request_rec *r, const mql_srv_conf_t *sc)
{
    const mql_cidr_t *nets = (const mql_cidr_t *)sc->exclude_ip->elts;
    int i;

    for (i = 0; i < sc->exclude_ip->nelts; i++)
        if (mql_cidr_match(&nets[i], r->useragent_addr))
            return 1;
    return 0;
}

static int excluded_agent(const mql_srv_conf_t *sc, const char *ua)
{
    ap_regex_t *const *res = (ap_regex_t *const *)sc->exclude_ua->elts;
    int i;

    if (sc->bot_filter && mql_is_bot(ua))
        return 1;
    for (i = 0; ua && i < sc->exclude_ua->nelts; i++)
        if (ap_regexec(res[i], ua, 0, NULL, 0) == 0)
            return 1;
    return 0;
}

/* What the Cookie header says, for one server's cookie names. */
typedef struct cookie_verdict {
    int known;                  /* a visitor cookie with our signature */
    int optout;
    int consent;                /* given, or not asked for */
    mql_visitor_ref_t ref;      /* the visitor, when known */
    char id_text[MQL_ID_TEXT_LEN + 1];
} cookie_verdict_t;

/*
 * What a connection's earlier requests taught us.  A browser sends one
 * User-Agent, and until a cookie changes one Cookie header, on every
 * request of a keep-alive connection: each is judged once, and the next
 * requests pay a string compare instead of the scan, the cookie walk, the
 * decoding and the signature.  Verdicts hold for the configuration of
 * the server that judged them.
 */
typedef struct conn_memory {
    const mql_srv_conf_t *ua_sc;
    char *ua;                   /* in the connection's pool */
    size_t ua_size;
    int ua_excluded;
    const mql_srv_conf_t *cookie_sc;
    char *cookie;
    size_t cookie_size;
    cookie_verdict_t cookies;
    /* the last score exported, and what it was computed from: a page's
     * files follow it within the second, from an unchanged record */
    int score_known;
    double score_raw;
    uint32_t score_seen, score_now;
    long score;
} conn_memory_t;

static conn_memory_t *conn_memory(conn_rec *c)
{
    conn_memory_t *m = ap_get_module_config(c->conn_config, &mql_module);

    if (!m) {
        m = apr_pcalloc(c->pool, sizeof *m);
        ap_set_module_config(c->conn_config, &mql_module, m);
    }
    return m;
}

/* Keep a copy of s in *buf, in the connection's pool.  The buffer at
 * least doubles when it grows, so that a client sending ever longer
 * headers on one connection costs it a few buffers, not one each. */
static void remember(conn_rec *c, char **buf, size_t *size, const char *s)
{
    size_t len = strlen(s) + 1;

    if (len > *size) {
        size_t grown = *size ? 2 * *size : 256;

        *size = grown < len ? len : grown;
        *buf = apr_palloc(c->pool, *size);
    }
    memcpy(*buf, s, len);
}

static int excluded_agent_on(request_rec *r, const mql_srv_conf_t *sc, const char *ua)
{
    conn_memory_t *m;

    if (!ua)
        return excluded_agent(sc, ua);
    m = conn_memory(r->connection);
    if (m->ua_sc == sc && !strcmp(m->ua, ua))
        return m->ua_excluded;
    remember(r->connection, &m->ua, &m->ua_size, ua);
    m->ua_sc = sc;
    m->ua_excluded = excluded_agent(sc, ua);
    return m->ua_excluded;
}

static int is_prefetch(const early_headers_t *h)
{
    const char *p = h->sec_purpose ? h->sec_purpose : h->purpose;

    return p && (ap_strcasestr(p, "prefetch") || ap_strcasestr(p, "prerender"));
}

/* Why this request is not tracked, or NULL.  Cheapest checks first. */
static const char *exclusion(request_rec *r, const mql_srv_conf_t *sc, const early_headers_t *h,
                             const cookie_verdict_t *cv)
{
    if (r->header_only)
        return "HEAD";
    if (is_prefetch(h))
        return "prefetch";
    if (sc->respect_dnt && (header_is(h->dnt, "1") || header_is(h->sec_gpc, "1")))
        return "do-not-track";
    if (cv->optout)
        return "opt-out";
    if (!cv->consent)
        return "no-consent";
    if (excluded_agent_on(r, sc, h->user_agent))
        return "user-agent";
    if (sc->exclude_ip->nelts && excluded_address(r, sc))
        return "address";
    return NULL;
}

/* The first cookie of ours with a valid signature; its value starts with
 * the ID's text (decoding is strict, so that is the canonical spelling). */
static int find_visitor(const mql_srv_conf_t *sc, const mql_cookie_found_t *first,
                        cookie_verdict_t *cv)
{
    const char *val = first->val, *at = first->rest;
    mql_cookie_claim_t claim;
    size_t len = first->vlen;

    if (!val)
        return 0;
    do {
        if (!mql_cookie_parse(val, len, &claim))
            continue;
        /* the bucket is on its way from memory while the tag is checked */
        mql_visitors_ref(mql_g->store, claim.id, &cv->ref);
        if (mql_cookie_check(mql_g->key, &claim)) {
            memcpy(cv->id_text, val, MQL_ID_TEXT_LEN);
            cv->id_text[MQL_ID_TEXT_LEN] = '\0';
            return 1;
        }
    } while ((at = mql_cookie_next(at, sc->cookie_name, &val, &len)));
    return 0;
}

/* Our cookies in one walk of the header (which may be NULL). */
static void judge_cookies(const mql_srv_conf_t *sc, const char *header, cookie_verdict_t *cv)
{
    enum { VISITOR, OPTOUT, CONSENT, NAMES };
    const char *names[NAMES];
    mql_cookie_found_t found[NAMES];

    names[VISITOR] = sc->cookie_name;
    names[OPTOUT] = sc->optout_cookie;
    names[CONSENT] = sc->consent ? sc->consent->name : NULL;
    mql_cookie_find(header, names, NAMES, found);
    cv->known = find_visitor(sc, &found[VISITOR], cv);
    cv->optout = found[OPTOUT].val != NULL;
    cv->consent = !sc->consent || has_consent(sc->consent, &found[CONSENT]);
}

/* The verdict on this request's Cookie header: the connection's last one
 * when the header is the same, else judged now (and remembered). */
static const cookie_verdict_t *cookies_on(request_rec *r, const mql_srv_conf_t *sc,
                                          const char *header, cookie_verdict_t *scratch,
                                          int *remembered)
{
    conn_memory_t *m;

    *remembered = 0;
    if (!header) {
        judge_cookies(sc, header, scratch);
        return scratch;
    }
    m = conn_memory(r->connection);
    if (m->cookie_sc == sc && !strcmp(m->cookie, header)) {
        *remembered = 1;
        return &m->cookies;
    }
    /* judged first, remembered after: a verdict never pairs with another
     * header than its own */
    m->cookie_sc = NULL;
    judge_cookies(sc, header, &m->cookies);
    remember(r->connection, &m->cookie, &m->cookie_size, header);
    m->cookie_sc = sc;
    return &m->cookies;
}

static const char *make_cookie(request_rec *r, const mql_srv_conf_t *sc, const uint8_t id[16])
{
    char value[MQL_COOKIE_VALUE_LEN + 1];
    int secure = sc->cookie_secure == 2 ? !strcmp(ap_http_scheme(r), "https")
                                         : sc->cookie_secure;

    mql_cookie_sign(mql_g->key, id, value);
    return apr_pstrcat(r->pool, sc->cookie_name, "=", value, "; Path=/; Max-Age=",
                       apr_ltoa(r->pool, (long)sc->cookie_max_age),
                       sc->cookie_domain ? "; Domain=" : "",
                       sc->cookie_domain ? sc->cookie_domain : "",
                       *sc->cookie_samesite ? "; SameSite=" : "", sc->cookie_samesite,
                       sc->cookie_httponly ? "; HttpOnly" : "",
                       secure || !strcmp(sc->cookie_samesite, "None") ? "; Secure" : "",
                       NULL);
}

/* Right after the request is read, the environment holds nothing of
 * ours and add is enough; after an internal redirect, set replaces. */
static void set_env(request_rec *r, const mql_req_t *rq, int fresh)
{
    void (*put)(apr_table_t *, const char *, const char *) = fresh ? apr_table_addn
                                                                   : apr_table_setn;
    apr_table_t *env = r->subprocess_env;

    put(env, "MQL_VISITOR", rq->id_text);
    put(env, "MQL_SCORE", rq->score_text);
    put(env, "MQL_STAGE", rq->stage);
    put(env, "MQL_NEW", rq->is_new ? "1" : "0");
    /* "--" (looked up, not found) is kept so the lookup is not repeated,
     * but an unknown country is not exported, on this request or later. */
    if (rq->country && rq->country[0] != '-')
        put(env, "MQL_COUNTRY", rq->country);
    put(r->notes, NOTE_VISITOR, rq->id_text);
}

/*
 * A response that hands out a new visitor cookie must never be stored for
 * reuse by others: a page cache replays the stored Set-Cookie to every
 * later new visitor, after the one issued to them, and browsers keep the
 * last, so strangers would share one ID.  Set-Cookie does not stop a cache
 * from storing a response (RFC 9111, section 7.3); "private" does, for every
 * shared cache (section 3: storing needs it absent, whatever "public" or
 * "s-maxage" say).  The visitor's own browser may still keep the page as
 * the site allows.  mod_cache honours "private" only without
 * CacheStorePrivate, and reads Cache-Control from err_headers_out alone
 * when that table has one, so it also gets r->no_cache, which it obeys
 * whatever its settings and which internal redirects inherit; for that
 * flag httpd adds an Expires of the response's date when the page has
 * none, which keeps HTTP/1.0 caches, which know no Cache-Control, from
 * reusing it.  A page asked for with a valid cookie is left alone, so it
 * stays exactly as cacheable as the site made it: it carries no Set-Cookie.
 * "Vary: Cookie" would not do: every new visitor sends the same (absent)
 * Cookie header, and every known one would get a variant of their own.
 */
static const char cache_control_private[] = "private";

static void keep_out_of_shared_caches(request_rec *r, mql_req_t *rq)
{
    apr_table_addn(r->err_headers_out, "Cache-Control", cache_control_private);
    rq->set_no_cache = !r->no_cache;
    r->no_cache = 1;
}

static void export_env(request_rec *r, mql_req_t *rq)
{
    mql_visitor_t v;
    uint32_t now = (uint32_t)apr_time_sec(r->request_time);
    long score = 0;
    const char *stage = "visitor";

    v.flags = 0;
    if (!rq->is_new && mql_visitors_get(mql_g->store, &rq->ref, now, &v, NULL)) {
        conn_memory_t *m = conn_memory(r->connection);

        if (!m->score_known || m->score_raw != v.score || m->score_seen != v.last_seen
            || m->score_now != now) {
            m->score = lround(mql_current_score(&v, now, (uint32_t)mql_g->half_life));
            m->score_raw = v.score;
            m->score_seen = v.last_seen;
            m->score_now = now;
            m->score_known = 1;
        }
        score = m->score;
        stage = mql_stage_name((mql_stage_t)v.stage);
        rq->prev_seen = v.last_seen;
        if (v.country[0] && v.country[0] != '-')
            rq->country = apr_pstrmemdup(r->pool, v.country, 2);
    }
    /* Looked up once per visitor, then kept with the record; behind our
     * own proxy the client's address is the proxy's. */
    if (!(v.flags & MQL_VF_COUNTRY) && mql_g->geoip_db && !rq->scored_before)
        rq->country = mql_geoip_country(r);
    rq->score_text = apr_ltoa(r->pool, score);
    rq->stage = stage;
    set_env(r, rq, 1);
}

/* The most a mark may differ from the clock: a proxied request reaches
 * its backend at once; a client replaying its own mark soon cannot. */
#define SCORED_MAX_AGE 300

/*
 * A request our proxy (or a server with our key) scores already: the
 * backend shows the application the visitor, and neither scores it, nor
 * sets a cookie, nor takes the application's X-MQL-* response headers,
 * which go back to the front to be scored there.  The mark is taken off
 * so the application never sees it.
 */
static int scored_by_proxy(request_rec *r, mql_req_t *rq)
{
    const char *mark = apr_table_get(r->headers_in, MQL_SCORED_HEADER);
    uint8_t id[MQL_ID_BYTES];
    int is_new;

    if (!mark)
        return 0;
    apr_table_unset(r->headers_in, MQL_SCORED_HEADER);
    if (!mql_scored_check(mql_g->key, mark, strlen(mark), (uint32_t)apr_time_sec(r->request_time),
                          SCORED_MAX_AGE, id, &is_new))
        return 0;
    rq->scored_before = 1;
    rq->is_new = is_new;
    mql_id_to_text(id, rq->id_text);
    mql_visitors_ref(mql_g->store, id, &rq->ref);
    export_env(r, rq);
    return 1;
}

/* mod_proxy (ProxyPass, RewriteRule [P]) will pass this request on. */
static int goes_to_proxy(const request_rec *r)
{
    return r->proxyreq != PROXYREQ_NONE
           || (r->filename && r->filename[0] == 'p' && !strncmp(r->filename, "proxy:", 6));
}

static int mql_post_read_request(request_rec *r)
{
    mql_srv_conf_t *sc = srv_conf(r);
    early_headers_t h;
    cookie_verdict_t scratch;
    const cookie_verdict_t *cv;
    int remembered;
    mql_req_t *rq;

    if (!sc->engine || r->main || r->prev || !mql_g || !mql_g->store_ready)
        return DECLINED;
    rq = apr_pcalloc(r->pool, sizeof *rq);
    ap_set_module_config(r->request_config, &mql_module, rq);
    if (scored_by_proxy(r, rq))
        return DECLINED;

    read_early_headers(r, &h);
    cv = cookies_on(r, sc, h.cookie, &scratch, &remembered);
    /* The visitor first: its record comes from memory while the
     * exclusions are checked.  Not for a verdict the connection
     * remembered: its exclusions are a compare, and the record was read
     * for the connection's previous request. */
    if (cv->known) {
        rq->ref = cv->ref;
        memcpy(rq->id_text, cv->id_text, sizeof cv->id_text);
        if (!remembered)
            mql_visitors_prefetch(mql_g->store, &rq->ref);
    }
    if (exclusion(r, sc, &h, cv))
        return DECLINED;
    rq->tracked = 1;
    if (!cv->known) {
        uint8_t id[MQL_ID_BYTES];

        if (!mql_flood_admit(r)) {
            rq->tracked = 0;
            return DECLINED;
        }

        if (apr_generate_random_bytes(id, sizeof id) != APR_SUCCESS) {
            rq->tracked = 0;
            return DECLINED;
        }
        rq->is_new = 1;
        rq->set_cookie = make_cookie(r, sc, id);
        /* err_headers_out: redirects and error pages carry it too */
        apr_table_addn(r->err_headers_out, "Set-Cookie", rq->set_cookie);
        keep_out_of_shared_caches(r, rq);
        mql_id_to_text(id, rq->id_text);
        mql_visitors_ref(mql_g->store, id, &rq->ref);
    }
    export_env(r, rq);
    return DECLINED;
}

/* Once the URL is mapped: MQLEngine Off in a directory, and the status
 * page, withdraw tracking (and the cookie we were about to set). */
static void untrack(request_rec *r, mql_req_t *rq)
{
    rq->tracked = 0;
    if (rq->set_cookie) {
        const apr_array_header_t *arr = apr_table_elts(r->err_headers_out);
        apr_table_t *keep = apr_table_make(r->pool, arr->nelts);
        const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
        int i;

        for (i = 0; i < arr->nelts; i++)
            if (e[i].val != rq->set_cookie && e[i].val != cache_control_private)
                apr_table_addn(keep, e[i].key, e[i].val);
        r->err_headers_out = keep;
        rq->set_cookie = NULL;
        if (rq->set_no_cache)
            r->no_cache = 0;
    }
    apr_table_unset(r->subprocess_env, "MQL_VISITOR");
    apr_table_unset(r->subprocess_env, "MQL_SCORE");
    apr_table_unset(r->subprocess_env, "MQL_STAGE");
    apr_table_unset(r->subprocess_env, "MQL_NEW");
    apr_table_unset(r->subprocess_env, "MQL_COUNTRY");
    apr_table_unset(r->notes, NOTE_VISITOR);
}

static int mql_fixups(request_rec *r)
{
    mql_req_t *rq;
    mql_dir_conf_t *dc;

    if (r->main || !(rq = mql_req_state(r)) || !(rq->tracked || rq->scored_before))
        return DECLINED;
    /* An internal redirect (mod_rewrite, ErrorDocument) starts a fresh
     * environment; the handler it reaches sees the visitor too. */
    if (r->prev)
        set_env(r, rq, 0);
    dc = ap_get_module_config(r->per_dir_config, &mql_module);
    if (dc->engine == 0 || (r->handler && !strcmp(r->handler, MQL_STATUS_HANDLER)))
        untrack(r, rq);
    /* A backend of ours (a virtual host of this server, or a server with
     * this key, perhaps behind a cache) is told the request is scored
     * here, so it is scored once.  Set, not added: a client's goes. */
    else if (rq->tracked && goes_to_proxy(r)) {
        char mark[MQL_SCORED_LEN + 1];

        mql_scored_sign(mql_g->key, rq->ref.id, rq->is_new,
                        (uint32_t)apr_time_sec(r->request_time), mark);
        apr_table_setn(r->headers_in, MQL_SCORED_HEADER, apr_pstrdup(r->pool, mark));
    }
    /* authentication has run: the user or the claim it left is the
     * contact (MQLContactFrom); nothing to look at without the directive */
    if (rq->tracked && !rq->scored_before) {
        const mql_srv_conf_t *sc = srv_conf(r);

        if (sc->contact_from)
            rq->auth_contact = mql_contact_from_request(r, sc->contact_from);
    }
    return DECLINED;
}

/*
 * X-MQL-Event and X-MQL-Contact come from the application's response
 * (CGI, PHP, a proxied backend); they are taken off before the client
 * sees them.  Never read from the client's request.  One pass over each
 * table finds both; headers_out wins over err_headers_out, as with
 * apr_table_get on each in turn.
 */
enum { APP_EVENT, APP_CONTACT, APP_HEADERS };
static const char *const app_header_names[APP_HEADERS] = { "X-MQL-Event", "X-MQL-Contact" };

static void find_app_headers(const apr_table_t *t, const char *found[APP_HEADERS])
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i, k;

    for (i = 0; i < arr->nelts; i++)
        if (e[i].key && (e[i].key[0] | 0x20) == 'x')
            for (k = 0; k < APP_HEADERS; k++)
                if (!found[k] && !strcasecmp(e[i].key, app_header_names[k]))
                    found[k] = e[i].val;
}

static void take_app_headers(request_rec *r, const char *taken[APP_HEADERS])
{
    int k;

    taken[APP_EVENT] = taken[APP_CONTACT] = NULL;
    find_app_headers(r->headers_out, taken);
    find_app_headers(r->err_headers_out, taken);
    for (k = 0; k < APP_HEADERS; k++)
        if (taken[k]) {
            taken[k] = apr_pstrdup(r->pool, taken[k]);
            apr_table_unset(r->headers_out, app_header_names[k]);
            apr_table_unset(r->err_headers_out, app_header_names[k]);
        }
}

static void score_request(request_rec *r, mql_req_t *rq);

/* A Set-Cookie of the visitor cookie's name that this module did not
 * make (ours is compared by address: the table keeps our string). */
static int backend_cookie(const apr_table_entry_t *e, const char *name, size_t len,
                          const char *ours)
{
    return e->key && e->val != ours && !strcasecmp(e->key, "Set-Cookie")
           && !strncmp(e->val, name, len) && e->val[len] == '=';
}

/*
 * The visitor is this server's: a backend behind our proxy that set a
 * visitor cookie of the same name (a server that did not know our mark)
 * would give the browser a second one, and the browser keeps the last.
 * A backend's comes in headers_out; ours is in err_headers_out, or in
 * headers_out when httpd made the error page (ap_send_error_response
 * swaps the two tables), hence the comparison with ours.
 */
static void drop_backend_cookie(request_rec *r, const mql_req_t *rq)
{
    const char *name = srv_conf(r)->cookie_name;
    size_t len = strlen(name);
    const apr_array_header_t *arr = apr_table_elts(r->headers_out);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_table_t *keep;
    int i, found = 0;

    if (!goes_to_proxy(r))
        return;
    for (i = 0; i < arr->nelts && !found; i++)
        found = backend_cookie(&e[i], name, len, rq->set_cookie);
    if (!found)
        return;
    keep = apr_table_make(r->pool, arr->nelts);
    for (i = 0; i < arr->nelts; i++)
        if (!backend_cookie(&e[i], name, len, rq->set_cookie))
            apr_table_addn(keep, e[i].key, e[i].val);
    r->headers_out = keep;
}

/*
 * The response's end passes here before its last bytes reach the client,
 * so scoring now means the visitor's next request already sees the new
 * score; log_transaction catches responses that never came this way.
 */
static apr_status_t app_signals_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    mql_req_t *rq = mql_req_state(r);

    if (!f->ctx) {
        const char *app[APP_HEADERS];

        take_app_headers(r, app);
        if (rq && rq->tracked)
            drop_backend_cookie(r, rq);
        f->ctx = rq ? (void *)rq : (void *)f;
        if (rq && rq->tracked) {
            if (app[APP_EVENT])
                rq->app_event = app[APP_EVENT];
            if (app[APP_CONTACT])
                rq->app_contact = app[APP_CONTACT];
        }
    }
    /* A range request's 206 is decided by the byterange filter, after this
     * one: such requests are scored when logged. */
    if (rq && !APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))
        && !apr_table_get(r->headers_in, "Range")) {
        score_request(r, rq);
        ap_remove_output_filter(f);
    }
    return ap_pass_brigade(f->next, bb);
}

static ap_filter_rec_t *app_filter;   /* registered once, added by handle */
static ap_filter_rec_t *late_filter;

static int says_private(const apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = 0; i < arr->nelts; i++)
        if (e[i].key && !strcasecmp(e[i].key, "Cache-Control")
            && (ap_find_token(NULL, e[i].val, "private")
                || ap_find_token(NULL, e[i].val, "no-store")))
            return 1;
    return 0;
}

/*
 * After every content filter, just before the headers are written.
 *
 * The site's own configuration runs after the early hook and may replace
 * Cache-Control: `Header always set Cache-Control "public, max-age=600"`
 * replaces it in err_headers_out, where ours is.  A response that still
 * issues a new cookie says "private" again if nothing does; a site's
 * "no-store" is stronger and is left alone.
 *
 * mod_cache serves a stored page by removing every filter before its
 * own, the signals filter among them, so a view served from the cache
 * would be scored only when logged, after the visitor has the page (and
 * maybe asked for the next one).  With mod_cache loaded, this filter,
 * which comes after mod_cache's, scores at the response's end too.
 */
static apr_status_t late_filter_func(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    mql_req_t *rq = mql_req_state(r);

    if (!rq) {
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, bb);
    }
    if (!f->ctx) {
        f->ctx = rq;
        if (rq->set_cookie && !says_private(r->err_headers_out)
            && !says_private(r->headers_out))
            apr_table_addn(r->err_headers_out, "Cache-Control", cache_control_private);
        if (!mql_g->cache_loaded) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
    }
    if (!APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))
        && !apr_table_get(r->headers_in, "Range")) {
        score_request(r, rq);
        ap_remove_output_filter(f);
    }
    return ap_pass_brigade(f->next, bb);
}

static int headers_loaded;      /* mod_headers is in this configuration */

/* Media types that only files are served as: no module takes them for
 * the name of its handler, as "application/x-httpd-php" can be.  As
 * mime.types spells them: another spelling takes the full path. */
static int static_type(const char *ct)
{
    /* byte by byte, each compare stopping at the NUL of a shorter type:
     * text/html, the type of most requests, fails at its sixth byte */
    switch (ct ? ct[0] : '\0') {
    case 'i':
        return ct[1] == 'm' && ct[2] == 'a' && ct[3] == 'g' && ct[4] == 'e' && ct[5] == '/';
    case 'f':
        return ct[1] == 'o' && ct[2] == 'n' && ct[3] == 't' && ct[4] == '/';
    case 't':
        return ct[1] == 'e' && ct[2] == 'x' && ct[3] == 't' && ct[4] == '/'
               && ((ct[5] == 'c' && ct[6] == 's' && ct[7] == 's')
                   || (ct[5] == 'j' && !strncmp(ct + 6, "avascript", 9)));
    case 'a':
        return !strncmp(ct, "audio/", 6) || !strncmp(ct, "application/javascript", 22);
    case 'v':
        return !strncmp(ct, "video/", 6);
    }
    return 0;
}

/*
 * Whether the request can score at all, decided once the handler is
 * known (insert_filter runs before httpd names the handler after the
 * type).  A style sheet, script, image or font that httpd serves as it
 * is, asked for by GET without a query and not a download, is none of
 * the events, whatever its status: a view needs HTML, a form a POST, a
 * campaign a query, a pixel our handler, a download its extension.  The
 * method, query and path are the client's request's, the handler and
 * type those of the request that answers (after an internal redirect,
 * the error document's), as score_request judges them.  Under mod_cache
 * a stored answer's handler is unknown here: the full path then.
 */
static int cannot_be_event(request_rec *r)
{
    request_rec *first = r;

    while (first->prev)
        first = first->prev;
    if (r->handler || mql_g->cache_loaded || first->method_number != M_GET
        || (first->args && *first->args) || !static_type(r->content_type) || goes_to_proxy(r))
        return 0;
    return !mql_path_has_extension(first->uri, srv_conf(r)->download_ext_list);
}

static void mql_insert_filter(request_rec *r)
{
    mql_req_t *rq;

    if (r->main || !(rq = mql_req_state(r)) || rq->scored_before)
        return;
    /* Only the application's answer brings X-MQL-* headers; a file as it
     * is gets none, unless mod_headers adds them, which the filter must
     * then take off and score. */
    rq->no_event = cannot_be_event(r);
    if (!rq->no_event || headers_loaded)
        ap_add_output_filter_handle(app_filter, NULL, r, r->connection);
    if (rq->set_cookie || (mql_g->cache_loaded && rq->tracked))
        ap_add_output_filter_handle(late_filter, NULL, r, r->connection);
}

int mql_request_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    mql_g->cache_loaded = ap_find_linked_module("mod_cache.c") != NULL;
    headers_loaded = ap_find_linked_module("mod_headers.c") != NULL;
    return OK;
}

/* A 206 counts as a download when its range reaches the file's end. */
static int range_reaches_end(request_rec *r, request_rec *last)
{
    const char *range = apr_table_get(r->headers_in, "Range");
    apr_off_t size = last->finfo.filetype ? last->finfo.size : -1;
    const char *p;
    /* What was sent decides: mod_deflate's gzip of a file is shorter than
     * the file, and its ranges are ranges of the gzip.  A multipart answer
     * to several ranges has no Content-Range of its own. */
    int sent = mql_content_range_reaches_end(apr_table_get(last->headers_out,
                                                           "Content-Range"));

    if (sent >= 0)
        return sent;
    if (!range || size <= 0 || strncasecmp(range, "bytes=", 6))
        return 0;
    for (p = range + 6; *p; ) {
        char *end;
        apr_int64_t first, last_byte;

        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '-')
            return 1;           /* suffix range: the file's last bytes */
        first = apr_strtoi64(p, &end, 10);
        if (end == p || *end != '-' || first < 0)
            return 0;
        p = end + 1;
        if (!apr_isdigit(*p))
            return 1;           /* "N-": to the end */
        last_byte = apr_strtoi64(p, &end, 10);
        if (last_byte >= size - 1)
            return 1;
        p = end;
        if (*p && *p != ',')
            return 0;
    }
    return 0;
}

/*
 * The visitor's contact set.  One from authentication comes with every
 * request of a signed-in visitor: it is compared with the one kept first,
 * so that the record is not marked changed (and, with Redis, sent) each
 * time.
 */
static void keep_contact(request_rec *r, const mql_req_t *rq, const char *contact,
                         uint32_t now, int unless_same)
{
    char kept[MQL_CONTACT_LEN];
    mql_visitor_t v;
    apr_status_t rv;

    if (unless_same && mql_visitors_get(mql_g->store, &rq->ref, now, &v, kept)
        && !strcmp(kept, contact))
        return;
    if ((rv = mql_visitors_set_contact(mql_g->store, rq->ref.id, contact, now)) != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "contact not kept: %s",
                      rv == APR_ENOSPC ? "the contact area is full"
                                       : "the visitor is no longer in the store");
}

/* Classify the finished request and score it, once. */
static void score_request(request_rec *r, mql_req_t *rq)
{
    mql_srv_conf_t *sc;
    request_rec *last;
    mql_response_facts_t facts;
    mql_hit_t hit;
    mql_delta_t delta;
    mql_hit_result_t res;
    mql_lead_gate_t gate;
    mql_knockout_t ko;
    char app_name[40];
    const char *contact;
    int app_points = 0, has_points = 0, from_app;
    uint32_t now;
    apr_status_t rv;

    if (rq->scored || !rq->tracked || !mql_g || !mql_g->store_ready
        || (rq->no_event && !rq->app_event && !rq->app_contact))
        return;
    rq->scored = 1;
    /* fetched while the request is classified, not under the lock */
    mql_visitors_prefetch(mql_g->store, &rq->ref);
    while (r->main)
        r = r->main;
    while (r->prev)
        r = r->prev;
    for (last = r; last->next; last = last->next)
        ;
    sc = srv_conf(r);

    memset(&facts, 0, sizeof facts);
    facts.method = r->method;
    facts.status = last->status;
    facts.content_type = last->content_type;
    facts.query = r->args;
    facts.is_pixel = rq->is_pixel;
    facts.before_handler = !rq->handler_ran;
    facts.is_download_ext = mql_path_has_extension(r->uri, sc->download_ext_list);
    if (facts.is_download_ext && last->status == HTTP_PARTIAL_CONTENT)
        facts.range_complete = range_reaches_end(r, last);
    if (rq->app_event) {
        if (mql_parse_app_event(rq->app_event, app_name, sizeof app_name, &app_points,
                                &has_points))
            facts.has_app_event = 1;
        else
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "MQL00030: ignored X-MQL-Event from the application: expects "
                          "'NAME; points=N', got '%.80s'", rq->app_event);
    }

    memset(&hit, 0, sizeof hit);
    hit.events = mql_classify(&facts);
    /* the application's word is the later and the more specific */
    contact = rq->app_contact ? mql_contact_normalised(r, rq->app_contact) : NULL;
    from_app = contact != NULL;
    if (!contact)
        contact = rq->auth_contact;
    if (!hit.events && !contact)
        return;
    /* a signed-in visitor's plain request: only the contact, if new */
    if (!hit.events && !from_app) {
        keep_contact(r, rq, contact, (uint32_t)apr_time_sec(apr_time_now()), 1);
        return;
    }
    hit.app_points = has_points ? app_points : sc->scoring.points[MQL_EV_APP];
    hit.path = r->uri;
    hit.referer = apr_table_get(r->headers_in, "Referer");
    hit.query = r->args;
    hit.country = rq->country;
    hit.method = r->method;
    hit.headers = r->headers_in;
    /* regexes run here, not while the table is locked */
    if (sc->scoring.nrules > 0) {
        unsigned char *matched = apr_palloc(r->pool, (apr_size_t)sc->scoring.nrules);

        mql_rules_match(&sc->scoring, &hit, matched);
        hit.rule_matched = matched;
    }

    hit.site = sc->site;
    hit.gate = mql_flood_gate(r, &gate);
    mql_touch_note(r, &hit, rq->is_new);
    now = (uint32_t)apr_time_sec(apr_time_now());
    /* resolved once, here: every store applies the same delta */
    mql_score_resolve(&sc->scoring, &hit, &delta);
    /* a knock-out: this hit promotes nobody, the rejection follows */
    if (mql_knockout_find(sc, &hit, rq->app_contact, &ko))
        delta.hold = 1;
    rv = mql_visitors_hit(mql_g->store, &rq->ref, &delta, now, &res);
    /* signed by us, yet unknown: perhaps a lead that made room, whose
     * record the writer can bring back from its file */
    if (!rq->is_new && (rv == APR_ENOSPC || (rv == APR_SUCCESS && !res.found)))
        mql_returns_note(rq->ref.id, sc->site);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "not scored: %s",
                      rv == APR_ENOSPC ? "no room for a new visitor (every slot a lead "
                                         "not yet in its DBM file)"
                                       : "the visitor store refused the hit");
        return;
    }
    /* the story: a copy into the journal's ring, never a wait */
    if (ko.flag && mql_knockout_reject(r, &ko, &res, now))
        mql_journal_capture_knockout(&hit, &res, now, rq->prev_seen, sc->scoring.nrules,
                                     ko.flag, ko.index);
    else if (hit.events)
        mql_journal_capture(&hit, &res, now, rq->prev_seen, sc->scoring.nrules);
    if (contact)
        keep_contact(r, rq, contact, now, !from_app);
}

static int mql_log_transaction(request_rec *r)
{
    mql_req_t *rq = mql_req_state(r);

    if (!r->main && rq)
        score_request(r, rq);
    return DECLINED;
}

void mql_register_request_hooks(apr_pool_t *p)
{
    /* After mod_remoteip has fixed the client address, before mod_setenvif
     * and mod_rewrite look at the environment. */
    static const char *const pre[] = { "mod_remoteip.c", NULL };
    static const char *const succ[] = { "mod_setenvif.c", "mod_rewrite.c", NULL };

    ap_hook_post_read_request(mql_post_read_request, pre, succ, APR_HOOK_FIRST);
    ap_hook_fixups(mql_fixups, NULL, NULL, APR_HOOK_LAST);
    app_filter = ap_register_output_filter(APP_FILTER, app_signals_filter, NULL,
                                           AP_FTYPE_CONTENT_SET);
    /* after every content filter, before the protocol writes the headers */
    late_filter = ap_register_output_filter(LATE_FILTER, late_filter_func, NULL,
                                            (ap_filter_type)(AP_FTYPE_PROTOCOL - 1));
    ap_hook_insert_filter(mql_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(mql_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(mql_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
}
