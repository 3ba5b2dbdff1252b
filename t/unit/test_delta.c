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

static int record_field(mql_visitor_t *r, const char *k, const char *v)
{
    long x[8];
    int i, n;

    if (!strcmp(k, "score"))
        r->score = strtod(v, NULL);
    else if (!strcmp(k, "first"))
        r->first_seen = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "last"))
        r->last_seen = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "since"))
        r->stage_since = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "c")) {
        n = numbers(v, x, MQL_EV_COUNT);
        for (i = 0; i < n; i++)
            r->counts[i] = (uint16_t)x[i];
    }
    else if (!strcmp(k, "k")) {
        n = numbers(v, x, MQL_CAPPED_RULES);
        for (i = 0; i < n; i++)
            r->caps[i] = (uint8_t)x[i];
    }
    else if (!strcmp(k, "stage"))
        r->stage = (uint8_t)atoi(v);
    else if (!strcmp(k, "tev"))
        r->trigger_event = (uint8_t)atoi(v);
    else if (!strcmp(k, "site"))
        r->site = (uint8_t)atoi(v);
    else if (!strcmp(k, "flags"))
        r->flags = (uint8_t)atoi(v);
    else if (!strcmp(k, "cc")) {
        char cc[3] = "";
        text_field(cc, sizeof cc, v);
        memcpy(r->country, cc, 2);
    }
    else if (!strcmp(k, "trig")) {
        memset(r->trigger, 0, sizeof r->trigger);
        text_field(r->trigger, sizeof r->trigger, v);
    }
    else
        return 0;
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
    printf("# %s: score %.17g first %u last %u since %u c %u,%u,%u,%u,%u,%u,%u stage %u "
           "tev %u site %u flags %u cc %.2s k %u,%u,%u,%u,%u,%u,%u,%u trig %s\n", what,
           r->score, r->first_seen, r->last_seen, r->stage_since, r->counts[0], r->counts[1],
           r->counts[2], r->counts[3], r->counts[4], r->counts[5], r->counts[6], r->stage,
           r->trigger_event, r->site, r->flags, r->country[0] ? r->country : "--",
           r->caps[0], r->caps[1], r->caps[2], r->caps[3], r->caps[4], r->caps[5], r->caps[6],
           r->caps[7], r->trigger);
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
    n = mql_delta_encode(&d, buf);
    ok(n <= MQL_DELTA_MAX, "the largest delta fits MQL_DELTA_MAX (%u of %u)", (unsigned)n,
       (unsigned)MQL_DELTA_MAX);
    ok(mql_delta_decode(buf, n, &back) == n && back.nitems == MQL_DELTA_ITEMS
       && strlen(back.countries) == 2 * MQL_DELTA_COUNTRIES && strlen(back.trigger)
       == MQL_TRIGGER_LEN - 1, "... and reads back, its texts cut to their fields");
    for (i = 0; i < n; i++)
        if (mql_delta_decode(buf, i, &back) != 0)
            break;
    is_int((int)i, (int)n, "every shorter prefix is refused");
    buf[8] = MQL_DELTA_ITEMS + 1;
    ok(!mql_delta_decode(buf, n, &back), "more items than a delta holds: refused");
}

int main(void)
{
    int n = vectors();

    ok(n >= 20, "%d vectors read", n);
    encoding_bounds();
    return done_testing();
}
