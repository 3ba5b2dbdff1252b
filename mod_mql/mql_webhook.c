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
 * What a webhook receiver is sent (mql_webhook.h); the outbox is in
 * mql_outbox.c.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <apr_strings.h>
#include <apr_uri.h>

#include "mql_json.h"
#include "mql_webhook.h"

const char *const mql_webhook_event_names[] = {
    "visitor", "mql", "sql", "rejected",    /* the stage a lead moves to */
    "stage",                                /* any stage change */
    "active", "sla", "recycled", "merge", "account",   /* the other event types */
    NULL
};

static int known_event(const char *name)
{
    int i;

    for (i = 0; mql_webhook_event_names[i]; i++)
        if (!strcmp(name, mql_webhook_event_names[i]))
            return 1;
    return 0;
}

static const char *check_url(apr_pool_t *p, const char *url)
{
    apr_uri_t u;

    if (apr_uri_parse(p, url, &u) != APR_SUCCESS || !u.scheme
        || (strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "https")) || !u.hostname
        || !*u.hostname || strpbrk(url, " \t\r\n"))
        return apr_psprintf(p, "expects an http:// or https:// URL with a host, then "
                            "[secret=SECRET] [format=json|slack] [events=LIST]; got '%s'", url);
    return NULL;
}

const char *mql_webhook_parse(apr_pool_t *p, int argc, char *const argv[], mql_webhook_t *w)
{
    const char *err;
    int i;

    memset(w, 0, sizeof *w);
    if (argc < 1)
        return "expects a URL, then [secret=SECRET] [format=json|slack] [events=LIST]";
    if ((err = check_url(p, argv[0])))
        return err;
    w->url = apr_pstrdup(p, argv[0]);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strncmp(a, "secret=", 7)) {
            if (!a[7])
                return "secret= expects the shared secret the receiver checks "
                       "X-MQL-Signature with; got an empty one";
            w->secret = apr_pstrdup(p, a + 7);
        }
        else if (!strncmp(a, "format=", 7)) {
            if (!strcmp(a + 7, "json"))
                w->format = MQL_WEBHOOK_JSON;
            else if (!strcmp(a + 7, "slack"))
                w->format = MQL_WEBHOOK_SLACK;
            else
                return apr_psprintf(p, "format= expects json or slack; got '%s'", a + 7);
        }
        else if (!strncmp(a, "events=", 7)) {
            char *list = apr_pstrdup(p, a + 7), *last, *name;

            w->events = apr_array_make(p, 4, sizeof(const char *));
            for (name = apr_strtok(list, ",", &last); name; name = apr_strtok(NULL, ",", &last)) {
                if (!known_event(name))
                    return apr_psprintf(p, "events= expects a comma-separated list of "
                                        "visitor, mql, sql, rejected, stage, active, sla, "
                                        "recycled, merge, account; got '%s'", name);
                *(const char **)apr_array_push(w->events) = name;
            }
            if (!w->events->nelts)
                return "events= expects a comma-separated list of visitor, mql, sql, "
                       "rejected, stage, active, sla, recycled, merge, account; got an empty one";
        }
        else
            return apr_psprintf(p, "expects secret=SECRET, format=json|slack or "
                                "events=LIST after the URL; got '%s'", a);
    }
    return NULL;
}

int mql_webhook_wants(const mql_webhook_t *w, const mql_notification_t *n)
{
    int i;

    if (!w->events)
        return 1;
    for (i = 0; i < w->events->nelts; i++) {
        const char *e = APR_ARRAY_IDX(w->events, i, const char *);

        if (!strcmp(e, n->event) || (!strcmp(e, "stage") && !strcmp(n->type, "stage")))
            return 1;
    }
    return 0;
}

/* "MQL" for the stage people talk about in capitals */
static const char *said(apr_pool_t *p, const char *stage)
{
    if (!strcmp(stage, "mql") || !strcmp(stage, "sql"))
        return apr_pstrdup(p, stage[0] == 'm' ? "MQL" : "SQL");
    return stage;
}

const char *mql_webhook_body(apr_pool_t *p, const mql_webhook_t *w, const mql_notification_t *n)
{
    const char *who, *text;
    apr_size_t len;

    if (w->format == MQL_WEBHOOK_JSON) {
        len = strlen(n->json);
        while (len && (n->json[len - 1] == '\n' || n->json[len - 1] == '\r'))
            len--;
        return apr_pstrmemdup(p, n->json, len);
    }
    who = n->contact && *n->contact ? n->contact : apr_pstrcat(p, "visitor ", n->lead, NULL);
    if (!strcmp(n->type, "stage"))
        text = apr_psprintf(p, "%s is now %s (score %ld)", who, said(p, n->stage), n->score);
    else
        text = apr_psprintf(p, "%s: %s, %s (score %ld)", n->type, who, said(p, n->stage),
                            n->score);
    if (n->trigger && *n->trigger)
        text = apr_pstrcat(p, text, ", trigger: ", n->trigger, NULL);
    if (n->detail && *n->detail)
        text = apr_pstrcat(p, text, ", ", n->detail, NULL);
    /* mql_json_str: whatever a visitor typed stays one JSON string */
    return apr_pstrcat(p, "{\"text\":", mql_json_str(p, text, 0), "}", NULL);
}

static const char *hex(apr_pool_t *p, const unsigned char *b, unsigned n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = apr_palloc(p, 2 * n + 1);
    unsigned i;

    for (i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

const char *mql_webhook_delivery_id(apr_pool_t *p, const char *url, const char *key)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    /* the NUL between them: no URL and key pair reads as another */
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)
        || !EVP_DigestUpdate(ctx, url, strlen(url) + 1)
        || !EVP_DigestUpdate(ctx, key, strlen(key)) || !EVP_DigestFinal_ex(ctx, md, &n))
        n = 0;
    EVP_MD_CTX_free(ctx);
    return n >= 16 ? hex(p, md, 16) : NULL;
}

const char *mql_webhook_signature(apr_pool_t *p, const char *secret, const char *body,
                                  apr_size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len,
              md, &n))
        return NULL;
    return apr_pstrcat(p, "sha256=", hex(p, md, n), NULL);
}

const char *mql_webhook_display(apr_pool_t *p, const char *url)
{
    apr_uri_t u;

    if (apr_uri_parse(p, url, &u) != APR_SUCCESS || !u.scheme || !u.hostname)
        return "(invalid URL)";
    return apr_psprintf(p, "%s://%s%s%s/%s", u.scheme,
                        strchr(u.hostname, ':') ? apr_pstrcat(p, "[", u.hostname, "]", NULL)
                                                : u.hostname,
                        u.port_str ? ":" : "", u.port_str ? u.port_str : "",
                        u.path && strcmp(u.path, "/") ? "..." : "");
}

/* ------------------------------------------------------------ outbox */

uint32_t mql_outbox_backoff(unsigned attempts)
{
    if (attempts == 0)
        return 0;
    if (attempts > 9)               /* 2^9 > MQL_OUTBOX_BACKOFF_MAX */
        return MQL_OUTBOX_BACKOFF_MAX;
    return (1u << (attempts - 1)) < MQL_OUTBOX_BACKOFF_MAX ? 1u << (attempts - 1)
                                                           : MQL_OUTBOX_BACKOFF_MAX;
}

mql_delivery_state_t mql_outbox_after(int ok, uint32_t created, unsigned attempts,
                                      uint32_t now, uint32_t *next_try)
{
    *next_try = 0;
    if (ok)
        return MQL_DELIVERY_DELIVERED;
    /* a clock set back counts from now */
    if (now >= created && now - created >= MQL_OUTBOX_GIVE_UP)
        return MQL_DELIVERY_FAILED;
    *next_try = now + mql_outbox_backoff(attempts);
    return MQL_DELIVERY_PENDING;
}
