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
 * Applying a delta to a record (mql_delta.h), and its encoding.  Runs
 * under the store's lock in the request path: no allocation, no I/O.
 * mql_redis.lua's apply_delta is this function's twin, line for line:
 * change both, and t/vectors/delta.txt, together.
 */
#include <string.h>

#include "mql_le.h"
#include "mql_delta.h"
#include "mql_flood.h"
#include "mql_score.h"

_Static_assert(MQL_DELTA_ITEMS == 9, "mql_redis.lua's MAX_ITEMS says 9");
_Static_assert(MQL_DELTA_SETS == 2, "mql_redis.lua's MAX_SETS says 2");
_Static_assert(MQL_DELTA_ADDS == 4, "mql_redis.lua's MAX_ADDS says 4");

static uint16_t sat_inc16(uint16_t n) { return n == UINT16_MAX ? n : (uint16_t)(n + 1); }
static uint8_t sat_inc8(uint8_t n) { return n == UINT8_MAX ? n : (uint8_t)(n + 1); }

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* The record's country in the gate's list, case aside. */
static int country_listed(const mql_delta_t *d, const char cc[2])
{
    size_t i;

    if (!cc[0] || !cc[1])
        return 0;
    for (i = 0; i + 1 < sizeof d->countries && d->countries[i] && d->countries[i + 1]; i += 2)
        if (upper(d->countries[i]) == upper(cc[0]) && upper(d->countries[i + 1]) == upper(cc[1]))
            return 1;
    return 0;
}

int mql_delta_qualifies(const mql_visitor_t *v, const mql_delta_t *d)
{
    int ev;

    if (v->stage != MQL_STAGE_VISITOR || !(v->score >= d->threshold))
        return 0;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        if ((d->need_counts & MQL_EV_BIT(ev)) && v->counts[ev] < 1)
            return 0;
    return !d->need_country || country_listed(d, v->country);
}

/* The field a set names, when it is one a delta may set: a TEXT field
 * of the record with a name in Redis (the Lua twin sets it by name). */
static const mql_field_t *settable(unsigned field)
{
    const mql_field_t *f = field < MQL_FIELD_COUNT ? &mql_fields[field] : NULL;

    if (!f || f->type != MQL_FT_TEXT || !f->redis || strlen(f->redis) > MQL_DELTA_SET_NAME)
        return NULL;
    return f;
}

/* A set's value as the field takes it: at most its size less the NUL. */
static size_t set_len(const mql_field_t *f, const mql_delta_set_t *s)
{
    size_t max = f->size - 1 < sizeof s->value - 1 ? f->size - 1 : sizeof s->value - 1;

    return strnlen(s->value, max);
}

static void set_field(mql_visitor_t *v, const mql_delta_set_t *s)
{
    const mql_field_t *f = settable(s->field);
    char *at = f ? (char *)v + f->offset : NULL;
    size_t n = f ? set_len(f, s) : 0;

    if (!n || (*at && !s->replace))
        return;             /* nothing to set, or set before: a first touch stays */
    memset(at, 0, f->size);
    memcpy(at, s->value, n);
}

/* The field an add names, when it is one a delta may add to: a number
 * field of the record with a name in Redis. */
static const mql_field_t *addable(unsigned field)
{
    const mql_field_t *f = field < MQL_FIELD_COUNT ? &mql_fields[field] : NULL;

    if (!f || !mql_field_width(f) || !f->redis || strlen(f->redis) > MQL_DELTA_SET_NAME)
        return NULL;
    return f;
}

static const mql_field_t *add_target(const mql_delta_add_t *a)
{
    const mql_field_t *f = addable(a->field);

    return f && a->elem < mql_field_elems(f) ? f : NULL;
}

/* Saturating rather than wrapping: a counter that wrapped to 0 would
 * read as "never", and the Lua twin's numbers (doubles) do not wrap. */
static void add_field(mql_visitor_t *v, const mql_delta_add_t *a)
{
    const mql_field_t *f = add_target(a);
    uint64_t bits;

    if (!f || !a->value)
        return;
    bits = mql_field_get(f, v, a->elem);
    if (f->type == MQL_FT_F64) {
        double x;

        memcpy(&x, &bits, sizeof x);
        x += a->value;
        memcpy(&bits, &x, sizeof bits);
    }
    else {
        int64_t max = (int64_t)((UINT64_C(1) << (8 * mql_field_width(f))) - 1);
        int64_t x = (int64_t)bits + a->value;

        bits = (uint64_t)(x < 0 ? 0 : x > max ? max : x);
    }
    mql_field_set(f, v, a->elem, bits);
}

static int put_set(mql_delta_t *d, int field, const char *value, int replace)
{
    mql_delta_set_t *s = &d->sets[d->nsets];

    if (!value || !*value)
        return 1;           /* nothing to set */
    if (d->nsets >= MQL_DELTA_SETS || field < 0 || !settable((unsigned)field))
        return 0;
    s->field = (uint8_t)field;
    s->replace = (uint8_t)(replace != 0);
    memset(s->value, 0, sizeof s->value);
    memcpy(s->value, value, strnlen(value, sizeof s->value - 1));
    d->nsets++;
    return 1;
}

int mql_delta_set(mql_delta_t *d, int field, const char *value)
{
    return put_set(d, field, value, 0);
}

int mql_delta_replace(mql_delta_t *d, int field, const char *value)
{
    return put_set(d, field, value, 1);
}

int mql_delta_add(mql_delta_t *d, int field, unsigned elem, int32_t value)
{
    mql_delta_add_t a = { (uint8_t)field, (uint8_t)elem, value };
    unsigned i;

    if (field < 0 || elem > UINT8_MAX || !add_target(&a))
        return 0;
    /* the same number twice is one add: a hit's adds stay few */
    for (i = 0; i < d->nadds; i++)
        if (d->adds[i].field == a.field && d->adds[i].elem == a.elem) {
            int64_t sum = (int64_t)d->adds[i].value + value;

            d->adds[i].value = (int32_t)(sum > INT32_MAX ? INT32_MAX
                                         : sum < INT32_MIN ? INT32_MIN : sum);
            return 1;
        }
    if (d->nadds >= MQL_DELTA_ADDS)
        return 0;
    d->adds[d->nadds++] = a;
    return 1;
}

static void promote(mql_visitor_t *v, const mql_delta_t *d, uint32_t now)
{
    v->stage = MQL_STAGE_MQL;
    v->stage_since = now;
    v->trigger_event = d->trigger_event;
    /* no stale bytes in the record */
    memset(v->trigger, 0, sizeof v->trigger);
    memcpy(v->trigger, d->trigger, strnlen(d->trigger, sizeof v->trigger - 1));
}

int mql_delta_apply(mql_visitor_t *v, const mql_delta_t *d, uint32_t now)
{
    mql_visitor_t before = *v;      /* the record on the stack, no allocation */
    int was_lead = MQL_STAGE_IS_LEAD(v->stage), dirty;
    unsigned i, m;

    /* the score is kept as of last_seen: brought to now before adding */
    v->score = mql_decay(v->score, v->last_seen, now, d->half_life);
    for (i = 0; i < d->nitems && i < MQL_DELTA_ITEMS; i++) {
        const mql_delta_item_t *it = &d->items[i];

        if (it->slot != MQL_DELTA_UNCAPPED) {
            if (it->slot >= MQL_CAPPED_RULES || v->caps[it->slot] >= it->cap)
                continue;
            v->caps[it->slot] = sat_inc8(v->caps[it->slot]);
        }
        v->score += it->points;
    }
    if (d->has_fit && !(v->flags & MQL_VF_FIT)) {
        v->score += d->fit_points;
        v->flags |= MQL_VF_FIT;
    }
    if (d->country[0] && d->country[1] && !v->country[0]) {
        v->country[0] = d->country[0];
        v->country[1] = d->country[1];
    }
    for (i = 0; i < d->nsets && i < MQL_DELTA_SETS; i++)
        set_field(v, &d->sets[i]);
    for (i = 0; i < d->nadds && i < MQL_DELTA_ADDS; i++)
        add_field(v, &d->adds[i]);
    /* the events set, lowest first: a hit has one or two */
    for (m = d->events & (MQL_EV_BIT(MQL_EV_COUNT) - 1); m; m &= m - 1) {
        int ev = __builtin_ctz(m);

        v->counts[ev] = sat_inc16(v->counts[ev]);
    }
    /* a clock stepping back must not move the decay reference backwards */
    if (now > v->last_seen)
        v->last_seen = now;
    /* the flood limits are asked last, on the rare hit that would promote:
     * asking counts the promotion against the client's networks */
    if (!d->hold && mql_delta_qualifies(v, d)
        && (!d->flood || mql_lead_gate_admit(d->flood, v, now)))
        promote(v, d, now);
    /* the flags and site below are the store's notes, not a lead's figures */
    dirty = MQL_STAGE_IS_LEAD(v->stage) && memcmp(&before, v, sizeof *v) != 0;
    v->flags |= d->set_flags;
    if (!was_lead)
        v->site = d->site;          /* a lead stays with the site that made it */
    return dirty ? MQL_DELTA_DIRTY : MQL_DELTA_NONE;
}

/* ---- encoding ---------------------------------------------------------------- */

static char *put_text(char *b, const char *s, size_t max)
{
    size_t n = strnlen(s, max);

    b = mql_le_put(b, n, 2);
    memcpy(b, s, n);
    return b + n;
}

size_t mql_delta_encode(const mql_delta_t *d, char *buf)
{
    char *b = buf;
    uint64_t bits;
    unsigned i, n = d->nitems < MQL_DELTA_ITEMS ? d->nitems : MQL_DELTA_ITEMS;

    b = mql_le_put(b, d->events, 4);
    b = mql_le_put(b, d->half_life, 4);
    *b++ = (char)n;
    for (i = 0; i < n; i++) {
        b = mql_le_put(b, (uint32_t)d->items[i].points, 4);
        *b++ = (char)d->items[i].group;
        *b++ = (char)d->items[i].slot;
        *b++ = (char)d->items[i].cap;
    }
    *b++ = (char)(d->has_fit ? 1 : 0);
    b = mql_le_put(b, (uint32_t)d->fit_points, 4);
    /* a country only when both letters are there */
    *b++ = d->country[0] && d->country[1] ? d->country[0] : 0;
    *b++ = d->country[0] && d->country[1] ? d->country[1] : 0;
    *b++ = (char)d->set_flags;
    *b++ = (char)d->site;
    *b++ = (char)(d->need_country ? 1 : 0);
    *b++ = (char)(d->hold ? 1 : 0);
    b = mql_le_put(b, d->need_counts, 4);
    memcpy(&bits, &d->threshold, sizeof bits);
    b = mql_le_put(b, bits, 8);
    b = put_text(b, d->countries, sizeof d->countries - 1);
    *b++ = (char)d->trigger_event;
    b = put_text(b, d->trigger, MQL_TRIGGER_LEN - 1);
    /* only the sets an applier takes, their count first */
    for (i = 0, n = 0; i < d->nsets && i < MQL_DELTA_SETS; i++)
        if (settable(d->sets[i].field))
            n++;
    *b++ = (char)n;
    for (i = 0; i < d->nsets && i < MQL_DELTA_SETS; i++) {
        const mql_field_t *f = settable(d->sets[i].field);
        size_t len;

        if (!f)
            continue;
        len = strlen(f->redis);
        *b++ = (char)len;
        memcpy(b, f->redis, len);
        b += len;
        len = set_len(f, &d->sets[i]);
        b = mql_le_put(b, len, 2);
        memcpy(b, d->sets[i].value, len);
        b += len;
        *b++ = (char)(d->sets[i].replace ? 1 : 0);
    }
    for (i = 0, n = 0; i < d->nadds && i < MQL_DELTA_ADDS; i++)
        if (add_target(&d->adds[i]))
            n++;
    *b++ = (char)n;
    for (i = 0; i < d->nadds && i < MQL_DELTA_ADDS; i++) {
        const mql_field_t *f = add_target(&d->adds[i]);
        size_t len;

        if (!f)
            continue;
        len = strlen(f->redis);
        *b++ = (char)len;
        memcpy(b, f->redis, len);
        b += len;
        *b++ = (char)d->adds[i].elem;
        b = mql_le_put(b, (uint32_t)d->adds[i].value, 4);
    }
    return (size_t)(b - buf);
}

size_t mql_delta_decode(const char *s, size_t len, mql_delta_t *d)
{
    const unsigned char *b = (const unsigned char *)s, *end = b + len;
    uint64_t bits;
    size_t n;
    unsigned i;

    memset(d, 0, sizeof *d);
    if (len < 9 || b[8] > MQL_DELTA_ITEMS)
        return 0;
    d->events = (uint32_t)mql_le_get(b, 4);
    d->half_life = (uint32_t)mql_le_get(b + 4, 4);
    d->nitems = b[8];
    b += 9;
    if ((size_t)(end - b) < 7u * d->nitems + 5 + 2 + 4 + 4 + 8 + 2)
        return 0;
    for (i = 0; i < d->nitems; i++, b += 7) {
        d->items[i].points = (int32_t)(uint32_t)mql_le_get(b, 4);
        d->items[i].group = b[4];
        d->items[i].slot = b[5];
        d->items[i].cap = b[6];
    }
    d->has_fit = b[0];
    d->fit_points = (int32_t)(uint32_t)mql_le_get(b + 1, 4);
    d->country[0] = (char)b[5];
    d->country[1] = (char)b[6];
    d->set_flags = b[7];
    d->site = b[8];
    d->need_country = b[9];
    d->hold = b[10];
    d->need_counts = (uint32_t)mql_le_get(b + 11, 4);
    bits = mql_le_get(b + 15, 8);
    memcpy(&d->threshold, &bits, sizeof bits);
    n = (size_t)mql_le_get(b + 23, 2);
    b += 25;
    if (n >= sizeof d->countries || (size_t)(end - b) < n + 3)
        return 0;
    memcpy(d->countries, b, n);
    b += n;
    d->trigger_event = b[0];
    n = (size_t)mql_le_get(b + 1, 2);
    b += 3;
    if (n >= sizeof d->trigger || (size_t)(end - b) < n)
        return 0;
    memcpy(d->trigger, b, n);
    b += n;
    if (end - b < 1 || b[0] > MQL_DELTA_SETS)
        return 0;
    d->nsets = *b++;
    for (i = 0; i < d->nsets; i++) {
        const mql_field_t *f = NULL;
        int k;

        if (end - b < 1 || !(n = b[0]) || (size_t)(end - b) < 1 + n + 2)
            return 0;
        for (k = 0; k < MQL_FIELD_COUNT && !f; k++)
            if ((f = settable((unsigned)k)) && (strlen(f->redis) != n || memcmp(f->redis, b + 1, n)))
                f = NULL;
        if (!f)
            return 0;       /* a field no applier sets */
        d->sets[i].field = (uint8_t)(f - mql_fields);
        b += 1 + n;
        n = (size_t)mql_le_get(b, 2);
        b += 2;
        if (n >= f->size || n >= sizeof d->sets[i].value || (size_t)(end - b) < n + 1
            || b[n] > 1)
            return 0;
        memcpy(d->sets[i].value, b, n);
        b += n;
        d->sets[i].replace = *b++;
    }
    if (end - b < 1 || b[0] > MQL_DELTA_ADDS)
        return 0;
    d->nadds = *b++;
    for (i = 0; i < d->nadds; i++) {
        mql_delta_add_t *a = &d->adds[i];
        int k;

        if (end - b < 1 || !(n = b[0]) || (size_t)(end - b) < 1 + n + 1 + 4)
            return 0;
        a->field = MQL_FIELD_COUNT;
        for (k = 0; k < MQL_FIELD_COUNT; k++)
            if (addable((unsigned)k) && strlen(mql_fields[k].redis) == n
                && !memcmp(mql_fields[k].redis, b + 1, n))
                a->field = (uint8_t)k;
        a->elem = b[1 + n];
        a->value = (int32_t)(uint32_t)mql_le_get(b + 1 + n + 1, 4);
        if (!add_target(a))
            return 0;       /* a number no applier adds to */
        b += 1 + n + 1 + 4;
    }
    return (size_t)(b - (const unsigned char *)s);
}
