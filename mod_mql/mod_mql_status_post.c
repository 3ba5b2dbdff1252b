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
 * The status page's one action: a POST of
 * visitor=ID&stage=sql|rejected|mql&token=T, sales' decision, answered
 * with a 303 back to the visitor.
 *
 * GET never changes anything.  A POST needs the form's token (a SipHash
 * MAC of the hour, the virtual host and the action under a key drawn at
 * each start, so a token lives one to two hours, works for one site's
 * stage changes only and dies with a restart), a Content-Type of
 * application/x-www-form-urlencoded and, when the browser names them, an
 * Origin or Referer of this host; anything else is 403 (415 for the type).
 * Who may see the page at all is the admin's `Require`.
 *
 * Apart from the rest of the page because this is the part that must
 * refuse: the checks and the key they rest on are read here together.
 */
#include <string.h>

#include "apr_strings.h"
#include "apr_siphash.h"
#include "httpd.h"
#include "http_core.h"
#include "http_protocol.h"
#include "util_script.h"

#include "mod_mql_private.h"
#include "mod_mql_status_int.h"
#include "mql_cookie.h"

APLOG_USE_MODULE(mql);

#define TOKEN_BUCKET 3600       /* seconds; the previous bucket is accepted too */

/* ------------------------------------------------------------ CSRF */

/* The token of one hour, bound to the virtual host serving the page and
 * to the action (a stage change posted to this page's path): a token
 * taken from one site's status page is refused by another's, and by any
 * other action this page may gain. */
static void token_for(request_rec *r, uint64_t bucket, char out[33])
{
    const char *parts[] = {
        "mql-csrf", apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, (apr_uint64_t)bucket),
        "set-stage", r->server->server_hostname ? r->server->server_hostname : "",
        apr_itoa(r->pool, r->server->port), r->uri ? r->uri : ""
    };
    size_t len = 0, i;
    char *m;
    uint64_t a, b;

    for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
        len += strlen(parts[i]) + 1;
    m = apr_palloc(r->pool, len + 1);
    /* fields ended by NUL bytes, so that no host and path pass for another pair */
    for (len = 0, i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t n = strlen(parts[i]) + 1;

        memcpy(m + len, parts[i], n);
        len += n;
    }
    m[len] = '1';
    a = apr_siphash24(m, len + 1, mql_g->form_key);
    m[len] = '2';
    b = apr_siphash24(m, len + 1, mql_g->form_key);
    apr_snprintf(out, 33, "%016" APR_UINT64_T_HEX_FMT "%016" APR_UINT64_T_HEX_FMT,
                 (apr_uint64_t)a, (apr_uint64_t)b);
}

const char *mql_status_current_token(request_rec *r)
{
    char t[33];

    token_for(r, (uint64_t)apr_time_sec(apr_time_now()) / TOKEN_BUCKET, t);
    return apr_pstrdup(r->pool, t);
}

static int token_ok(request_rec *r, const char *given)
{
    uint64_t bucket = (uint64_t)apr_time_sec(apr_time_now()) / TOKEN_BUCKET;
    int k, ok = 0;

    if (!given || strlen(given) != 32)
        return 0;
    for (k = 0; k < 2; k++) {
        char want[33];
        unsigned diff = 0;
        int i;

        token_for(r, bucket - (uint64_t)k, want);
        for (i = 0; i < 32; i++)         /* constant time */
            diff |= (unsigned char)(want[i] ^ given[i]);
        ok |= diff == 0;
    }
    return ok;
}

/* A key of this generation, drawn at start and mixed with the secret. */
int mql_status_form_key(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                        server_rec *s)
{
    uint8_t seed[32];
    uint64_t a, b;

    if (apr_generate_random_bytes(seed, 16) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL04020: no random bytes for the status page's form key");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memcpy(seed + 16, mql_g->key, 16);
    a = apr_siphash24(seed + 16, 16, seed);
    b = apr_siphash24(seed, 16, seed + 16);
    memcpy(mql_g->form_key, &a, 8);
    memcpy(mql_g->form_key + 8, &b, 8);
    memset(seed, 0, sizeof seed);
    return OK;
}

/* "scheme://host[:port]/..." names host (the request's Host header). */
static int url_names_host(const char *url, const char *host)
{
    const char *a = ap_strstr_c(url, "://"), *end;

    if (!a || !host)
        return 0;
    a += 3;
    end = a + strcspn(a, "/?#");
    return (size_t)(end - a) == strlen(host) && !strncasecmp(a, host, (size_t)(end - a));
}

/* Browsers name the page a POST came from; another site's is refused. */
static int same_origin(request_rec *r)
{
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *referer = apr_table_get(r->headers_in, "Referer");

    if (!host)
        host = r->hostname;
    if (origin)
        return url_names_host(origin, host);
    if (referer)
        return url_names_host(referer, host);
    return 1;
}

static const char *form_value(request_rec *r, apr_array_header_t *pairs, const char *name)
{
    ap_form_pair_t *fp = (ap_form_pair_t *)pairs->elts;
    int i;

    for (i = 0; i < pairs->nelts; i++) {
        if (!strcmp(fp[i].name, name)) {
            apr_off_t len;
            apr_size_t size;
            char *buf;

            apr_brigade_length(fp[i].value, 1, &len);
            if (len < 0 || len > 256)
                return NULL;
            size = (apr_size_t)len;
            buf = apr_palloc(r->pool, size + 1);
            apr_brigade_flatten(fp[i].value, buf, &size);
            buf[size] = '\0';
            return buf;
        }
    }
    return NULL;
}

static int refuse(request_rec *r, int status, const char *why, const char *message)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "MQL04021: status page: stage change refused (%s)", why);
    ap_custom_response(r, status, message);
    return status;
}

int mql_status_post(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_array_header_t *pairs = NULL;
    const char *vid, *stage_name, *token;
    uint8_t id[MQL_ID_BYTES];
    int stage;
    apr_status_t rv;

    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33)
        || (ct[33] && ct[33] != ';' && ct[33] != ' '))
        return refuse(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "not a form",
                      "The status page takes only its own form.");
    if (!same_origin(r))
        return refuse(r, HTTP_FORBIDDEN, "from another site",
                      "Stage changes are accepted only from this status page.");
    if (ap_parse_form_data(r, NULL, &pairs, 8, 4096) != OK || !pairs)
        return refuse(r, HTTP_BAD_REQUEST, "unreadable form", "Unreadable form.");
    vid = form_value(r, pairs, "visitor");
    stage_name = form_value(r, pairs, "stage");
    token = form_value(r, pairs, "token");
    if (!token_ok(r, token))
        return refuse(r, HTTP_FORBIDDEN, "missing or expired token",
                      "The form has expired or did not come from this status page: "
                      "reload the page and try again.");
    stage = stage_name ? mql_stage_from_name(stage_name) : -1;
    if (!mql_status_parse_id(vid, id) || stage <= MQL_STAGE_VISITOR)
        return refuse(r, HTTP_BAD_REQUEST, "bad visitor or stage",
                      "Expects a visitor ID and a stage: sql, rejected or mql.");
    {
        mql_visitor_t v;

        /* another site's lead is as unknown here as an absent one */
        if (!mql_visitors_get_id(mql_g->store, id, (uint32_t)apr_time_sec(apr_time_now()), &v,
                                 NULL))
            return HTTP_NOT_FOUND;
        if (!mql_status_may_touch(r, &v)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "MQL04024: status page: stage "
                          "change refused: visitor %s belongs to another site "
                          "(MQLStatusSites own)", vid);
            return HTTP_NOT_FOUND;
        }
    }
    rv = mql_visitors_set_stage(mql_g->store, id, (mql_stage_t)stage,
                             (uint32_t)apr_time_sec(apr_time_now()));
    if (rv == APR_ENOENT)
        return HTTP_NOT_FOUND;
    if (rv != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  "MQL04022: visitor %s set to stage %s from the status page by %s%s%s",
                  vid, mql_stage_name((mql_stage_t)stage), r->useragent_ip,
                  r->user ? " user " : "", r->user ? ap_escape_logitem(r->pool, r->user) : "");
    /* Post/Redirect/Get: a reload does not post again. */
    apr_table_setn(r->headers_out, "Location",
                   ap_construct_url(r->pool, apr_pstrcat(r->pool, r->uri, "?visitor=", vid,
                                                         "&done=",
                                                         mql_stage_name((mql_stage_t)stage),
                                                         NULL), r));
    return HTTP_SEE_OTHER;
}
