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

/* Scoring: classification, points, rules, caps, fit, decay and the
 * visitor -> mql transition, over a plain visitor record. */
#include <math.h>
#include <regex.h>
#include "tap.h"
#include "mql_score.h"
#include "mql_visitors.h"
#include <apr_general.h>

/* ---- helpers ------------------------------------------------------------ */

static int posix_match(const void *re, const char *subject)
{
    return regexec((const regex_t *)re, subject, 0, NULL, 0) == 0;
}

/* every pattern of the tests, freed at the end so leak checkers stay quiet */
static regex_t regexes[16];
static int nregexes;

static regex_t *compile(const char *pattern)
{
    regex_t *re = &regexes[nregexes];

    if (nregexes == (int)(sizeof regexes / sizeof regexes[0])
        || regcomp(re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
        printf("Bail out! cannot compile %s\n", pattern);
        exit(255);
    }
    nregexes++;
    return re;
}

static void free_regexes(void)
{
    while (nregexes > 0)
        regfree(&regexes[--nregexes]);
}

static void fresh(mql_visitor_t *v, uint32_t now)
{
    memset(v, 0, sizeof *v);
    v->first_seen = v->last_seen = now;
}

static mql_hit_t hit_of(unsigned events, const char *path)
{
    mql_hit_t h;

    memset(&h, 0, sizeof h);
    h.events = events;
    h.path = path;
    return h;
}

/* When set, apply() matches the rules first, as the module does before
 * it takes the table's lock, and hands the result to mql_score_hit(). */
static int rules_matched_first;

static int apply(mql_visitor_t *v, const mql_scoring_t *sc, unsigned events,
                 const char *path, uint32_t now)
{
    mql_hit_t h = hit_of(events, path);
    unsigned char matched[16];

    if (rules_matched_first) {
        mql_rules_match(sc, &h, matched);
        h.rule_matched = matched;
    }
    return mql_score_hit(v, sc, &h, now);
}

static int close_to(double got, double want)
{
    return fabs(got - want) < 1e-9;
}

#define B(ev) MQL_EV_BIT(MQL_EV_##ev)

/* ---- classification ---------------------------------------------------- */

struct row {
    const char *method;
    int status;
    const char *ct;
    const char *query;
    int dl, complete, pixel, app;
    unsigned want;
    const char *name;
};

static const struct row rows[] = {
    { "GET", 200, "text/html", NULL, 0, 0, 0, 0, B(VIEW), "GET 200 html is a view" },
    { "GET", 200, "text/html; charset=utf-8", NULL, 0, 0, 0, 0, B(VIEW), "charset parameter ignored" },
    { "GET", 200, "TEXT/HTML;Charset=UTF-8", NULL, 0, 0, 0, 0, B(VIEW), "content type case-insensitive" },
    { "GET", 200, "application/xhtml+xml", NULL, 0, 0, 0, 0, B(VIEW), "xhtml is a view" },
    { "GET", 204, "text/html", NULL, 0, 0, 0, 0, B(VIEW), "any 2xx is a view" },
    { "GET", 200, "text/htmlx", NULL, 0, 0, 0, 0, 0, "text/htmlx is not html" },
    { "GET", 200, "application/json", NULL, 0, 0, 0, 0, 0, "json is no view" },
    { "GET", 200, "image/png", NULL, 0, 0, 0, 0, 0, "image is no view" },
    { "GET", 200, NULL, NULL, 0, 0, 0, 0, 0, "no content type, no view" },
    { "GET", 304, "text/html", NULL, 0, 0, 0, 0, 0, "304 is no view" },
    { "GET", 404, "text/html", NULL, 0, 0, 0, 0, 0, "404 is no view" },
    { "GET", 302, "text/html", NULL, 0, 0, 0, 0, 0, "redirect is no view" },
    { "HEAD", 200, "text/html", NULL, 0, 0, 0, 0, 0, "HEAD is nothing" },
    { "HEAD", 200, "application/pdf", NULL, 1, 0, 0, 0, 0, "HEAD of a PDF is nothing" },
    { "HEAD", 200, "text/html", "utm_medium=email", 0, 0, 0, 1, 0, "HEAD is nothing at all" },
    { "GET", 200, "application/pdf", NULL, 1, 0, 0, 0, B(DOWNLOAD), "GET 200 pdf is a download" },
    { "GET", 200, "text/html", NULL, 1, 0, 0, 0, B(DOWNLOAD), "a download is not also a view" },
    { "GET", 206, "application/pdf", NULL, 1, 1, 0, 0, B(DOWNLOAD), "206 reaching the end is a download" },
    { "GET", 206, "application/pdf", NULL, 1, 0, 0, 0, 0, "206 not reaching the end is none" },
    { "GET", 403, "text/html", NULL, 1, 0, 0, 0, 0, "403 PDF is no download" },
    { "GET", 404, "text/html", NULL, 1, 0, 0, 0, 0, "404 PDF is no download" },
    { "GET", 304, NULL, NULL, 1, 0, 0, 0, 0, "304 PDF is no download" },
    { "POST", 200, "application/pdf", NULL, 1, 0, 0, 0, B(FORM), "POST to a PDF URL is no download" },
    { "POST", 200, "text/html", NULL, 0, 0, 0, 0, B(FORM), "POST 200 is a form (not a view)" },
    { "POST", 302, NULL, NULL, 0, 0, 0, 0, B(FORM), "POST 302 is a form" },
    { "POST", 303, NULL, NULL, 0, 0, 0, 0, B(FORM), "POST 303 is a form" },
    { "POST", 422, "text/html", NULL, 0, 0, 0, 0, B(FORM_ERROR), "POST 422 is a form error" },
    { "POST", 400, NULL, NULL, 0, 0, 0, 0, B(FORM_ERROR), "POST 400 is a form error" },
    { "POST", 500, NULL, NULL, 0, 0, 0, 0, 0, "POST 500 is nothing" },
    { "PUT", 200, "text/html", NULL, 0, 0, 0, 0, 0, "PUT is nothing" },
    { "GET", 200, "image/gif", NULL, 0, 0, 1, 0, B(PIXEL), "pixel 200" },
    { "GET", 304, "image/gif", NULL, 0, 0, 1, 0, 0, "pixel 304 is nothing" },
    { "GET", 200, "image/gif", "utm_medium=email", 0, 0, 1, 0, B(PIXEL) | B(CAMPAIGN),
      "pixel with utm_medium=email" },
    { "GET", 200, "text/html", "utm_medium=email", 0, 0, 0, 0, B(VIEW) | B(CAMPAIGN),
      "utm_medium=email is a campaign" },
    { "GET", 200, "text/html", "utm_medium=EMAIL", 0, 0, 0, 0, B(VIEW) | B(CAMPAIGN),
      "utm_medium=EMAIL is a campaign" },
    { "GET", 200, "text/html", "utm_source=nl&utm_medium=Email&utm_campaign=x", 0, 0, 0, 0,
      B(VIEW) | B(CAMPAIGN), "utm_medium among other parameters" },
    { "GET", 200, "text/html", "utm_medium=emails", 0, 0, 0, 0, B(VIEW), "utm_medium=emails is not email" },
    { "GET", 200, "text/html", "utm_medium=social", 0, 0, 0, 0, B(VIEW), "utm_medium=social is no campaign" },
    { "GET", 200, "text/html", "x_utm_medium=email", 0, 0, 0, 0, B(VIEW), "another parameter name" },
    { "GET", 302, NULL, "utm_medium=email", 0, 0, 0, 0, B(CAMPAIGN), "campaign click redirected" },
    { "GET", 404, "text/html", "utm_medium=email", 0, 0, 0, 0, 0, "campaign with 404 is nothing" },
    { "GET", 200, "application/json", NULL, 0, 0, 0, 1, B(APP), "application event" },
    { "POST", 200, "text/html", NULL, 0, 0, 0, 1, B(FORM) | B(APP), "form and application event" },
    { NULL, 200, "text/html", NULL, 0, 0, 0, 0, 0, "no method is nothing" },
};

/* httpd's own answers before any handler ran are no form */
static void test_before_handler(void)
{
    static const struct { int status; unsigned want; const char *name; } cases[] = {
        { 301, 0, "POST answered by mod_dir's trailing-slash 301: no form" },
        { 302, 0, "POST answered by Redirect (302): no form" },
        { 303, 0, "POST answered by an access check's 303: no form" },
        { 200, 0, "a 2xx before any handler is no form either" },
        { 401, B(FORM_ERROR), "a 401 from an access check is still a form error" },
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mql_response_facts_t f;

        memset(&f, 0, sizeof f);
        f.method = "POST";
        f.status = cases[i].status;
        f.before_handler = 1;
        is_int(mql_classify(&f), cases[i].want, cases[i].name);
    }
    {
        mql_response_facts_t f;

        memset(&f, 0, sizeof f);
        f.method = "POST";
        f.status = 301;
        f.query = "utm_medium=email";
        f.before_handler = 1;
        is_int(mql_classify(&f), B(CAMPAIGN), "the issue's POST /somedir?utm_medium=email: "
               "campaign only, no form");
    }
}

static void test_classify(void)
{
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        mql_response_facts_t f;

        memset(&f, 0, sizeof f);
        f.method = r->method;
        f.status = r->status;
        f.content_type = r->ct;
        f.query = r->query;
        f.is_download_ext = r->dl;
        f.range_complete = r->complete;
        f.is_pixel = r->pixel;
        f.has_app_event = r->app;
        is_int(mql_classify(&f), r->want, r->name);
    }
}

/* ---- defaults and countries ---------------------------------------------- */

static void test_defaults(void)
{
    mql_scoring_t sc;

    memset(&sc, 0x5a, sizeof sc);
    mql_scoring_defaults(&sc);
    ok(sc.points[MQL_EV_VIEW] == 1 && sc.points[MQL_EV_DOWNLOAD] == 10
       && sc.points[MQL_EV_FORM] == 20 && sc.points[MQL_EV_FORM_ERROR] == -5
       && sc.points[MQL_EV_PIXEL] == 3 && sc.points[MQL_EV_CAMPAIGN] == 5
       && sc.points[MQL_EV_APP] == 0, "default points");
    ok(sc.threshold == 100, "default threshold 100");
    is_int(sc.half_life, 30 * 24 * 3600, "default half-life 30 days");
    ok(sc.nrules == 0 && sc.rules == NULL && sc.nfit_rules == 0 && sc.fit_rules == NULL,
       "no rules by default");
    ok(sc.require == 0 && sc.require_countries == NULL, "no requirements by default");
}

static void test_country_in(void)
{
    ok(mql_country_in("DEATCH", "AT"), "AT in DEATCH");
    ok(mql_country_in("DEATCH", "ch"), "lower-case code matches");
    ok(mql_country_in("deatch", "DE"), "lower-case list matches");
    ok(!mql_country_in("DEATCH", "US"), "US not in DEATCH");
    ok(!mql_country_in("DEATCH", "EA"), "pairs, not substrings");
    ok(!mql_country_in(NULL, "DE"), "no list");
    ok(!mql_country_in("DE", NULL), "no country");
    ok(!mql_country_in("DE--", "--"), "\"--\" is no country");
}

/* ---- a scripted journey ---------------------------------------------------- */

static void test_journey(void)
{
    mql_rule_t rules[4];
    mql_scoring_t sc;
    mql_visitor_t v;
    uint32_t t = 1700000000;
    int rc;

    memset(rules, 0, sizeof rules);
    rules[0] = (mql_rule_t){ .event = MQL_EV_VIEW, .url_re = compile("^/pricing"),
                             .points = 5, .cap = 2, .cap_slot = 0, .source = "t:1" };
    rules[1] = (mql_rule_t){ .event = MQL_EV_DOWNLOAD, .url_re = compile("\\.pdf$"),
                             .points = 15, .source = "t:2" };
    rules[2] = (mql_rule_t){ .event = MQL_EV_VIEW, .url_re = compile("^/careers"),
                             .points = -10, .source = "t:3" };
    rules[3] = (mql_rule_t){ .event = MQL_EV_FORM, .url_re = compile("^/contact"),
                             .points = 10, .source = "t:4" };
    mql_scoring_defaults(&sc);
    sc.rules = rules;
    sc.nrules = 4;
    sc.match = posix_match;
    sc.half_life = 0;           /* exact arithmetic */

    fresh(&v, t);
    rc = apply(&v, &sc, B(VIEW), "/", t);
    ok(v.score == 1, "home page view: 1");
    is_int(rc, MQL_UPD_NONE, "a plain visitor is never dirty");
    apply(&v, &sc, B(VIEW), "/pricing", t + 10);
    apply(&v, &sc, B(VIEW), "/pricing/enterprise", t + 20);
    ok(v.score == 13, "two pricing views pay the rule: 1 + 6 + 6");
    apply(&v, &sc, B(VIEW), "/pricing", t + 30);
    ok(v.score == 14, "third pricing view: the capped rule pays no more");
    is_int(v.caps[0], 2, "cap counter stops at the cap");
    apply(&v, &sc, B(VIEW), "/careers/jobs", t + 40);
    ok(v.score == 5, "careers page is negative: 14 + 1 - 10");
    apply(&v, &sc, B(VIEW), "/docs/guide.pdf.html", t + 45);
    ok(v.score == 6, "download rule does not fire on a view");
    apply(&v, &sc, B(DOWNLOAD), "/docs/guide.pdf", t + 50);
    ok(v.score == 31, "download with the PDF rule: 10 + 15");
    apply(&v, &sc, B(FORM), "/contact", t + 60);
    ok(v.score == 61, "contact form: 20 + 10");
    {
        mql_hit_t h = hit_of(B(APP), "/app/trial");
        h.app_points = 25;
        rc = mql_score_hit(&v, &sc, &h, t + 70);
    }
    ok(v.score == 86, "application event pays the header's points");
    is_int(v.stage, MQL_STAGE_VISITOR, "86 < 100: still a visitor");
    is_int(rc, MQL_UPD_NONE, "still not dirty");
    is_int(v.counts[MQL_EV_VIEW], 6, "six views counted");
    is_int(v.counts[MQL_EV_DOWNLOAD], 1, "one download counted");
    is_int(v.counts[MQL_EV_FORM], 1, "one form counted");
    is_int(v.counts[MQL_EV_APP], 1, "one app event counted");
    is_int(v.last_seen, t + 70, "last_seen follows the hits");

    /* the threshold */
    rc = apply(&v, &sc, B(DOWNLOAD), "/docs/pricing-sheet.pdf", t + 80);
    ok(v.score == 111, "second download: 86 + 25");
    is_int(v.stage, MQL_STAGE_MQL, "crossing 100 makes an mql");
    is_int(v.stage_since, t + 80, "stage_since is the crossing time");
    is_int(v.trigger_event, MQL_EV_DOWNLOAD, "trigger event recorded");
    is_str(v.trigger, "/docs/pricing-sheet.pdf", "trigger path recorded");
    is_int(rc, MQL_UPD_DIRTY, "the new lead is dirty");

    rc = apply(&v, &sc, B(VIEW), "/blog", t + 90);
    is_int(rc, MQL_UPD_DIRTY, "a lead's further view is dirty");
    is_int(v.stage_since, t + 80, "stage_since unchanged afterwards");
    is_str(v.trigger, "/docs/pricing-sheet.pdf", "trigger unchanged afterwards");
    rc = apply(&v, &sc, B(FORM_ERROR), "/contact", t + 95);
    ok(v.score == 107, "form error: 112 - 5");
    rc = apply(&v, &sc, 0, "/robots.txt", t + 95);
    is_int(rc, MQL_UPD_NONE, "nothing changed: not dirty");

    v.stage = MQL_STAGE_REJECTED;
    apply(&v, &sc, B(VIEW), "/", t + 100);
    is_int(v.stage, MQL_STAGE_REJECTED, "a rejected lead stays rejected");
}

static void test_trigger_choice(void)
{
    static const struct { unsigned events; int want; const char *name; } cases[] = {
        { B(VIEW) | B(CAMPAIGN), MQL_EV_CAMPAIGN, "campaign beats view" },
        { B(FORM) | B(CAMPAIGN), MQL_EV_FORM, "form beats campaign" },
        { B(APP) | B(FORM), MQL_EV_APP, "app beats form" },
        { B(DOWNLOAD) | B(PIXEL), MQL_EV_DOWNLOAD, "download beats pixel" },
        { B(PIXEL) | B(FORM_ERROR), MQL_EV_PIXEL, "pixel beats form-error" },
        { B(FORM_ERROR) | B(VIEW), MQL_EV_FORM_ERROR, "form-error beats view" },
    };
    mql_scoring_t sc;
    mql_visitor_t v;
    size_t i;
    const char *long_path = "/a/very/long/path/that/does/not/fit/the/record.html";
    char want[MQL_TRIGGER_LEN];

    mql_scoring_defaults(&sc);
    sc.half_life = 0;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fresh(&v, 100);
        v.score = 1000;     /* any hit promotes, even a negative one */
        apply(&v, &sc, cases[i].events, "/x", 100);
        is_int(v.trigger_event, cases[i].want, cases[i].name);
    }

    fresh(&v, 100);
    v.score = 99;
    apply(&v, &sc, B(VIEW), long_path, 100);
    memcpy(want, long_path, MQL_TRIGGER_LEN - 1);
    want[MQL_TRIGGER_LEN - 1] = '\0';
    is_str(v.trigger, want, "long trigger path truncated");
    is_int(strlen(v.trigger), MQL_TRIGGER_LEN - 1, "truncated to MQL_TRIGGER_LEN - 1");

    fresh(&v, 100);
    v.score = 99;
    apply(&v, &sc, B(VIEW), NULL, 100);
    is_str(v.trigger, "", "no path, empty trigger");
    is_int(v.stage, MQL_STAGE_MQL, "threshold reached exactly (>=)");
}

/* ---- requirements ------------------------------------------------------ */

static void test_requirements(void)
{
    mql_scoring_t sc;
    mql_visitor_t v;
    mql_hit_t h;
    int rc;

    mql_scoring_defaults(&sc);
    sc.half_life = 0;
    sc.require = MQL_REQ_DOWNLOAD | MQL_REQ_FORM | MQL_REQ_COUNTRY;
    sc.require_countries = "DEAT";

    fresh(&v, 10);
    h = hit_of(B(APP), "/app/signup");
    h.app_points = 200;
    mql_score_hit(&v, &sc, &h, 10);
    ok(v.score == 200 && v.stage == MQL_STAGE_VISITOR, "200 points but no download: visitor");
    apply(&v, &sc, B(DOWNLOAD), "/a.pdf", 11);
    is_int(v.stage, MQL_STAGE_VISITOR, "download but no form: visitor");
    apply(&v, &sc, B(FORM), "/contact", 12);
    is_int(v.stage, MQL_STAGE_VISITOR, "form but country unknown: visitor");
    h = hit_of(B(VIEW), "/");
    h.country = "--";
    mql_score_hit(&v, &sc, &h, 13);
    ok(v.stage == MQL_STAGE_VISITOR && v.country[0] == 0, "\"--\" is no country");
    h.country = "us";
    mql_score_hit(&v, &sc, &h, 14);
    ok(v.country[0] == 'U' && v.country[1] == 'S', "country recorded (upper case)");
    is_int(v.stage, MQL_STAGE_VISITOR, "US not in the required list: visitor");

    fresh(&v, 20);
    h = hit_of(B(APP), "/app/signup");
    h.app_points = 200;
    h.country = "at";
    mql_score_hit(&v, &sc, &h, 20);
    is_int(v.stage, MQL_STAGE_VISITOR, "country fits, no download or form yet");
    apply(&v, &sc, B(DOWNLOAD), "/a.pdf", 21);
    is_int(v.stage, MQL_STAGE_VISITOR, "still no form");
    rc = apply(&v, &sc, B(FORM), "/contact", 22);
    is_int(v.stage, MQL_STAGE_MQL, "all requirements hold: mql");
    is_int(v.trigger_event, MQL_EV_FORM, "the form carried it over");
    is_str(v.trigger, "/contact", "trigger is the form's path");
    is_int(rc, MQL_UPD_DIRTY, "promotion is dirty");
}

/* The flood limits hold a promotion back: points still count, the stage
 * waits for a later hit. */
static void test_hold_promotion(void)
{
    mql_scoring_t sc;
    mql_visitor_t v;
    mql_hit_t h;

    mql_scoring_defaults(&sc);
    sc.half_life = 0;
    fresh(&v, 10);
    h = hit_of(B(APP), "/app/signup");
    h.app_points = 150;
    h.hold_promotion = 1;
    mql_score_hit(&v, &sc, &h, 10);
    ok(v.score == 150 && v.stage == MQL_STAGE_VISITOR, "held: 150 points, still a visitor");
    ok(mql_score_qualifies(&v, &sc), "... one that qualifies");
    apply(&v, &sc, B(VIEW), "/pricing", 11);
    is_int(v.stage, MQL_STAGE_MQL, "the next hit, not held, promotes");
    is_str(v.trigger, "/pricing", "... and is the trigger");
    ok(!mql_score_qualifies(&v, &sc), "a lead no longer qualifies (it is one)");
}

/* ---- decay ----------------------------------------------------------------- */

static void test_decay(void)
{
    mql_scoring_t sc;
    mql_visitor_t v;
    mql_hit_t h;
    uint32_t t = 1000;

    ok(close_to(mql_decay(100, 0, 30 * 86400, 30 * 86400), 50), "one default half-life halves");
    ok(mql_decay(100, 0, 1000000, 0) == 100, "half-life 0: no decay");
    ok(mql_decay(100, 500, 400, 2) == 100, "now before last: no elapsed time");
    ok(close_to(mql_decay(-20, 0, 4, 2), -5), "negative scores decay towards 0 too");

    mql_scoring_defaults(&sc);
    sc.half_life = 2;
    fresh(&v, t);
    h = hit_of(B(APP), "/app");
    h.app_points = 64;
    mql_score_hit(&v, &sc, &h, t);
    ok(v.score == 64, "64 points at t");
    ok(close_to(mql_current_score(&v, t + 1, 2), 64 / sqrt(2)), "after half a half-life");
    ok(close_to(mql_current_score(&v, t + 2, 2), 32), "halved after 2 s");
    ok(close_to(mql_current_score(&v, t + 4, 2), 16), "quartered after 4 s");
    ok(close_to(mql_current_score(&v, t + 20, 2), 0.0625), "ten half-lives");
    ok(mql_current_score(&v, t - 5, 2) == 64, "clock behind last_seen: no decay");

    apply(&v, &sc, B(VIEW), "/", t + 2);
    ok(close_to(v.score, 33), "decayed to 32 before the view's point");
    is_int(v.last_seen, t + 2, "decay reference moved to the hit");
    ok(close_to(mql_current_score(&v, t + 4, 2), 16.5), "and decays from there");
    apply(&v, &sc, B(VIEW), "/", t);
    ok(close_to(v.score, 34), "a hit from the past adds without decay");
    is_int(v.last_seen, t + 2, "and does not move last_seen back");

    /* an mql is not demoted by decay */
    fresh(&v, t);
    h.app_points = 128;
    mql_score_hit(&v, &sc, &h, t);
    is_int(v.stage, MQL_STAGE_MQL, "128 points: mql");
    apply(&v, &sc, B(VIEW), "/", t + 20);
    ok(close_to(v.score, 1.125), "ten half-lives later: 0.125 + 1");
    is_int(v.stage, MQL_STAGE_MQL, "decay does not demote");
    is_int(v.stage_since, t, "stage_since kept");
}

/* ---- referer= and query= conditions --------------------------------------- */

static void test_conditions(void)
{
    mql_rule_t rules[2];
    mql_scoring_t sc;
    mql_visitor_t v;
    mql_hit_t h;

    memset(rules, 0, sizeof rules);
    rules[0] = (mql_rule_t){ .event = MQL_EV_VIEW, .url_re = compile("^/"),
                             .referer_re = compile("(linkedin|twitter)\\.com"),
                             .points = 7, .source = "t:10" };
    rules[1] = (mql_rule_t){ .event = MQL_EV_VIEW, .url_re = NULL,
                             .query_name = "utm_campaign", .query_value = "webinar",
                             .points = 12, .source = "t:11" };
    mql_scoring_defaults(&sc);
    sc.half_life = 0;
    sc.rules = rules;
    sc.nrules = 2;
    sc.match = posix_match;

#define SCORE_OF(setup) (fresh(&v, 1), h = hit_of(B(VIEW), "/landing"), setup, \
                         mql_score_hit(&v, &sc, &h, 1), v.score)
    ok(SCORE_OF(h.referer = "https://www.linkedin.com/feed/") == 8, "referer matches: 1 + 7");
    ok(SCORE_OF(h.referer = "https://www.google.com/") == 1, "other referer: 1");
    ok(SCORE_OF(h.referer = NULL) == 1, "no referer never matches");
    ok(SCORE_OF(h.query = "utm_source=x&utm_campaign=webinar") == 13, "query matches: 1 + 12");
    ok(SCORE_OF(h.query = "utm_campaign=webinar") == 13, "query as only parameter");
    ok(SCORE_OF(h.query = "utm_campaign=webinars") == 1, "longer value does not match");
    ok(SCORE_OF(h.query = "utm_campaign=webi") == 1, "prefix does not match");
    ok(SCORE_OF(h.query = "campaign=webinar") == 1, "other name does not match");
    ok(SCORE_OF(h.query = NULL) == 1, "no query does not match");
    ok(SCORE_OF((h.query = "utm_campaign=webinar",
                 h.referer = "https://twitter.com/x")) == 20, "both rules apply: 1 + 7 + 12");
    ok(SCORE_OF((h.events = B(DOWNLOAD), h.query = "utm_campaign=webinar")) == 10,
       "rules of another event do not apply");
    {
        static const unsigned char second_only[2] = { 0, 1 };
        unsigned char matched[2];

        fresh(&v, 1);
        h = hit_of(B(VIEW), "/landing");
        h.referer = "https://twitter.com/x";
        h.query = "utm_campaign=webinar";
        mql_rules_match(&sc, &h, matched);
        ok(matched[0] == 1 && matched[1] == 1, "mql_rules_match finds both rules");
        h.rule_matched = second_only;
        mql_score_hit(&v, &sc, &h, 1);
        ok(v.score == 13, "matches found before the update are the ones paid: 1 + 12");
    }
#undef SCORE_OF
}

/* ---- fit points ------------------------------------------------------------ */

static void test_fit(void)
{
    static const mql_fit_rule_t fit[] = {
        { "DEATCH", 15 }, { "DE", 5 }, { "US", 3 },
    };
    mql_scoring_t sc;
    mql_visitor_t v;
    mql_hit_t h;

    mql_scoring_defaults(&sc);
    sc.half_life = 0;
    sc.fit_rules = fit;
    sc.nfit_rules = 3;

    fresh(&v, 1);
    h = hit_of(B(VIEW), "/");
    mql_score_hit(&v, &sc, &h, 1);
    ok(v.score == 1 && !(v.flags & MQL_VF_FIT), "country unknown: no fit points yet");
    h.country = "de";
    mql_score_hit(&v, &sc, &h, 2);
    ok(v.score == 22, "every fitting rule pays: 1 + 1 + 15 + 5");
    ok(v.flags & MQL_VF_FIT, "fit flag set");
    ok(v.country[0] == 'D' && v.country[1] == 'E', "country recorded");
    mql_score_hit(&v, &sc, &h, 3);
    ok(v.score == 23, "fit points granted once");

    fresh(&v, 1);
    h.country = "FR";
    mql_score_hit(&v, &sc, &h, 1);
    ok(v.score == 1 && (v.flags & MQL_VF_FIT), "no fitting rule: nothing, but decided");
}

/* ---- saturation ------------------------------------------------------------- */

static void test_saturation(void)
{
    mql_rule_t rule;
    mql_scoring_t sc;
    mql_visitor_t v;

    memset(&rule, 0, sizeof rule);
    rule.event = MQL_EV_VIEW;
    rule.points = 1;
    rule.cap = 1000;
    rule.cap_slot = MQL_CAPPED_RULES - 1;
    mql_scoring_defaults(&sc);
    sc.half_life = 0;
    sc.rules = &rule;
    sc.nrules = 1;
    sc.match = posix_match;

    fresh(&v, 1);
    v.counts[MQL_EV_VIEW] = 65534;
    v.caps[MQL_CAPPED_RULES - 1] = 254;
    apply(&v, &sc, B(VIEW), "/", 1);
    is_int(v.counts[MQL_EV_VIEW], 65535, "count reaches 65535");
    is_int(v.caps[MQL_CAPPED_RULES - 1], 255, "cap counter reaches 255");
    apply(&v, &sc, B(VIEW), "/", 2);
    is_int(v.counts[MQL_EV_VIEW], 65535, "count saturates at 65535");
    is_int(v.caps[MQL_CAPPED_RULES - 1], 255, "cap counter saturates at 255");
    is_int(v.counts[MQL_EV_DOWNLOAD], 0, "other counts untouched");

    rule.cap_slot = MQL_CAPPED_RULES;       /* a configuration bug */
    fresh(&v, 1);
    apply(&v, &sc, B(VIEW), "/", 1);
    ok(v.score == 1, "capped rule with a bad slot pays nothing");
}

/* ---- kinds of rule --------------------------------------------------------- */

static void test_rule_kinds(void)
{
    mql_rule_t rule = { .event = MQL_EV_DOWNLOAD, .pattern = "^/whitepapers/", .points = 40 };
    mql_scoring_t sc;
    mql_visitor_t v;
    apr_pool_t *p;
    int kind = -1;

    apr_initialize();
    apr_pool_create(&p, NULL);
    is_str(mql_rule_label(p, &rule), "download ^/whitepapers/ +40", "a rule's label");
    rule.pattern = NULL;
    rule.points = -5;
    is_str(mql_rule_label(p, &rule), "download * -5", "... of a rule without a pattern");
    ok(!mql_rule_kind_named("view", &kind) && !mql_rule_kind_named("country", &kind)
       && !mql_rule_kind_named("", &kind) && kind == -1,
       "events and country are no kinds of their own");
    /* a kind this build lacks (a configuration cannot name one) pays nothing */
    rule = (mql_rule_t){ .kind = 9999, .points = 50 };
    mql_scoring_defaults(&sc);
    sc.rules = &rule;
    sc.nrules = 1;
    sc.match = posix_match;
    fresh(&v, 1);
    apply(&v, &sc, B(VIEW), "/", 1);
    ok(v.score == 1, "a rule of no known kind pays nothing");
    apr_pool_destroy(p);
    apr_terminate();
}

int main(void)
{
    test_classify();
    test_before_handler();
    test_hold_promotion();
    test_defaults();
    test_country_in();
    test_journey();
    rules_matched_first = 1;
    test_journey();             /* the same journey, rules matched before */
    rules_matched_first = 0;
    test_trigger_choice();
    test_requirements();
    test_decay();
    test_conditions();
    test_fit();
    test_saturation();
    test_rule_kinds();
    free_regexes();
    return done_testing();
}
