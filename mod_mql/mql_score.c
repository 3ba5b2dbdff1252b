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
 * Scoring: classify a finished request into events, then resolve the
 * events' points, the configured rules, the fit rules and the criteria
 * into a delta (mql_delta.h) that a store applies to the visitor record.
 *
 * This runs in the request path, before any lock: it must not allocate,
 * block or log.  All scratch space lives on the stack.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "apr_strings.h"

#include "mql_score.h"
#include "mql_parse.h"

/* ---- classification ---------------------------------------------------- */

static int is_2xx(int status) { return status >= 200 && status <= 299; }

/* Media type of a Content-Type value without parameters, compared
 * case-insensitively: "Text/HTML; charset=utf-8" is HTML. */
static int content_type_is(const char *ct, const char *type)
{
    size_t n = strlen(type);

    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, type, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static int is_html(const char *ct)
{
    return ct && (content_type_is(ct, "text/html")
                  || content_type_is(ct, "application/xhtml+xml"));
}

/* A 206 counts only when the client fetched up to the file's end, so that
 * PDF viewers fetching the first page do not score a download each time. */
static int is_download(const mql_response_facts_t *f, int get)
{
    if (!f->is_download_ext || !get)
        return 0;
    return f->status == 200 || (f->status == 206 && f->range_complete);
}

/* utm_medium=email marks a click in a mailing.  The buffer is one byte
 * larger than "email" needs, so a longer value ("emails") cannot match
 * even when the parser truncates it. */
static int is_email_campaign(const char *query)
{
    char val[8];

    if (!query || !*query)
        return 0;
    if (!mql_query_param(query, "utm_medium", val, sizeof val))
        return 0;
    return strcasecmp(val, "email") == 0;
}

unsigned mql_classify(const mql_response_facts_t *f)
{
    unsigned ev = 0;
    int get, post;

    /* HEAD is no engagement; the glue drops it earlier, this is a safety net */
    if (!f->method || strcmp(f->method, "HEAD") == 0)
        return 0;
    get = strcmp(f->method, "GET") == 0;
    post = strcmp(f->method, "POST") == 0;

    if (is_download(f, get))
        ev |= MQL_EV_BIT(MQL_EV_DOWNLOAD);
    else if (get && is_2xx(f->status) && is_html(f->content_type))
        ev |= MQL_EV_BIT(MQL_EV_VIEW);      /* a download is not also a view */

    /* A form is what the site's handler accepted: its 2xx, or the 3xx of
     * a post-redirect-get.  A redirect httpd made before any handler ran
     * is none, or any client could score forms by POSTing to /somedir. */
    if (post && f->status >= 200 && f->status <= 399 && !f->before_handler)
        ev |= MQL_EV_BIT(MQL_EV_FORM);
    else if (post && f->status >= 400 && f->status <= 499)
        ev |= MQL_EV_BIT(MQL_EV_FORM_ERROR);

    if (f->is_pixel && f->status == 200)
        ev |= MQL_EV_BIT(MQL_EV_PIXEL);
    if (f->status < 400 && is_email_campaign(f->query))
        ev |= MQL_EV_BIT(MQL_EV_CAMPAIGN);
    if (f->has_app_event)
        ev |= MQL_EV_BIT(MQL_EV_APP);
    return ev;
}

/* ---- configuration defaults -------------------------------------------- */

void mql_scoring_defaults(mql_scoring_t *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->points[MQL_EV_VIEW] = 1;
    sc->points[MQL_EV_DOWNLOAD] = 10;
    sc->points[MQL_EV_FORM] = 20;
    sc->points[MQL_EV_FORM_ERROR] = -5;
    sc->points[MQL_EV_PIXEL] = 3;
    sc->points[MQL_EV_CAMPAIGN] = 5;
    sc->points[MQL_EV_APP] = 0;         /* the X-MQL-Event header says */
    sc->threshold = 100;
    sc->half_life = 30u * 24 * 3600;
}

/* ---- decay ------------------------------------------------------------- */

double mql_decay(double score, uint32_t last_seen, uint32_t now, uint32_t half_life)
{
    /* a clock that went backwards (or a record from another host) must
     * not inflate the score */
    if (half_life == 0 || now <= last_seen)
        return score;
    return score * exp2(-(double)(now - last_seen) / (double)half_life);
}

double mql_current_score(const mql_visitor_t *v, uint32_t now, uint32_t half_life)
{
    return mql_decay(v->score, v->last_seen, now, half_life);
}

/* ---- countries --------------------------------------------------------- */

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char to_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* "--" (GeoIP found nothing) and NULL are unknown */
static int country_known(const char *cc)
{
    return cc && is_alpha(cc[0]) && is_alpha(cc[1]);
}

int mql_country_in(const char *packed, const char *cc)
{
    if (!packed || !country_known(cc))
        return 0;
    for (; packed[0] && packed[1]; packed += 2)
        if (to_upper(packed[0]) == to_upper(cc[0])
            && to_upper(packed[1]) == to_upper(cc[1]))
            return 1;
    return 0;
}

/* ---- resolving a hit ---------------------------------------------------- */

static int event_valid(int ev) { return ev >= 0 && ev < MQL_EV_COUNT; }

static int re_matches(const mql_scoring_t *sc, const void *re, const char *subject)
{
    return sc->match && sc->match(re, subject) == 1;
}

/* query=NAME=VALUE: exact, case-sensitive value.  The buffer must hold
 * more than the expected value so a longer, truncated one cannot match. */
static int query_holds(const mql_rule_t *r, const char *query)
{
    char val[256];
    size_t want;

    if (!query || !r->query_value)
        return 0;
    want = strlen(r->query_value);
    if (want + 1 >= sizeof val)
        return 0;
    if (!mql_query_param(query, r->query_name, val, sizeof val))
        return 0;
    return strcmp(val, r->query_value) == 0;
}

/* ---- kinds of rule ------------------------------------------------------- */

/* The kinds after the EVENT URL-REGEX form (kind 0): mql_rule_kind_t. */
static const mql_rule_kind_t kinds[] = {
    { NULL, NULL, 0, 0, NULL },
};

#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

const mql_rule_kind_t *mql_rule_kind_named(const char *name, int *kind)
{
    int i;

    for (i = 1; i < NKINDS; i++)
        if (!strcasecmp(kinds[i].name, name)) {
            *kind = i;
            return &kinds[i];
        }
    return NULL;
}

const char *mql_rule_label(apr_pool_t *p, const mql_rule_t *r)
{
    const char *what = r->kind > 0 && r->kind < NKINDS ? kinds[r->kind].name
                       : mql_event_name((mql_event_t)r->event);

    return apr_psprintf(p, "%s %s %+d", what, r->pattern ? r->pattern : "*", r->points);
}

static int rule_matches(const mql_rule_t *r, const mql_scoring_t *sc, const mql_hit_t *hit)
{
    if (r->kind) {
        /* a kind's rule pays on a scored hit, never on a contact alone */
        if (r->kind < 0 || r->kind >= NKINDS || !hit->events || !kinds[r->kind].holds(r, sc, hit))
            return 0;
    }
    else if (!event_valid(r->event) || !(hit->events & MQL_EV_BIT(r->event)))
        return 0;
    if (r->url_re && !re_matches(sc, r->url_re, hit->path ? hit->path : ""))
        return 0;
    if (r->referer_re && (!hit->referer || !re_matches(sc, r->referer_re, hit->referer)))
        return 0;
    if (r->query_name && !query_holds(r, hit->query))
        return 0;
    return 1;
}

void mql_rules_match(const mql_scoring_t *sc, const mql_hit_t *hit, unsigned char *matched)
{
    int i;

    for (i = 0; i < sc->nrules; i++)
        matched[i] = (unsigned char)rule_matches(&sc->rules[i], sc, hit);
}

/* The event sales reads as "why this is a lead": the most deliberate
 * action of the hit that carried the visitor over. */
static int most_significant_event(unsigned events)
{
    static const int priority[] = {
        MQL_EV_APP, MQL_EV_FORM, MQL_EV_DOWNLOAD, MQL_EV_CAMPAIGN,
        MQL_EV_PIXEL, MQL_EV_FORM_ERROR, MQL_EV_VIEW
    };
    size_t i;

    /* most hits are page views: every hit is resolved, few promote */
    if (!(events & ~MQL_EV_BIT(MQL_EV_VIEW)))
        return MQL_EV_VIEW;
    for (i = 0; i < sizeof priority / sizeof priority[0]; i++)
        if (events & MQL_EV_BIT(priority[i]))
            return priority[i];
    return MQL_EV_VIEW;     /* only fit points moved the score: say "view" */
}

/* The events' points and the uncapped rules' go into the first item (one
 * sum: the order of integer additions changes nothing); each capped rule
 * is an item of its own, as the record's counter decides whether it pays. */
static void resolve_points(const mql_scoring_t *sc, const mql_hit_t *hit, mql_delta_t *d)
{
    unsigned m = hit->events & (MQL_EV_BIT(MQL_EV_COUNT) - 1);
    int32_t sum = 0;
    int i;

    /* the events set, lowest first: a hit has one or two */
    for (; m; m &= m - 1) {
        int ev = __builtin_ctz(m);

        /* an application event carries its own points; the glue has
         * already fallen back to MQLPoints app when the header had none */
        sum += ev == MQL_EV_APP ? hit->app_points : sc->points[ev];
    }
    d->nitems = 1;
    d->items[0].slot = MQL_DELTA_UNCAPPED;
    for (i = 0; i < sc->nrules; i++) {
        const mql_rule_t *r = &sc->rules[i];
        mql_delta_item_t *it;

        if (hit->rule_matched ? !hit->rule_matched[i] : !rule_matches(r, sc, hit))
            continue;
        if (r->cap <= 0) {
            sum += r->points;
            continue;
        }
        /* configuration assigns slots; a bad one pays nothing rather
         * than paying without limit or writing out of bounds */
        if (r->cap_slot < 0 || r->cap_slot >= MQL_CAPPED_RULES || d->nitems >= MQL_DELTA_ITEMS)
            continue;
        it = &d->items[d->nitems++];
        it->points = r->points;
        it->slot = (uint8_t)r->cap_slot;
        it->cap = (uint8_t)(r->cap > UINT8_MAX ? UINT8_MAX : r->cap);
    }
    d->items[0].points = sum;
}

/* Fit points depend on who the visitor is, not on what they did: due
 * with the first known country, paid once.  Without fit rules none are
 * due, so fit rules added by a later configuration still pay. */
static void resolve_country(const mql_scoring_t *sc, const mql_hit_t *hit, mql_delta_t *d)
{
    int i;

    if (hit->country)
        d->set_flags |= MQL_VF_COUNTRY;     /* looked up, found or not */
    if (!country_known(hit->country))
        return;
    d->country[0] = to_upper(hit->country[0]);
    d->country[1] = to_upper(hit->country[1]);
    if (sc->nfit_rules <= 0)
        return;
    d->has_fit = 1;
    for (i = 0; i < sc->nfit_rules; i++)
        if (mql_country_in(sc->fit_rules[i].countries, hit->country))
            d->fit_points += sc->fit_rules[i].points;
}

static void resolve_gate(const mql_scoring_t *sc, mql_delta_t *d)
{
    d->threshold = sc->threshold;
    if (sc->require & MQL_REQ_DOWNLOAD)
        d->need_counts |= MQL_EV_BIT(MQL_EV_DOWNLOAD);
    if (sc->require & MQL_REQ_FORM)
        d->need_counts |= MQL_EV_BIT(MQL_EV_FORM);
    if (sc->require & MQL_REQ_COUNTRY) {
        /* the configuration names at most MQL_DELTA_COUNTRIES */
        d->need_country = 1;
        if (sc->require_countries)
            apr_cpystrn(d->countries, sc->require_countries, sizeof d->countries);
    }
}

void mql_score_resolve(const mql_scoring_t *sc, const mql_hit_t *hit, mql_delta_t *d)
{
    size_t n = hit->path ? strnlen(hit->path, MQL_TRIGGER_LEN - 1) : 0;

    memset(d, 0, sizeof *d);
    d->events = hit->events;
    d->half_life = sc->half_life;
    d->site = (uint8_t)hit->site;
    resolve_points(sc, hit, d);
    resolve_country(sc, hit, d);
    resolve_gate(sc, d);
    d->hold = (uint8_t)(hit->hold_promotion != 0);
    d->flood = hit->gate;
    d->trigger_event = (uint8_t)most_significant_event(hit->events);
    if (n)
        memcpy(d->trigger, hit->path, n);   /* the trigger keeps its first bytes */
    if (hit->touch_id) {
        mql_delta_set(d, MQL_FIELD_first_touch, hit->touch_id);
        if (hit->touch_replaces)
            mql_delta_replace(d, MQL_FIELD_last_touch, hit->touch_id);
        else
            mql_delta_set(d, MQL_FIELD_last_touch, hit->touch_id);
    }
}

int mql_score_hit(mql_visitor_t *v, const mql_scoring_t *sc, const mql_hit_t *hit,
                  uint32_t now)
{
    mql_delta_t d;

    mql_score_resolve(sc, hit, &d);
    return mql_delta_apply(v, &d, now);
}

int mql_score_qualifies(const mql_visitor_t *v, const mql_scoring_t *sc)
{
    mql_delta_t d;

    memset(&d, 0, sizeof d);
    resolve_gate(sc, &d);
    return mql_delta_qualifies(v, &d);
}

int mql_visitor_merge(mql_visitor_t *into, const mql_visitor_t *old, uint32_t half_life)
{
    mql_visitor_t m = *old;
    int ev, i;

    if (into->first_seen <= old->first_seen)
        return 0;
    if (into->last_seen > old->last_seen) {
        m.score = mql_decay(old->score, old->last_seen, into->last_seen, half_life)
                  + into->score;
        m.last_seen = into->last_seen;
    }
    else
        m.score = old->score + into->score;
    for (ev = 0; ev < MQL_EV_COUNT; ev++) {
        uint32_t n = (uint32_t)old->counts[ev] + into->counts[ev];
        m.counts[ev] = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
    }
    for (i = 0; i < MQL_CAPPED_RULES; i++)
        m.caps[i] = old->caps[i] > into->caps[i] ? old->caps[i] : into->caps[i];
    /* sales' decision and the first qualification stand; a plain visitor
     * published (set back by hand) takes what its return earned */
    if (!MQL_STAGE_IS_LEAD(old->stage) && MQL_STAGE_IS_LEAD(into->stage)) {
        m.stage = into->stage;
        m.stage_since = into->stage_since;
        m.trigger_event = into->trigger_event;
        memcpy(m.trigger, into->trigger, sizeof m.trigger);
    }
    if (!(old->flags & MQL_VF_COUNTRY)) {
        memcpy(m.country, into->country, sizeof m.country);
        m.flags = into->flags;
    }
    *into = m;
    return 1;
}
