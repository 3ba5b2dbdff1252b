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
 * Touches: reading one from a page view, its ID, and the dictionary of
 * IDs (mql_touch.h).  The dictionary runs in the request path, in shared
 * memory: no allocation, no system call but sched_yield, bounded work.
 */
#include <string.h>
#include <strings.h>
#include <sched.h>
#include <apr_atomic.h>
#include <apr_siphash.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_lib.h>

#include "mql_touch.h"
#include "mql_parse.h"
#include "mql_json.h"
#include "mql_jring.h"

/* ---- reading a touch -------------------------------------------------- */

/* s (n bytes) into out (size bytes, NUL included), as every client
 * string is kept: spaces at both ends trimmed, a control byte or an
 * invalid UTF-8 sequence one '?', cut at a character's end. */
static void keep_text(const char *s, size_t n, char *out, size_t size)
{
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    size_t o = 0;

    while (u < end && (*u == ' ' || *u == '\t'))
        u++;
    while (end > u && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    while (u < end) {
        size_t len = mql_utf8_len(u, (size_t)(end - u), NULL);

        if (!len) {
            if (o + 1 >= size)
                break;
            out[o++] = '?';
            u += mql_utf8_invalid_len(u, (size_t)(end - u));
            continue;
        }
        if (o + len >= size)
            break;
        if (len == 1 && (*u < 0x20 || *u == 0x7f))
            out[o++] = '?';
        else
            memcpy(out + o, u, len), o += len;
        u += len;
    }
    out[o] = '\0';
}

/* A query parameter's decoded value, kept as above; 1 when not empty. */
static int utm(const char *query, const char *name, char *out, size_t size)
{
    char raw[256];

    out[0] = '\0';
    if (!query || !mql_query_param(query, name, raw, sizeof raw))
        return 0;
    keep_text(raw, strlen(raw), out, size);
    return out[0] != '\0';
}

static const char *without_www(const char *h)
{
    return strncasecmp(h, "www.", 4) ? h : h + 4;
}

int mql_touch_read(const char *path, const char *query, const char *referer,
                   const char *own_host, mql_touch_t *t)
{
    char host[MQL_JHOST_LEN];
    int has_source, has_medium, has_campaign, referred;
    char *c;

    memset(t, 0, sizeof *t);
    keep_text(path ? path : "", path ? strcspn(path, "?#") : 0, t->landing, sizeof t->landing);
    /* only the parameters' names are looked for: a query without "utm_"
     * costs one search */
    if (query && strstr(query, "utm_")) {
        has_source = utm(query, "utm_source", t->source, sizeof t->source);
        has_medium = utm(query, "utm_medium", t->medium, sizeof t->medium);
        has_campaign = utm(query, "utm_campaign", t->campaign, sizeof t->campaign);
    }
    else
        has_source = has_medium = has_campaign = 0;
    mql_jring_referer_host(referer, host);
    for (c = host; *c; c++)
        *c = apr_tolower(*c);
    referred = host[0] && !(own_host && !strcasecmp(without_www(host), without_www(own_host)));
    if (!has_source)
        apr_cpystrn(t->source, referred ? host : "direct", sizeof t->source);
    if (!has_medium)
        apr_cpystrn(t->medium, referred ? "referral" : "direct", sizeof t->medium);
    return has_source || has_medium || has_campaign || referred;
}

void mql_touch_id(const uint8_t key[MQL_KEY_BYTES], const mql_touch_t *t,
                  char id[MQL_TOUCH_ID_LEN])
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* the strings with their NULs: "a","bc" and "ab","c" differ */
    char buf[6 + sizeof(mql_touch_t)];
    size_t n = 0;
    uint64_t h;
    int i;

    memcpy(buf, "touch", 6);            /* not a cookie's MAC under the same key */
    n = 6;
#define PUT(s) do { size_t l_ = strnlen(s, sizeof s - 1); \
                    memcpy(buf + n, s, l_); n += l_; buf[n++] = '\0'; } while (0)
    PUT(t->source);
    PUT(t->medium);
    PUT(t->campaign);
    PUT(t->landing);
#undef PUT
    h = apr_siphash24(buf, n, key);
    for (i = 0; i < MQL_TOUCH_ID_LEN - 1; i++, h >>= 6)
        id[i] = digits[h & 63];
    id[MQL_TOUCH_ID_LEN - 1] = '\0';
}

const char *mql_touch_get(const mql_touch_t *t, const char *dimension)
{
    if (!strcmp(dimension, "source"))
        return t->source;
    if (!strcmp(dimension, "medium"))
        return t->medium;
    if (!strcmp(dimension, "campaign"))
        return t->campaign;
    if (!strcmp(dimension, "landing"))
        return t->landing;
    return NULL;
}

/* ---- the dictionary --------------------------------------------------- */

#define DICT_MAGIC 0x4d514c54u          /* "MQLT" */
#define LOCK_TRIES 1000
#define LOCK_STALE 2                    /* seconds: a holder that died */

typedef struct entry {
    char id[MQL_TOUCH_ID_LEN];          /* "" when free */
    uint32_t last_used;
    uint8_t held;                       /* a lead holds it */
    uint8_t shared;                     /* the fleet has it (or needs none) */
    uint8_t pad[2];
    mql_touch_t t;
} entry_t;

struct mql_touch_dict {
    uint32_t magic;
    uint32_t capacity;
    /* 0 when free, else 1 + the second it was taken: a process that died
     * holding it (no call in between can fail) is outwaited, not waited */
    volatile apr_uint32_t lock;
    uint32_t used, held;
    volatile apr_uint32_t unshared;     /* entries made here the fleet lacks */
    uint64_t added, replaced, overflow, busy;
    entry_t e[];
};

size_t mql_touch_dict_size(uint32_t capacity)
{
    return sizeof(mql_touch_dict_t) + (size_t)capacity * sizeof(entry_t);
}

mql_touch_dict_t *mql_touch_dict_attach(void *mem, uint32_t capacity, int fresh)
{
    mql_touch_dict_t *d = mem;

    if (!mem || !capacity)
        return NULL;
    if (fresh || d->magic != DICT_MAGIC || d->capacity != capacity) {
        memset(d, 0, mql_touch_dict_size(capacity));
        d->capacity = capacity;
        d->magic = DICT_MAGIC;
    }
    return d;
}

static int lock(mql_touch_dict_t *d, uint32_t now)
{
    int i;

    for (i = 0; i < LOCK_TRIES; i++) {
        apr_uint32_t was = apr_atomic_cas32(&d->lock, now + 1, 0);

        if (!was)
            return 1;
        if (now > LOCK_STALE && was - 1 < now - LOCK_STALE
            && apr_atomic_cas32(&d->lock, now + 1, was) == was)
            return 1;
        sched_yield();
    }
    d->busy++;              /* not under the lock: a count, not a figure */
    return 0;
}

static void unlock(mql_touch_dict_t *d)
{
    apr_atomic_set32(&d->lock, 0);
}

static uint32_t home(const mql_touch_dict_t *d, const char *id)
{
    uint32_t h = 2166136261u;
    int i;

    for (i = 0; i < MQL_TOUCH_ID_LEN - 1 && id[i]; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    return h % d->capacity;
}

static int id_ok(const char *id)
{
    return id && strnlen(id, MQL_TOUCH_ID_LEN) == MQL_TOUCH_ID_LEN - 1;
}

/* id's entry, or NULL; under the lock */
static entry_t *find(mql_touch_dict_t *d, const char *id)
{
    uint32_t at = home(d, id), i;

    for (i = 0; i < MQL_TOUCH_PROBE && i < d->capacity; i++) {
        entry_t *e = &d->e[(at + i) % d->capacity];

        if (!memcmp(e->id, id, MQL_TOUCH_ID_LEN))
            return e;
    }
    return NULL;
}

static uint32_t now_of(const mql_touch_dict_t *d)
{
    (void)d;
    return (uint32_t)apr_time_sec(apr_time_now());
}

static int put(mql_touch_dict_t *d, const char *id, const mql_touch_t *t, uint32_t now,
               uint32_t idle, int shared)
{
    entry_t *e, *free_e = NULL, *victim = NULL;
    uint32_t at, i;

    if (!d || !id_ok(id) || !lock(d, now))
        return 0;
    at = home(d, id);
    for (i = 0; i < MQL_TOUCH_PROBE && i < d->capacity; i++) {
        e = &d->e[(at + i) % d->capacity];
        if (!memcmp(e->id, id, MQL_TOUCH_ID_LEN)) {
            if (now > e->last_used)
                e->last_used = now;
            unlock(d);
            return 1;
        }
        if (!e->id[0]) {
            if (!free_e)
                free_e = e;
        }
        else if (!e->held && e->last_used + (uint64_t)idle < now
                 && (!victim || e->last_used < victim->last_used))
            victim = e;
    }
    e = free_e ? free_e : victim;
    if (!e) {
        d->overflow++;
        unlock(d);
        return 0;
    }
    if (e == victim) {
        d->replaced++;
        if (!e->shared)
            apr_atomic_dec32(&d->unshared);
    }
    else
        d->used++;
    d->added++;
    memcpy(e->id, id, MQL_TOUCH_ID_LEN);
    e->last_used = now;
    e->held = 0;
    e->shared = (uint8_t)(shared != 0);
    if (!shared)
        apr_atomic_inc32(&d->unshared);
    e->t = *t;
    /* the strings as a reader may trust them: terminated */
    e->t.source[sizeof e->t.source - 1] = e->t.medium[sizeof e->t.medium - 1] = '\0';
    e->t.campaign[sizeof e->t.campaign - 1] = e->t.landing[sizeof e->t.landing - 1] = '\0';
    unlock(d);
    return 1;
}

int mql_touch_dict_put(mql_touch_dict_t *d, const char *id, const mql_touch_t *t,
                       uint32_t now, uint32_t idle)
{
    return put(d, id, t, now, idle, 0);
}

int mql_touch_dict_learn(mql_touch_dict_t *d, const char *id, const mql_touch_t *t,
                         uint32_t now, uint32_t idle)
{
    return put(d, id, t, now, idle, 1);
}

unsigned mql_touch_dict_unshared(mql_touch_dict_t *d, char (*ids)[MQL_TOUCH_ID_LEN],
                                 mql_touch_t *ts, unsigned max, int held_only)
{
    unsigned n = 0;
    uint32_t i;

    /* the request path's cost of a fleet: none until something is new */
    if (!d || !apr_atomic_read32(&d->unshared) || !lock(d, now_of(d)))
        return 0;
    for (i = 0; i < d->capacity && n < max; i++) {
        entry_t *e = &d->e[i];

        if (!e->id[0] || e->shared)
            continue;
        e->shared = 1;
        apr_atomic_dec32(&d->unshared);
        if (held_only && !e->held)
            continue;       /* the fleet's dictionary is full: leads' only */
        memcpy(ids[n], e->id, MQL_TOUCH_ID_LEN);
        ts[n++] = e->t;
    }
    unlock(d);
    return n;
}

size_t mql_touch_pack(const mql_touch_t *t, char *buf)
{
    size_t n = 0;

#define PACK(s) do { size_t l_ = strnlen(s, sizeof s - 1); \
                     memcpy(buf + n, s, l_); n += l_; buf[n++] = '\0'; } while (0)
    PACK(t->source);
    PACK(t->medium);
    PACK(t->campaign);
    PACK(t->landing);
#undef PACK
    return n;
}

int mql_touch_unpack(const char *s, size_t len, mql_touch_t *t)
{
    const char *end = s + len, *p = s;
    char *field[4];
    size_t size[4] = { sizeof t->source, sizeof t->medium, sizeof t->campaign,
                       sizeof t->landing };
    int i;

    field[0] = t->source;
    field[1] = t->medium;
    field[2] = t->campaign;
    field[3] = t->landing;
    memset(t, 0, sizeof *t);
    for (i = 0; i < 4; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));

        if (!nul)
            return 0;
        /* another server's strings, neutralised as a client's would be */
        keep_text(p, (size_t)(nul - p), field[i], size[i]);
        p = nul + 1;
    }
    return p == end && t->source[0];
}

int mql_touch_dict_get(mql_touch_dict_t *d, const char *id, mql_touch_t *t)
{
    entry_t *e;

    if (!d || !id_ok(id) || !lock(d, now_of(d)))
        return 0;
    if ((e = find(d, id)))
        *t = e->t;
    unlock(d);
    return e != NULL;
}

void mql_touch_dict_hold(mql_touch_dict_t *d, const char *id)
{
    entry_t *e;

    if (!d || !id_ok(id) || !lock(d, now_of(d)))
        return;
    if ((e = find(d, id)) && !e->held) {
        e->held = 1;
        d->held++;
    }
    unlock(d);
}

uint32_t mql_touch_dict_expire(mql_touch_dict_t *d, uint32_t before)
{
    uint32_t i, n = 0;

    if (!d || !lock(d, now_of(d)))
        return 0;
    /* a free place in the middle of a run is no end of it (find looks
     * at every place of the probe window), so entries may simply go */
    for (i = 0; i < d->capacity; i++) {
        entry_t *e = &d->e[i];

        if (e->id[0] && !e->held && e->last_used < before) {
            if (!e->shared)
                apr_atomic_dec32(&d->unshared);
            memset(e, 0, sizeof *e);
            d->used--;
            n++;
        }
    }
    unlock(d);
    return n;
}

void mql_touch_dict_stats(mql_touch_dict_t *d, mql_touch_stats_t *st)
{
    memset(st, 0, sizeof *st);
    if (!d)
        return;
    st->capacity = d->capacity;
    st->used = d->used;
    st->held = d->held;
    st->added = d->added;
    st->replaced = d->replaced;
    st->overflow = d->overflow;
    st->busy = d->busy;
}

static mql_touch_dict_t *current;

void mql_touch_dict_use(mql_touch_dict_t *d)
{
    current = d;
}

mql_touch_dict_t *mql_touch_dict_current(void)
{
    return current;
}
