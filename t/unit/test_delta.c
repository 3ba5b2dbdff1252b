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

/* The delta applier (mql_delta_apply) against the vectors its Lua twin
 * passes too (t/vectors/delta.txt, t/delta_vectors.t), each applied both
 * as resolved and after its binary encoding; then the encoding's bounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "mql_delta.h"

#define VECTORS "t/vectors/delta.txt"

static void text_field(char *dst, size_t size, const char *v)
{
    if (!strcmp(v, "-"))
        v = "";
    snprintf(dst, size, "%s", v);
}

/* comma-separated numbers into n at most; how many */
static int numbers(const char *v, long *out, int n)
{
    int i = 0;
    char *end;

    while (i < n && *v) {
        out[i++] = strtol(v, &end, 10);
        v = *end == ',' ? end + 1 : end;
        if (end == v && *v)
            break;
    }
    return i;
}

/* A field of the record by its Redis name (the vectors' names), so that
 * a new field of mql_fields.h is a vector's key with no change here. */
static const mql_field_t *field_named(const char *name)
{
    int i;

    for (i = 0; i < MQL_FIELD_COUNT; i++)
        if (mql_fields[i].redis && !strcmp(mql_fields[i].redis, name))
            return &mql_fields[i];
    return NULL;
}

static int record_field(mql_visitor_t *r, const char *k, const char *v)
{
    const mql_field_t *f = field_named(k);
    char *at = f ? (char *)r + f->offset : NULL;

    if (!f)
        return 0;
    if (f->type == MQL_FT_F64) {
        double x = strtod(v, NULL);
        uint64_t bits;

        memcpy(&bits, &x, sizeof bits);
        mql_field_set(f, r, 0, bits);
    }
    else if (mql_field_width(f)) {
        long x[256];
        int i, n = numbers(v, x, (int)mql_field_elems(f));

        for (i = 0; i < n; i++)
            mql_field_set(f, r, (size_t)i, (uint64_t)x[i]);
    }
    else {
        char text[256];

        /* a code (CHARS) fills its bytes, a string keeps its NUL */
        text_field(text, f->size + 1 < sizeof text ? f->size + 1 : sizeof text, v);
        memset(at, 0, f->size);
        memcpy(at, text, strnlen(text, f->type == MQL_FT_TEXT ? f->size - 1 : f->size));
    }
    return 1;
}

static int delta_field(mql_delta_t *d, const char *k, const char *v)
{
    if (!strcmp(k, "events"))
        d->events = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "half_life"))
        d->half_life = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "items")) {
        const char *p = v;

        d->nitems = 0;
        while (*p && strcmp(p, "-") && d->nitems < MQL_DELTA_ITEMS) {
            int pts, g, s, c, used = 0;

            if (sscanf(p, "%d:%d:%d:%d%n", &pts, &g, &s, &c, &used) != 4)
                return 0;
            d->items[d->nitems++] = (mql_delta_item_t){ pts, (uint8_t)g, (uint8_t)s,
                                                        (uint8_t)c };
            p += used;
            if (*p == ',')
                p++;
        }
    }
    else if (!strcmp(k, "fit")) {
        d->has_fit = strcmp(v, "-") != 0;
        d->fit_points = d->has_fit ? atoi(v) : 0;
    }
    else if (!strcmp(k, "cc")) {
        char cc[3] = "";
        text_field(cc, sizeof cc, v);
        memcpy(d->country, cc, 2);
    }
    else if (!strcmp(k, "flags"))
        d->set_flags = (uint8_t)atoi(v);
    else if (!strcmp(k, "site"))
        d->site = (uint8_t)atoi(v);
    else if (!strcmp(k, "need_counts"))
        d->need_counts = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "need_country"))
        d->need_country = (uint8_t)atoi(v);
    else if (!strcmp(k, "hold"))
        d->hold = (uint8_t)atoi(v);
    else if (!strcmp(k, "threshold"))
        d->threshold = strtod(v, NULL);
    else if (!strcmp(k, "countries"))
        text_field(d->countries, sizeof d->countries, v);
    else if (!strcmp(k, "tev"))
        d->trigger_event = (uint8_t)atoi(v);
    else if (!strcmp(k, "trig"))
        text_field(d->trigger, sizeof d->trigger, v);
    else if (!strcmp(k, "set") || !strcmp(k, "replace")) {
        /* set=NAME:VALUE, once per field to set; replace=NAME:VALUE sets
         * it whatever it holds */
        const char *colon = strchr(v, ':');
        const mql_field_t *f;
        mql_delta_set_t *set = &d->sets[d->nsets];

        if (!colon || d->nsets >= MQL_DELTA_SETS)
            return 0;
        *(char *)colon = '\0';
        if (!(f = field_named(v)) || f->type != MQL_FT_TEXT)
            return 0;
        set->field = (uint8_t)(f - mql_fields);
        set->replace = (uint8_t)(k[0] == 'r');
        text_field(set->value, sizeof set->value, colon + 1);
        d->nsets++;
    }
    else if (!strcmp(k, "add")) {
        /* add=NAME:ELEM:VALUE, once per number to add to */
        char name[32];
        unsigned elem;
        int value;
        const mql_field_t *f;

        if (sscanf(v, "%31[^:]:%u:%d", name, &elem, &value) != 3 || !(f = field_named(name))
            || !mql_delta_add(d, (int)(f - mql_fields), elem, value))
            return 0;
    }
    else
        return 0;
    return 1;
}

/* KEY=VALUE words of line into the record or delta; 0 on an unknown key */
static int fields(char *line, mql_visitor_t *r, mql_delta_t *d)
{
    char *tok, *save = NULL;

    for (tok = strtok_r(line, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        char *eq = strchr(tok, '=');

        if (!eq)
            return 0;
        *eq = '\0';
        if (r ? !record_field(r, tok, eq + 1) : !delta_field(d, tok, eq + 1))
            return 0;
    }
    return 1;
}

static int same(const mql_visitor_t *got, const mql_visitor_t *want)
{
    mql_visitor_t a = *got, b = *want;

    if (fabs(a.score - b.score) > 1e-9 * (1 + fabs(b.score)))
        return 0;
    a.score = b.score = 0;
    return !memcmp(&a, &b, sizeof a);
}

static void show(const char *what, const mql_visitor_t *r)
{
    int i;
    size_t k;

    printf("# %s:", what);
    for (i = 0; i < MQL_FIELD_COUNT; i++) {
        const mql_field_t *f = &mql_fields[i];

        if (!f->redis)
            continue;
        printf(" %s=", f->redis);
        if (f->type == MQL_FT_F64) {
            uint64_t bits = mql_field_get(f, r, 0);
            double x;

            memcpy(&x, &bits, sizeof x);
            printf("%.17g", x);
        }
        else if (mql_field_width(f))
            for (k = 0; k < mql_field_elems(f); k++)
                printf("%s%llu", k ? "," : "",
                       (unsigned long long)mql_field_get(f, r, k));
        else
            printf("%.*s", (int)strnlen((const char *)r + f->offset, f->size),
                   (const char *)r + f->offset);
    }
    printf("\n");
}

typedef struct vector {
    char name[128];
    uint32_t now;
    mql_visitor_t before, after;
    mql_delta_t d;
    int dirty;
    int bad;
} vector_t;

static void run(vector_t *t)
{
    mql_visitor_t v = t->before;
    char buf[MQL_DELTA_MAX];
    mql_delta_t back;
    size_t n;
    int rc;

    if (t->bad) {
        ok(0, "%s: the vector reads", t->name);
        return;
    }
    rc = mql_delta_apply(&v, &t->d, t->now);
    if (!ok(same(&v, &t->after), "%s", t->name)) {
        show("got", &v);
        show("want", &t->after);
    }
    if (t->dirty >= 0)
        is_int(rc, t->dirty, "%s: dirty", t->name);
    /* the same delta as Redis receives it */
    n = mql_delta_encode(&t->d, buf);
    v = t->before;
    ok(mql_delta_decode(buf, n, &back) == n && mql_delta_apply(&v, &back, t->now) == rc
       && same(&v, &t->after), "%s: the same after its encoding", t->name);
}

static int vectors(void)
{
    FILE *f = fopen(VECTORS, "r");
    char line[1024];
    vector_t t;
    int have = 0, count = 0;

    if (!f) {
        printf("Bail out! cannot open %s (run from the source tree)\n", VECTORS);
        exit(255);
    }
    memset(&t, 0, sizeof t);
    while (fgets(line, sizeof line, f)) {
        char *rest = line + strcspn(line, " \t\n");

        if (*rest)
            *rest++ = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        if (!strcmp(line, "vector")) {
            if (have) {
                run(&t);
                count++;
            }
            memset(&t, 0, sizeof t);
            t.dirty = -1;
            rest[strcspn(rest, "\n")] = '\0';
            snprintf(t.name, sizeof t.name, "%s", rest);
            have = 1;
        }
        else if (!strcmp(line, "now"))
            t.now = (uint32_t)strtoul(rest, NULL, 10);
        else if (!strcmp(line, "before")) {
            if (!strncmp(rest, "none", 4)) {
                /* a new record, as a store makes it */
                t.before.first_seen = t.before.last_seen = t.before.stage_since = t.now;
            }
            else
                t.bad |= !fields(rest, &t.before, NULL);
            t.after = t.before;
        }
        else if (!strcmp(line, "delta"))
            t.bad |= !fields(rest, NULL, &t.d);
        else if (!strcmp(line, "after"))
            t.bad |= !fields(rest, &t.after, NULL);
        else if (!strcmp(line, "dirty"))
            t.dirty = atoi(rest);
        else
            t.bad = 1;
    }
    if (have) {
        run(&t);
        count++;
    }
    fclose(f);
    return count;
}

static void encoding_bounds(void)
{
    mql_delta_t d, back;
    char buf[MQL_DELTA_MAX];
    size_t n;
    unsigned i;

    memset(&d, 0x5a, sizeof d);             /* no terminator anywhere */
    d.nitems = MQL_DELTA_ITEMS;
    d.flood = NULL;
    d.nsets = MQL_DELTA_SETS;
    for (i = 0; i < MQL_DELTA_SETS; i++)
        d.sets[i].field = MQL_FIELD_trigger;
    d.nadds = MQL_DELTA_ADDS;
    for (i = 0; i < MQL_DELTA_ADDS; i++)
        d.adds[i] = (mql_delta_add_t){ MQL_FIELD_caps, (uint8_t)i, INT32_MIN };
    n = mql_delta_encode(&d, buf);
    ok(n <= MQL_DELTA_MAX, "the largest delta fits MQL_DELTA_MAX (%u of %u)", (unsigned)n,
       (unsigned)MQL_DELTA_MAX);
    ok(mql_delta_decode(buf, n, &back) == n && back.nitems == MQL_DELTA_ITEMS
       && strlen(back.countries) == 2 * MQL_DELTA_COUNTRIES && strlen(back.trigger)
       == MQL_TRIGGER_LEN - 1 && back.nsets == MQL_DELTA_SETS
       && strlen(back.sets[1].value) == mql_fields[MQL_FIELD_trigger].size - 1
       && back.nadds == MQL_DELTA_ADDS && back.adds[3].elem == 3
       && back.adds[3].value == INT32_MIN, "... and reads back, its texts cut to their fields");
    d.sets[1].field = MQL_FIELD_score;
    d.adds[1].field = MQL_FIELD_trigger;
    d.adds[2].elem = MQL_CAPPED_RULES;
    n = mql_delta_encode(&d, buf);
    ok(mql_delta_decode(buf, n, &back) == n && back.nsets == 1,
       "a field to set that is no string of the record is left out");
    ok(back.nadds == 2 && back.adds[0].elem == 0 && back.adds[1].elem == 3,
       "a number to add to that is no number of the record, or an element it lacks: left out");
    for (i = 0; i < n; i++)
        if (mql_delta_decode(buf, i, &back) != 0)
            break;
    is_int((int)i, (int)n, "every shorter prefix is refused");
    buf[8] = MQL_DELTA_ITEMS + 1;
    ok(!mql_delta_decode(buf, n, &back), "more items than a delta holds: refused");
}

/* What a resolver puts into a delta through mql_delta_set and mql_delta_add. */
static void helpers(void)
{
    mql_delta_t d;
    int i;

    memset(&d, 0, sizeof d);
    ok(mql_delta_set(&d, MQL_FIELD_trigger, "/a") && d.nsets == 1
       && !strcmp(d.sets[0].value, "/a"), "a field to set");
    ok(mql_delta_set(&d, MQL_FIELD_trigger, "") && d.nsets == 1, "nothing to set: none");
    ok(!mql_delta_set(&d, MQL_FIELD_score, "1") && !mql_delta_set(&d, -1, "1")
       && !mql_delta_set(&d, MQL_FIELD_COUNT, "1"), "no string of the record: refused");
    for (i = 1; i < MQL_DELTA_SETS; i++)
        mql_delta_set(&d, MQL_FIELD_trigger, "/b");
    ok(!mql_delta_set(&d, MQL_FIELD_trigger, "/c"), "more sets than a delta holds: refused");
    ok(mql_delta_add(&d, MQL_FIELD_caps, 1, 5) && mql_delta_add(&d, MQL_FIELD_caps, 1, 7)
       && d.nadds == 1 && d.adds[0].value == 12, "two adds to one number: one add");
    ok(mql_delta_add(&d, MQL_FIELD_caps, 1, INT32_MAX) && d.adds[0].value == INT32_MAX,
       "... its sum kept within an int32");
    ok(!mql_delta_add(&d, MQL_FIELD_trigger, 0, 1) && !mql_delta_add(&d, MQL_FIELD_id, 0, 1)
       && !mql_delta_add(&d, MQL_FIELD_caps, MQL_CAPPED_RULES, 1),
       "no number of the record, or an element it lacks: refused");
    for (i = 0; d.nadds < MQL_DELTA_ADDS; i++)
        mql_delta_add(&d, MQL_FIELD_counts, (unsigned)i, 1);
    ok(!mql_delta_add(&d, MQL_FIELD_score, 0, 1) && mql_delta_add(&d, MQL_FIELD_counts, 0, 1),
       "more numbers than a delta holds: refused, one it has still added to");
}

int main(void)
{
    int n = vectors();

    ok(n >= 20, "%d vectors read", n);
    encoding_bounds();
    helpers();
    return done_testing();
}
