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
 * The journal's glue (mod_mql_journal.c): the event ring the request path
 * fills, and what the background writer does with it (the SQLite journal
 * of mql_journal.c).  The request path only calls mql_journal_capture.
 */
#ifndef MOD_MQL_JOURNAL_H
#define MOD_MQL_JOURNAL_H

#include "mod_mql_private.h"
#include "mql_journal.h"

/* Parent, post_config: the ring, made once and kept across graceful
 * restarts (as the writer's own segment). */
apr_status_t mql_journal_setup(server_rec *s);

/* Request path: the scored request into the ring; dropped (and counted)
 * when the ring is full. */
void mql_journal_capture(const mql_hit_t *hit, const mql_hit_result_t *res, uint32_t now,
                         uint32_t prev_seen, int nrules);

/* The same for a request that rejected the visitor (a knock-out): flag
 * MQL_JF_KNOCKOUT_RULE or _DOMAIN (mql_jring.h) and which rule or domain
 * of the site's. */
void mql_journal_capture_knockout(const mql_hit_t *hit, const mql_hit_result_t *res,
                                  uint32_t now, uint32_t prev_seen, int nrules, unsigned flag,
                                  unsigned index);

/* Writer: the reason sales gave a rejection (mqlctl set ID
 * stage=rejected reason=TEXT), where a knock-out's goes (lead_reasons). */
void mql_journal_verdict_reason(server_rec *s, const char *id_text, uint32_t time,
                                const char *reason);

/* Writer: manual points (mqlctl adjust) into the story, as event
 * "manual" with their reason, and the score after them. */
void mql_journal_manual(server_rec *s, const char *id_text, uint32_t time, double points,
                        const char *reason, double score);

/* Writer: its journal, opened on first use; NULL when off or not open. */
mql_journal_t *mql_journal_writer(server_rec *s);

/* Writer (one process at a time): the ring into the journal. */
void mql_journal_drain(server_rec *s, apr_pool_t *p, uint32_t now);
/* Stage changes for the funnel and the leads' table, in one transaction. */
void mql_journal_stage_changes(server_rec *s, const mql_change_t *c, unsigned n);
/* The last max events of a visitor as JSON ("[]" without a journal). */
const char *mql_journal_story_of(apr_pool_t *p, const char *id_text, int max);
/* A forget request: the visitor's story and row go. */
void mql_journal_forget_id(server_rec *s, const char *id_text);
/* Retention and the size cap (with the snapshot, every minute). */
void mql_journal_trim(server_rec *s, uint32_t now);
/* The writer's process ends its work (graceful restart, stop). */
void mql_journal_release(void);

/* Counters for the status page. */
typedef struct mql_journal_stats {
    int enabled;
    uint64_t taken, dropped, lost, written, errors;
    uint64_t shed;                  /* over the rate: counted, not kept */
    int64_t bytes;
} mql_journal_stats_t;
void mql_journal_stats(mql_journal_stats_t *out);

/* Read-only access for the status page; NULL when off or not there yet. */
mql_journal_t *mql_journal_reader(apr_pool_t *p);

#endif
