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
 * What mqlctl and a running server say to each other through MQLStateDir,
 * defined once for both sides:
 *
 *   control/NAME.req    a request from mqlctl, one line ("set ID STAGE",
 *                       "set ID rejected REASON", "forget ID", "adjust ID
 *                       POINTS REASON", a reason percent-encoded), written
 *                       under a temporary name
 *                       (.tmp.*, never read) and renamed; the server's
 *                       writer applies the requests in name order (the
 *                       name starts with the time) and removes each
 *   writer.status       "name=value" lines the writer rewrites every round:
 *                       running, server (the httpd parent's PID), pid,
 *                       time, then its counters
 *   visitors.snapshot   the snapshot (mql_snapshot.c), which mqlctl edits
 *                       when no server runs
 *   sites               the server's sites, written at each start: one line
 *                       per leads file, "NAME<TAB>TYPE<TAB>FILE", so that
 *                       mqlctl --site finds a site by the name its status
 *                       page gives it (the ServerName of its first virtual
 *                       host)
 *   store, store.auth   which store outside the server holds the visitors
 *                       (written by root at each start, only for such a
 *                       store: mql_redis_proto.h), for mqlctl forget on a
 *                       stopped server
 */
#ifndef MQL_CONTROL_H
#define MQL_CONTROL_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include "mql_types.h"

#define MQL_SNAPSHOT_NAME "visitors.snapshot"
#define MQL_CONTROL_DIR   "control"
#define MQL_STATUS_NAME   "writer.status"
#define MQL_SITES_NAME    "sites"
#define MQL_STORE_FILE_NAME      "store"
#define MQL_STORE_AUTH_FILE_NAME "store.auth"

typedef enum {
    MQL_CONTROL_SET = 1,        /* sales' decision: a stage past visitor */
    MQL_CONTROL_FORGET,         /* erase the visitor everywhere */
    MQL_CONTROL_ADJUST          /* sales' own points, with their reason */
} mql_control_verb_t;

/* Manual points: at most this many either way (never 0), and a reason of
 * 1 to MQL_REASON_MAX bytes without control characters, so that it reads
 * the same in the journal, on the status page and in a terminal. */
#define MQL_ADJUST_MAX 1000
#define MQL_REASON_MAX 120

typedef struct mql_control {
    mql_control_verb_t verb;
    uint8_t id[MQL_ID_BYTES];
    const char *id_text;        /* as written */
    mql_stage_t stage;          /* MQL_CONTROL_SET */
    int points;                 /* MQL_CONTROL_ADJUST */
    const char *reason;         /* MQL_CONTROL_ADJUST, decoded; a rejection's, or NULL */
} mql_control_t;

/* The line of a request (stage only for MQL_CONTROL_SET). */
const char *mql_control_format(apr_pool_t *p, mql_control_verb_t verb, const char *id_text,
                               mql_stage_t stage);

/* "set ID rejected REASON": sales' rejection with its reason (what
 * mql_control_format makes without one). */
const char *mql_control_format_reject(apr_pool_t *p, const char *id_text, const char *reason);

/* "adjust ID POINTS REASON": the request line of manual points. */
const char *mql_control_format_adjust(apr_pool_t *p, const char *id_text, int points,
                                      const char *reason);

/* NULL when s is manual points ("+20", "-5", "20": an integer from
 * -MQL_ADJUST_MAX to MQL_ADJUST_MAX, not 0) into *points, else what is
 * expected. */
const char *mql_adjust_points(const char *s, int *points);

/* NULL when reason is one (see MQL_REASON_MAX: manual points', a
 * rejection's), else what is expected. */
const char *mql_adjust_reason(const char *reason);

#define MQL_CONTROL_OK        0
#define MQL_CONTROL_MALFORMED 1     /* no verb or no valid visitor ID */
#define MQL_CONTROL_UNKNOWN   2     /* a verb (or arguments) this build does not know */

/* Parse a request file's text; *verb_seen (may be NULL) gets the first
 * word, for messages. */
int mql_control_parse(apr_pool_t *p, const char *text, mql_control_t *out,
                      const char **verb_seen);

/* The names a request takes in the control directory: a temporary one,
 * then the one it is renamed to (ordered by time, unique by PID and a
 * random word). */
const char *mql_control_temp_name(apr_pool_t *p, long pid, uint32_t rnd);
const char *mql_control_request_name(apr_pool_t *p, apr_time_t now, long pid, uint32_t rnd);

/* 1 when a directory entry is a request to apply (not a temporary). */
int mql_control_is_request(const char *name);

/* writer.status as the writer writes it; counters are NULL-terminated
 * names with their values. */
typedef struct mql_status_counter {
    const char *name;
    uint64_t value;
} mql_status_counter_t;

const char *mql_status_format(apr_pool_t *p, int running, long server, long pid,
                              uint32_t now, const mql_status_counter_t *counters);

/* One line of writer.status: 1, and its name and value,
 * when it is "name=value" (the newline, if any, is not part of value). */
int mql_status_line(apr_pool_t *p, const char *line, const char **name, const char **value);

/*
 * MQLStateDir/sites.  Each field has its control bytes (a tab, a newline),
 * DEL and '%' written as %XX, so that any file name survives; lines that
 * start with '#' are comments.
 */
typedef struct mql_site_entry {
    const char *name;           /* the ServerName of its first virtual host, or "" */
    const char *type;           /* MQLDBMType */
    const char *file;           /* MQLDBMFile, as the server opens it */
} mql_site_entry_t;

const char *mql_sites_format(apr_pool_t *p, const mql_site_entry_t *sites, int n);

/* The sites of a file's text, in its order (an array of mql_site_entry_t);
 * *bad (may be NULL) gets the number of lines that are neither a site, a
 * comment nor empty. */
apr_array_header_t *mql_sites_parse(apr_pool_t *p, const char *text, int *bad);

/* The first site of that name, compared without case as the status page's
 * ?site= does, or NULL. */
const mql_site_entry_t *mql_sites_find(const apr_array_header_t *sites, const char *name);

#endif
