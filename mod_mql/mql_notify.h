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
 * The MQLNotify line of a stage change: one JSON object per line, whole
 * or not at all (the glue writes it with one write(2) into a pipe, so it
 * stays under PIPE_BUF and a reader never sees two lines mixed).
 *
 *   {"type":"stage","time":T,"visitor":ID,"old_stage":S,"stage":S,
 *    "score":N,"trigger_event":E|null
 *    [,"counts":{...},"current_score":N,"trigger":..,"contact":..,"country":..]
 *    [,"stream":KEY,"stream_id":ID]
 *    [,"story":[...]]}
 *
 * The counts and the rest when the store still holds the visitor; the
 * stream fields with MQLStore redis://; the story with MQLJournal.
 */
#ifndef MQL_NOTIFY_H
#define MQL_NOTIFY_H

#include <apr_pools.h>
#include "mql_record.h"
#include "mql_visitors.h"

#define MQL_NOTIFY_LINE_MAX 4000   /* below PIPE_BUF: one atomic write */
#define MQL_NOTIFY_STORY    10     /* events of the lead's story in its line */

/* The lead's last events (a JSON array), at most max of them. */
typedef const char *mql_notify_story_fn(apr_pool_t *p, int max, void *baton);

/*
 * The line of change c, newline included.  lead: the visitor as the store
 * holds it now, or NULL when it is gone; stream and stream_id: the fleet's
 * stream and entry, or NULL; story: NULL without a journal, else called
 * for the last MQL_NOTIFY_STORY events, then half as many, and so on,
 * until they fit in MQL_NOTIFY_LINE_MAX (an empty story when none does).
 */
char *mql_notify_line(apr_pool_t *p, const mql_change_t *c, const mql_lead_t *lead,
                      const char *stream, const char *stream_id, mql_notify_story_fn *story,
                      void *baton);

#endif
