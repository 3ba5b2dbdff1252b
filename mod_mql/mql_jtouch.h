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
 * The funnel by first touch, in the journal (mql_journal.h): a table
 *   touch_days(day, dim, value, new_visitors, mqls, accepted, rejected)
 * with, per UTC day and per value of source, medium and campaign (of the
 * visitor's first touch; "(none)" for no campaign, "other" for a touch
 * the dictionary could not keep), the new visitors, new MQLs and sales'
 * verdicts.  The writer counts into a batch as it drains the ring and
 * records stage changes, and adds the batch in its transaction; mqlctl
 * funnel --by reads it.  Days older than MQL_JOURNAL_DAYS are dropped.
 */
#ifndef MQL_JTOUCH_H
#define MQL_JTOUCH_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "mql_journal.h"
#include "mql_touch.h"

#define MQL_JTOUCH_SCHEMA \
    "CREATE TABLE IF NOT EXISTS touch_days(day INTEGER NOT NULL, dim TEXT NOT NULL, " \
    "  value TEXT NOT NULL, new_visitors INTEGER DEFAULT 0, mqls INTEGER DEFAULT 0, " \
    "  accepted INTEGER DEFAULT 0, rejected INTEGER DEFAULT 0, " \
    "  PRIMARY KEY(day, dim, value)) WITHOUT ROWID;"

/* What funnel --by takes: "source", "medium", "campaign"; NULL-ended. */
extern const char *const mql_jtouch_dims[];
int mql_jtouch_dim_ok(const char *dim);

typedef struct mql_jtouch_batch mql_jtouch_batch_t;

mql_jtouch_batch_t *mql_jtouch_batch_make(apr_pool_t *p);

/* One visitor of first touch t (NULL: "other") counted in field (new
 * visitors, MQLs, accepted, rejected) of day. */
void mql_jtouch_count(mql_jtouch_batch_t *b, uint32_t day, const mql_touch_t *t,
                      mql_day_field_t field);

/* The batch into the journal, inside the caller's transaction (and the
 * days past MQL_JOURNAL_DAYS of now out), emptied. */
apr_status_t mql_jtouch_flush(mql_journal_t *j, mql_jtouch_batch_t *b, uint32_t now);

/* The funnel by one dimension: the last ndays days up to now's day, a
 * row per value, most new visitors first. */
typedef struct mql_jtouch_row {
    const char *value;
    uint64_t new_visitors, mqls, accepted, rejected;
    double acceptance;                  /* accepted / (accepted + rejected), -1 */
} mql_jtouch_row_t;

apr_status_t mql_jtouch_funnel(mql_journal_t *j, apr_pool_t *p, uint32_t now, int ndays,
                               const char *dim, apr_array_header_t **rows);

#endif
