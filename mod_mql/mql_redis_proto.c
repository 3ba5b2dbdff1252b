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
 * MQLStore URLs, key names, the Function's arguments and the record's
 * fields (mql_redis_proto.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "apr_strings.h"
#include "mql_le.h"
#include "mql_redis_proto.h"
#include "mql_cookie.h"

/* ---- URL ---------------------------------------------------------------- */

static const char *parse_port(const char *s, int *port)
{
    char *end;
    long n = strtol(s, &end, 10);

    if (end == s || *end || n < 1 || n > 65535)
        return "a port from 1 to 65535";
    *port = (int)n;
    return NULL;
}

/* HOST:PORT, or [V6]:PORT */
static const char *parse_hostport(apr_pool_t *p, const char *s, const char **host, int *port)
{
    const char *colon;

    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return "HOST:PORT ([ADDRESS]:PORT for IPv6)";
        *host = apr_pstrndup(p, s + 1, (apr_size_t)(close - s - 1));
        colon = close + 1;
    }
    else {
        colon = strrchr(s, ':');
        if (!colon || colon == s)
            return "HOST:PORT";
        *host = apr_pstrndup(p, s, (apr_size_t)(colon - s));
    }
    if (!**host || strchr(*host, '/') || strchr(*host, '@'))
        return "HOST:PORT";
    return parse_port(colon + 1, port);
}

const char *mql_redis_url_parse(apr_pool_t *p, const char *text, mql_redis_url_t *out)
{
    const char *rest, *at, *slash, *err;
    char *hostpart;

    memset(out, 0, sizeof *out);
    if (!strncasecmp(text, "redis+unix://", 13)) {
        out->kind = MQL_REDIS_UNIX;
        out->path = text + 13;
        if (out->path[0] != '/' || out->path[1] == '\0')
            return "redis+unix:///absolute/path/to/socket";
        return NULL;
    }
    if (!strncasecmp(text, "redis-cluster://", 16)) {
        char *list = apr_pstrdup(p, text + 16), *tok, *state, *cat;
        int n = 1;

        out->kind = MQL_REDIS_CLUSTER;
        /* [USER:]PASSWORD@ before the nodes: every node is sent AUTH */
        if ((cat = strrchr(list, '@'))) {
            char *colon;

            *cat = '\0';
            if ((colon = strchr(list, ':'))) {
                *colon = '\0';
                out->user = *list ? list : NULL;
                out->password = colon + 1;
            }
            else
                out->password = list;
            if (!*out->password)
                return "redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...] with a "
                       "password after the colon";
            list = cat + 1;
        }
        /* an empty node ("a,,b", a trailing comma) is a mistake, not skipped */
        if (!*list || *list == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
            return "redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]";
        for (tok = list; *tok; tok++)
            n += *tok == ',';
        out->nodes = apr_pcalloc(p, sizeof *out->nodes * (apr_size_t)n);
        for (tok = apr_strtok(list, ",", &state); tok; tok = apr_strtok(NULL, ",", &state)) {
            mql_redis_node_t *nd = &out->nodes[out->nnodes];
            if ((err = parse_hostport(p, tok, &nd->host, &nd->port)))
                return "redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]";
            out->nnodes++;
        }
        if (!out->nnodes)
            return "redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]";
        out->host = out->nodes[0].host;
        out->port = out->nodes[0].port;
        return NULL;
    }
    if (strncasecmp(text, "redis://", 8))
        return "shm, redis://[USER:PASSWORD@]HOST:PORT[/DB], redis+unix:///PATH or "
               "redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]";
    out->kind = MQL_REDIS_TCP;
    rest = text + 8;
    at = strrchr(rest, '@');
    if (at) {
        const char *cred = apr_pstrndup(p, rest, (apr_size_t)(at - rest));
        const char *colon = strchr(cred, ':');

        if (colon) {
            out->user = colon == cred ? NULL : apr_pstrndup(p, cred, (apr_size_t)(colon - cred));
            out->password = colon + 1;
        }
        else
            out->password = cred;
        if (!*out->password)
            return "redis://[USER:PASSWORD@]HOST:PORT[/DB] with a password after the colon";
        rest = at + 1;
    }
    slash = strchr(rest, '/');
    hostpart = slash ? apr_pstrndup(p, rest, (apr_size_t)(slash - rest)) : apr_pstrdup(p, rest);
    if (parse_hostport(p, hostpart, &out->host, &out->port))
        return "redis://[USER:PASSWORD@]HOST:PORT[/DB]";
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);

        if (*end || db < 0 || db > 1000000)
            return "redis://[USER:PASSWORD@]HOST:PORT[/DB] with DB a number";
        out->db = (int)db;
    }
    return NULL;
}

/* ---- MQLStateDir/store ------------------------------------------------------ */

static const char *hostport(apr_pool_t *p, const char *host, int port)
{
    return apr_psprintf(p, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

const char *mql_redis_store_format(apr_pool_t *p, const mql_redis_url_t *url)
{
    const char *u;
    int i;

    if (url->kind == MQL_REDIS_UNIX)
        u = apr_pstrcat(p, "redis+unix://", url->path, NULL);
    else if (url->kind == MQL_REDIS_CLUSTER) {
        u = "redis-cluster://";
        for (i = 0; i < url->nnodes; i++)
            u = apr_pstrcat(p, u, i ? "," : "", hostport(p, url->nodes[i].host,
                                                         url->nodes[i].port), NULL);
    }
    else
        u = apr_psprintf(p, "redis://%s/%d", hostport(p, url->host, url->port), url->db);
    return apr_pstrcat(p, "# the Redis of MQLStore, for mqlctl (written at each start)\n",
                       "url=", u, "\nuser=", url->user ? url->user : "", "\n", NULL);
}

const char *mql_redis_store_parse(apr_pool_t *p, const char *text, mql_redis_url_t *out)
{
    const char *url = NULL, *user = NULL, *err;
    char *copy = apr_pstrdup(p, text), *line, *state;

    for (line = apr_strtok(copy, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
        if (!strncmp(line, "url=", 4))
            url = line + 4;
        else if (!strncmp(line, "user=", 5))
            user = line + 5;
    }
    if (!url)
        return "no url= line";
    /* credentials are never in this file: an '@' would make them */
    if (strchr(url, '@') || (err = mql_redis_url_parse(p, url, out)))
        return apr_pstrcat(p, "url= is not an MQLStore URL without credentials", NULL);
    out->user = user && *user ? user : NULL;
    out->password = NULL;
    return NULL;
}

const char *mql_redis_password_text(apr_pool_t *p, const char *buf, size_t len)
{
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    if (!len || memchr(buf, '\0', len))
        return NULL;
    return apr_pstrmemdup(p, buf, len);
}

/* ---- keys ---------------------------------------------------------------- */

unsigned mql_redis_shard(const uint8_t id[MQL_ID_BYTES])
{
    /* the ID is random: its first byte spreads visitors evenly */
    return id[0] % MQL_RQ_SHARDS;
}

void mql_redis_key_visitor(char *buf, const uint8_t id[MQL_ID_BYTES])
{
    char text[MQL_ID_TEXT_LEN + 1];

    mql_id_to_text(id, text);
    snprintf(buf, MQL_REDIS_KEY_LEN, "mql:{mql%u}:v:%s", mql_redis_shard(id), text);
}

void mql_redis_key_seq(char *buf, unsigned shard)
{
    snprintf(buf, MQL_REDIS_KEY_LEN, "mql:{mql%u}:seq", shard % MQL_RQ_SHARDS);
}

void mql_redis_key_stream(char *buf, unsigned shard)
{
    snprintf(buf, MQL_REDIS_KEY_LEN, "mql:{mql%u}:changes", shard % MQL_RQ_SHARDS);
}

void mql_redis_key_totals(char *buf, unsigned shard)
{
    snprintf(buf, MQL_REDIS_KEY_LEN, "mql:{mql%u}:totals", shard % MQL_RQ_SHARDS);
}

void mql_redis_key_servers(char *buf)
{
    /* shard 0's hash tag: on a cluster it lives with that shard, so the
     * sync thread finds its node as it finds the shard's */
    snprintf(buf, MQL_REDIS_KEY_LEN, "mql:{mql0}:servers");
}

/* ---- the Function's entries, binary ------------------------------------------ */

static char *put_double(char *b, double d)
{
    uint64_t bits;

    memcpy(&bits, &d, sizeof bits);
    return mql_le_put(b, bits, 8);
}

#define ENTRY_HEAD (1 + 16 + 8 + MQL_ID_TEXT_LEN + 4)
_Static_assert(ENTRY_HEAD + 4 + MQL_DELTA_MAX <= MQL_REDIS_ENTRY_MAX
               && ENTRY_HEAD + 2 + MQL_CONTACT_LEN + 4 <= MQL_REDIS_ENTRY_MAX,
               "an entry fits MQL_REDIS_ENTRY_MAX");

size_t mql_redis_entry_binary(const mql_rq_entry_t *e, uint32_t expire, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    char *b = buf, id[MQL_ID_TEXT_LEN + 1];
    size_t n;
    int i;

    *b++ = (char)e->kind;
    for (i = 15; i >= 0; i--)
        *b++ = hex[(e->origin >> (4 * i)) & 15];
    b = put_double(b, (double)e->seq);
    mql_id_to_text(e->id, id);
    memcpy(b, id, MQL_ID_TEXT_LEN);
    b += MQL_ID_TEXT_LEN;
    b = mql_le_put(b, e->time, 4);
    switch (e->kind) {
    case MQL_RQ_HIT:
        b = mql_le_put(b, expire, 4);
        b += mql_delta_encode(&e->hit, b);
        break;
    case MQL_RQ_STAGE:
        *b++ = (char)e->stage;
        b = mql_le_put(b, expire, 4);
        break;
    case MQL_RQ_CONTACT:
        n = strnlen(e->contact, sizeof e->contact);
        b = mql_le_put(b, n, 2);
        memcpy(b, e->contact, n);
        b = mql_le_put(b + n, expire, 4);
        break;
    default:
        break;
    }
    return (size_t)(b - buf);
}

/* ---- the record's fields ---------------------------------------------------- */

static int field_is(const char *f, size_t len, const char *name)
{
    return strlen(name) == len && !memcmp(f, name, len);
}

static unsigned long num(const char *s, size_t len, unsigned long max)
{
    char buf[24];
    unsigned long n;

    if (len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    n = strtoul(buf, NULL, 10);
    return n > max ? max : n;
}

/* What a record from Redis may say, whichever way it came: a stage and
 * a trigger event this build names. */
static void bound_record(mql_visitor_t *v)
{
    if (v->stage >= MQL_STAGE_COUNT)
        v->stage = MQL_STAGE_COUNT - 1;
    if (v->trigger_event >= MQL_EV_COUNT)
        v->trigger_event = MQL_EV_COUNT - 1;
}

/* Field f (element *elem) named by a pair, or NULL. */
static const mql_field_t *pair_field(const char *name, size_t len, size_t *elem)
{
    int i;

    for (i = 0; i < MQL_FIELD_COUNT; i++) {
        const mql_field_t *f = &mql_fields[i];
        size_t rl = f->redis ? strlen(f->redis) : 0;

        if (!rl || len < rl || memcmp(name, f->redis, rl))
            continue;
        if (mql_field_elems(f) > 1 && mql_field_width(f)) {
            unsigned long k = num(name + rl, len - rl, ULONG_MAX);
            if (len == rl || len - rl > 3 || strspn(name + rl, "0123456789") < len - rl
                || k >= mql_field_elems(f))
                continue;
            *elem = k;
            return f;
        }
        if (len == rl) {
            *elem = 0;
            return f;
        }
    }
    return NULL;
}

static void copy_text(char *to, size_t size, const char *s, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;

    memcpy(to, s, n);
    to[n] = '\0';
}

int mql_redis_record_from_pairs(const char *const *fields, const size_t *lens, int n,
                                const uint8_t id[MQL_ID_BYTES], mql_visitor_t *v,
                                char *contact)
{
    int i, have = 0;

    memset(v, 0, sizeof *v);
    memcpy(v->id, id, MQL_ID_BYTES);
    if (contact)
        contact[0] = '\0';
    for (i = 0; i + 1 < n; i += 2) {
        const char *x = fields[i + 1];
        size_t xl = lens[i + 1], elem;
        const mql_field_t *f = pair_field(fields[i], lens[i], &elem);
        char *at;

        if (!f) {
            if (field_is(fields[i], lens[i], "contact") && contact)
                copy_text(contact, MQL_CONTACT_LEN, x, xl);
            continue;
        }
        at = (char *)v + f->offset;
        if (f->type == MQL_FT_F64) {
            char buf[40];
            double d;
            if (xl >= sizeof buf)
                continue;
            memcpy(buf, x, xl);
            buf[xl] = '\0';
            d = strtod(buf, NULL);
            memcpy(at + elem * 8, &d, 8);
        }
        else if (mql_field_width(f)) {
            size_t w = mql_field_width(f);
            unsigned long max = w >= 4 ? UINT32_MAX : w == 2 ? UINT16_MAX : UINT8_MAX;
            mql_field_set(f, v, elem, num(x, xl, max));
        }
        else if (f->type == MQL_FT_TEXT)
            copy_text(at, f->size, x, xl);
        else if (xl == f->size)
            memcpy(at, x, xl);
        /* a record's pairs always carry its first field */
        if (f == &mql_fields[1])
            have = 1;
    }
    bound_record(v);
    return have;
}

/* Format 1, as the Function library wrote records before the layout
 * came from mql_fields.h: kept readable, as Redis keeps leads for good. */
static int record_from_v1(const unsigned char *b, size_t len, mql_visitor_t *v, char *contact)
{
    uint64_t bits;
    size_t tl, cl;
    int i;

    if (len < MQL_REDIS_RECORD_MIN)
        return 0;
    tl = mql_le_get(b + 49, 2);
    if (len < MQL_REDIS_RECORD_MIN + tl)
        return 0;
    cl = mql_le_get(b + 51 + tl, 2);
    if (len != MQL_REDIS_RECORD_MIN + tl + cl)
        return 0;
    bits = (uint64_t)mql_le_get(b + 5, 4) << 32 | mql_le_get(b + 1, 4);
    memcpy(&v->score, &bits, sizeof v->score);
    v->first_seen = mql_le_get(b + 9, 4);
    v->last_seen = mql_le_get(b + 13, 4);
    v->stage_since = mql_le_get(b + 17, 4);
    for (i = 0; i < MQL_EV_COUNT && i < 7; i++)
        v->counts[i] = (uint16_t)mql_le_get(b + 21 + 2 * i, 2);
    v->stage = b[35];
    v->trigger_event = b[36];
    v->site = b[37];
    v->flags = b[38];
    for (i = 0; i < MQL_CAPPED_RULES && i < 8; i++)
        v->caps[i] = b[39 + i];
    v->country[0] = (char)b[47];
    v->country[1] = (char)b[48];
    copy_text(v->trigger, sizeof v->trigger, (const char *)b + 51, tl);
    if (contact)
        copy_text(contact, MQL_CONTACT_LEN, (const char *)b + 53 + tl, cl);
    return 1;
}

/* The Redis fields in list order: what format 2 holds after the contact. */
#define REDIS_FIELD(f) ((f)->redis != NULL)

/* Format 2: the fields as mql_fields.h lists them (mql_redis_layout_lua). */
static int record_from_v2(const unsigned char *b, size_t len, mql_visitor_t *v, char *contact)
{
    const unsigned char *end = b + len;
    size_t cl;
    int i, want, got = 0;

    if (len < 4)
        return 0;
    want = b[1];
    cl = mql_le_get(b + 2, 2);
    b += 4;
    if ((size_t)(end - b) < cl)
        return 0;
    if (contact)
        copy_text(contact, MQL_CONTACT_LEN, (const char *)b, cl);
    b += cl;
    for (i = 0; i < MQL_FIELD_COUNT && got < want; i++) {
        const mql_field_t *f = &mql_fields[i];
        size_t w = mql_field_width(f), k, tl;

        if (!REDIS_FIELD(f))
            continue;
        got++;
        if (w) {
            if ((size_t)(end - b) < f->size)
                return 0;
            /* numbers little-endian as the machine keeps them: a copy (an
             * element at a time cost the sync thread ~2 500 instructions a
             * record under callgrind) */
            if (!APR_IS_BIGENDIAN)
                memcpy((char *)v + f->offset, b, f->size);
            else
                for (k = 0; k < mql_field_elems(f); k++)
                    mql_field_set(f, v, k, mql_le_get(b + k * w, w));
            b += f->size;
        }
        else if (f->type == MQL_FT_TEXT) {
            if (end - b < 2 || (size_t)(end - b - 2) < (tl = mql_le_get(b, 2)))
                return 0;
            copy_text((char *)v + f->offset, f->size, (const char *)b + 2, tl);
            b += 2 + tl;
        }
        else {
            if ((size_t)(end - b) < f->size)
                return 0;
            memcpy((char *)v + f->offset, b, f->size);
            b += f->size;
        }
    }
    if (got == want)
        return b == end;
    /* fields of a newer build past this one's: theirs to read */
    return 1;
}

int mql_redis_record_from_binary(const char *s, size_t len, const uint8_t id[MQL_ID_BYTES],
                                 mql_visitor_t *v, char *contact)
{
    const unsigned char *b = (const unsigned char *)s;
    int ok;

    if (len < 1 || (b[0] != 1 && b[0] != MQL_REDIS_RECORD_FORMAT))
        return 0;
    memset(v, 0, sizeof *v);
    if (contact)
        contact[0] = '\0';
    ok = b[0] == 1 ? record_from_v1(b, len, v, contact) : record_from_v2(b, len, v, contact);
    memcpy(v->id, id, MQL_ID_BYTES);
    bound_record(v);
    return ok;
}

size_t mql_redis_record_binary(const mql_visitor_t *v, const char *contact, char *buf)
{
    unsigned char *b = (unsigned char *)buf;
    size_t cl = contact ? strnlen(contact, MQL_CONTACT_LEN - 1) : 0, n;
    int i, fields = 0;

    for (i = 0; i < MQL_FIELD_COUNT; i++)
        fields += REDIS_FIELD(&mql_fields[i]);
    b[0] = MQL_REDIS_RECORD_FORMAT;
    b[1] = (unsigned char)fields;
    mql_le_put((char *)b + 2, cl, 2);
    if (cl)
        memcpy(b + 4, contact, cl);
    n = 4 + cl;
    for (i = 0; i < MQL_FIELD_COUNT; i++) {
        const mql_field_t *f = &mql_fields[i];
        size_t w = mql_field_width(f), k;
        const char *at = (const char *)v + f->offset;

        if (!REDIS_FIELD(f))
            continue;
        if (w) {
            if (!APR_IS_BIGENDIAN)
                memcpy(b + n, at, f->size);
            else
                for (k = 0; k < mql_field_elems(f); k++)
                    mql_le_put((char *)b + n + k * w, mql_field_get(f, v, k), (int)w);
            n += f->size;
        }
        else if (f->type == MQL_FT_TEXT) {
            size_t tl = strnlen(at, f->size - 1);
            mql_le_put((char *)b + n, tl, 2);
            memcpy(b + n + 2, at, tl);
            n += 2 + tl;
        }
        else {
            memcpy(b + n, at, f->size);
            n += f->size;
        }
    }
    return n;
}

/* ---- the Function library's record layout ------------------------------------ */

char *mql_redis_layout_lua(apr_pool_t *p)
{
    char *layout = "", *formats = "", *fmt = "<BBHc0";
    int i, n = 0;

    for (i = 0; i < MQL_FIELD_COUNT; i++) {
        const mql_field_t *f = &mql_fields[i];
        size_t w = mql_field_width(f), k, count = mql_field_elems(f);
        const char *kind, *elem;

        if (!REDIS_FIELD(f))
            continue;
        if (w) {
            kind = "n";
            elem = f->type == MQL_FT_F64 ? "d" : w == 4 ? "I4" : w == 2 ? "H" : "B";
            for (k = 0; k < count; k++)
                fmt = apr_pstrcat(p, fmt, elem, NULL);
        }
        else if (f->type == MQL_FT_TEXT) {
            kind = "s";
            elem = "Hc0";
            count = 1;
            fmt = apr_pstrcat(p, fmt, elem, NULL);
        }
        else {
            kind = "c";
            count = f->size;
            elem = apr_psprintf(p, "c%lu", (unsigned long)f->size);
            fmt = apr_pstrcat(p, fmt, elem, NULL);
        }
        layout = apr_psprintf(p, "%s    { '%s', '%s', %lu, '%s' },\n", layout, f->redis, kind,
                              (unsigned long)count, elem);
        formats = apr_psprintf(p, "%s    '%s',\n", formats, fmt);
        n++;
    }
    return apr_psprintf(p, "-- generated from mql_fields.h (mql_redis_layout_lua): the\n"
                        "-- record's fields, each { name, kind, elements, struct format },\n"
                        "-- kind 'n' a number (elements > 1: an array from 0), 's' a string,\n"
                        "-- 'c' a fixed-width code; RECORD_FORMATS[i] unpacks a record of\n"
                        "-- the first i fields\n"
                        "local RECORD_FORMAT = %d\n"
                        "local RECORD_LAYOUT = {\n%s}\n"
                        "local RECORD_FORMATS = { [0] = '<BBHc0',\n%s}\n",
                        MQL_REDIS_RECORD_FORMAT, layout, formats);
}

char *mql_redis_library(apr_pool_t *p, const char *source)
{
    const char *at = strstr(source, MQL_REDIS_LAYOUT_MARK);
    const char *eol = at ? strchr(at, '\n') : NULL, *bol = at;

    if (!eol)
        return apr_pstrdup(p, source);
    while (bol > source && bol[-1] != '\n')
        bol--;
    return apr_pstrcat(p, apr_pstrndup(p, source, (size_t)(bol - source)),
                       mql_redis_layout_lua(p), eol + 1, NULL);
}
