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
 * The DBM record of a lead, the format other programs read:
 *   stage=mql;score=112;since=1764147600;last=1764151200;views=14;
 *   downloads=2;forms=1;country=DE;trigger=download:/whitepapers/guide.pdf;
 *   contact=jane%40example.com
 * ';'-separated name=value pairs; values percent-encoded outside
 * [A-Za-z0-9._~/:+-]; empty fields left out.  Key: the 22-character ID.
 */
#ifndef MQL_RECORD_H
#define MQL_RECORD_H

#include <apr_pools.h>
#include "mql_types.h"

/* The attribution fields of a lead: its first touch, then its last. */
enum {
    MQL_ATTR_SOURCE, MQL_ATTR_MEDIUM, MQL_ATTR_CAMPAIGN, MQL_ATTR_LANDING,
    MQL_ATTR_LAST_SOURCE, MQL_ATTR_LAST_MEDIUM, MQL_ATTR_LAST_CAMPAIGN, MQL_ATTR_LAST_LANDING,
    MQL_ATTR_FIELDS
};

/* Their names in the DBM record, the JSON and the CSV of a lead:
 * source medium campaign landing last_source last_medium last_campaign
 * last_landing */
const char *mql_record_attr_name(int attr);

typedef struct mql_lead {
    int stage;                     /* mql_stage_t */
    long score;
    uint32_t since;                /* stage reached */
    uint32_t last;                 /* last seen */
    uint32_t counts[MQL_EV_COUNT];
    char country[3];               /* "" when unknown */
    const char *trigger;           /* "download:/whitepapers/guide.pdf" or NULL */
    const char *contact;           /* or NULL */
    /* the fields mql_fields.h gives a lead name (TEXT), by MQL_FIELD_*:
     * published after the contact, NULL when empty */
    const char *text[MQL_FIELD_COUNT];
    /* where it came from (mql_touch.h), by MQL_ATTR_*: published last,
     * NULL when unknown; a touch nobody can resolve any more reads
     * "other" */
    const char *attr[MQL_ATTR_FIELDS];
} mql_lead_t;

/* Field names of the counts: views downloads forms form_errors pixels
 * campaigns apps */
const char *mql_record_count_name(mql_event_t ev);

/* Fill l from a visitor record (score decayed to now). */
void mql_lead_from_visitor(mql_lead_t *l, const mql_visitor_t *v, const char *contact,
                           uint32_t now, uint32_t half_life, apr_pool_t *p);

/*
 * A visitor record from a lead's DBM record (key id): what the writer
 * puts back into the store when a lead that made room for others comes
 * back.  The score is taken as of last; first visit, caps and flags are
 * not in the record: the first visit is taken as the stage's start, the
 * caps as unpaid, the country as looked up.
 */
void mql_lead_to_visitor(const mql_lead_t *l, const uint8_t id[MQL_ID_BYTES],
                         mql_visitor_t *v);

char *mql_record_encode(apr_pool_t *p, const mql_lead_t *l);

/* Parse a record; unknown fields are ignored (newer writers), a malformed
 * one gives 0.  Strings are decoded into p. */
int mql_record_decode(apr_pool_t *p, const char *value, size_t len, mql_lead_t *l);

/*
 * A lead's new record (value) as it may replace old (old_len bytes, the
 * record the file holds for the same key): the text fields that old has
 * and value lacks -- contact, country, trigger -- are carried over, so a
 * record is never written back with less than it held.  The table may
 * have let go of a lead's contact (its contact area is small) while its
 * file keeps it: the file's copy is the only one.  Returns value itself
 * when nothing is missing or old does not decode.
 */
const char *mql_record_keep(apr_pool_t *p, const char *value, const char *old, size_t old_len);

/* 1 when value has every field mql_record_keep could fill in: then the
 * old record need not be read. */
int mql_record_whole(const char *value);

/* percent-encoding used by the record (and the notification JSON's
 * neighbours): returns a new string from p */
char *mql_pct_encode(apr_pool_t *p, const char *s);
char *mql_pct_decode(apr_pool_t *p, const char *s, size_t len);

#endif
