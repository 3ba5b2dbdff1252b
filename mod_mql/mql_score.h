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
 * Scoring: turning one finished request into events and resolving them,
 * with the rules and criteria of the virtual host, into a delta
 * (mql_delta.h): the one place that knows the kinds of rules.  The glue
 * resolves a hit once and hands the delta to the store, which applies
 * it under its lock.
 */
#ifndef MQL_SCORE_H
#define MQL_SCORE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "mql_types.h"
#include "mql_delta.h"

/* What applying a hit to a record returns. */
#define MQL_UPD_NONE   MQL_DELTA_NONE
#define MQL_UPD_DIRTY  MQL_DELTA_DIRTY   /* a lead's figures changed: its DBM record is due */

/* What the glue knows once the response is decided. */
typedef struct mql_response_facts {
    const char *method;        /* "GET", "POST", ... */
    int status;
    const char *content_type;  /* may be NULL */
    const char *query;         /* raw, may be NULL */
    int is_download_ext;       /* path ends in an MQLDownloadExtensions entry */
    int range_complete;        /* a 206 whose ranges reached the file's end */
    int is_pixel;              /* served by the mql-pixel handler */
    int has_app_event;         /* X-MQL-Event came from the application */
    /* httpd answered before any handler ran (mod_dir's trailing-slash
     * redirect, Redirect, an access check's refusal or redirect): not the
     * site's answer, so a POST that got it is no form. */
    int before_handler;
} mql_response_facts_t;

/* Bitmask of MQL_EV_BIT(event) for the request; 0 = nothing to score. */
unsigned mql_classify(const mql_response_facts_t *f);

/* Compiled regex, opaque to the core: the glue passes ap_regex, the unit
 * tests POSIX regex.  Returns 1 on match. */
typedef int mql_regex_match_fn(const void *re, const char *subject);

typedef struct mql_rule {
    int event;                 /* mql_event_t */
    const void *url_re;        /* matched against the URL path; NULL = any */
    const void *referer_re;    /* NULL = not required */
    const char *query_name;    /* NULL = not required */
    const char *query_value;
    int points;
    int cap;                   /* 0 = uncapped */
    int cap_slot;              /* index into mql_visitor_t.caps when cap > 0 */
    const char *source;        /* "file:line" for messages */
    const char *pattern;       /* the URL regex, or a kind's arguments, as written
                                  (the journal's label) */
    /* A rule of a kind of its own (MQLRule KIND ..., mql_rule_kind_t),
     * or 0: the EVENT URL-REGEX form.  Its arguments as the kind takes
     * them: a word, then a regex. */
    int kind;
    const char *arg;
    const void *arg_re;
    int disqualify;            /* a knock-out (mql_knockout.h): the glue rejects */
} mql_rule_t;

/* "MQLRule country CC... POINTS": fit points, granted once per visitor. */
typedef struct mql_fit_rule {
    const char *countries;     /* packed alpha-2 codes, "DEATCH" */
    int points;
} mql_fit_rule_t;

#define MQL_REQ_DOWNLOAD 0x1
#define MQL_REQ_FORM     0x2
#define MQL_REQ_COUNTRY  0x4

typedef struct mql_scoring {
    int points[MQL_EV_COUNT];
    const mql_rule_t *rules;
    int nrules;
    const mql_fit_rule_t *fit_rules;
    int nfit_rules;
    mql_regex_match_fn *match;
    double threshold;
    uint32_t half_life;        /* seconds; 0 = no decay */
    unsigned require;          /* MQL_REQ_* */
    const char *require_countries; /* packed alpha-2 codes */
} mql_scoring_t;

void mql_scoring_defaults(mql_scoring_t *sc);   /* the spec's points, 100, 30d */

/* One request, classified. */
typedef struct mql_hit {
    unsigned events;           /* MQL_EV_BIT mask */
    int app_points;            /* points of the X-MQL-Event */
    const char *path;          /* URL path (for rules and the trigger) */
    const char *referer;       /* may be NULL */
    const char *query;         /* raw query, may be NULL */
    const char *country;       /* 2 letters or NULL when unknown */
    const char *method;        /* "GET", "POST", ...; may be NULL */
    const apr_table_t *headers; /* the request's; may be NULL */
    /* Optional: rule i's conditions (event, URL, referer, query) hold when
     * rule_matched[i] is non-zero, as found by mql_rules_match() before
     * the table is locked; NULL = match them while resolving. */
    const unsigned char *rule_matched;
    /* Set by the flood limits: the visitor may not become a lead on this
     * hit, whatever its score (a later hit may promote it). */
    int hold_promotion;
    int site;                  /* the virtual host's DBM file (mql_site_t) */
    /* The flood limits on promotion (mql_flood.h), or NULL for none. */
    const struct mql_lead_gate *gate;
    /* Where the visitor came from (mql_touch.h), or NULL: a page view's
     * touch ID, the first touch when the record has none, and the last
     * touch too, always when touch_replaces (a campaign's or a referral),
     * else only when it has none (a direct arrival). */
    const char *touch_id;
    int touch_replaces;
} mql_hit_t;

/*
 * Kinds of rule besides EVENT URL-REGEX and country, each named by
 * MQLRule's first word: "MQLRule KIND [WORD] [REGEX] POINTS [cap=N]
 * [referer=REGEX] [query=NAME=VALUE]", WORD into the rule's arg and REGEX
 * into its arg_re, and the rule holds for a scored hit (one with events)
 * when holds() says so and its other conditions hold.  A new kind is an
 * entry of mql_score.c's table and its function: the configuration reads
 * the kinds from the table, and the stores see only the points it pays.
 */
typedef struct mql_rule_kind {
    const char *name;
    const char *args;          /* what follows the name, for messages: "NAME REGEX" */
    int word;                  /* takes a word (arg) */
    int regex;                 /* takes a regex (arg_re), after the word */
    int (*holds)(const mql_rule_t *r, const mql_scoring_t *sc, const mql_hit_t *hit);
} mql_rule_kind_t;

/* The kind named name (case aside), its number into *kind; NULL when
 * there is none of that name. */
const mql_rule_kind_t *mql_rule_kind_named(const char *name, int *kind);

/* A rule as sales reads it: "download ^/whitepapers/ +40". */
const char *mql_rule_label(apr_pool_t *p, const mql_rule_t *r);

/* Fill matched[0 .. sc->nrules - 1]: which rules' conditions the hit meets
 * (regexes run here, so the caller can do it without holding the lock). */
void mql_rules_match(const mql_scoring_t *sc, const mql_hit_t *hit, unsigned char *matched);

/* score decayed from last_seen to now by the half-life */
double mql_decay(double score, uint32_t last_seen, uint32_t now, uint32_t half_life);

/* current score of v as seen at now (never below 0 for display? no: may be
 * negative through negative rules) */
double mql_current_score(const mql_visitor_t *v, uint32_t now, uint32_t half_life);

/*
 * What the hit does to a visitor, resolved once: the events' and the
 * matching rules' points (a capped rule as an item of its own), the fit
 * points of the hit's country, the counts, the gate for promotion (the
 * threshold, MQLRequire, the flood limits' hold and gate), the trigger a
 * promotion records, and the fields to set (the first and last touch).  Every store applies d
 * (mql_delta_apply) wherever it keeps the record.
 */
void mql_score_resolve(const mql_scoring_t *sc, const mql_hit_t *hit, mql_delta_t *d);

/* The hit resolved and applied to v at time now, in one call (tests and
 * tools; the request path resolves once and hands the delta to the
 * store).  MQL_UPD_DIRTY when v is a lead whose figures changed. */
int mql_score_hit(mql_visitor_t *v, const mql_scoring_t *sc, const mql_hit_t *hit,
                  uint32_t now);

/* 1 when v is a plain visitor whose score has reached the threshold and
 * whose requirements hold: one that a hit would promote. */
int mql_score_qualifies(const mql_visitor_t *v, const mql_scoring_t *sc);

/*
 * A lead put back into the store after it made room for others (old, as
 * published) merged with the record its return made meanwhile (into):
 * the lead's identity, stage and history, both scores (old's decayed to
 * into's last visit) and both counts.  0 when into holds old already
 * (it starts no later than old: merged before), 1 when merged.
 */
int mql_visitor_merge(mql_visitor_t *into, const mql_visitor_t *old, uint32_t half_life);

/* 1 when the country code (2 chars) is in the packed list */
int mql_country_in(const char *packed, const char *cc);

#endif
