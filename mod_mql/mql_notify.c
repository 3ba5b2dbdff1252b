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
 * The MQLNotify line of a stage change (mql_notify.h).
 */
#include <math.h>
#include <string.h>

#include <apr_strings.h>

#include "mql_cookie.h"
#include "mql_fields.h"
#include "mql_json.h"
#include "mql_notify.h"

/* Every JSON string goes through the core's one writer (mql_json.c):
 * control bytes escaped, so a contact can never start a new line, and
 * any invalid UTF-8 replaced, so each line parses. */
static const char *jstr(apr_pool_t *p, const char *s)
{
    return mql_json_str(p, s ? s : "", 0);
}

char *mql_notify_line(apr_pool_t *p, const mql_change_t *c, const mql_lead_t *lead,
                      const char *stream, const char *stream_id, mql_notify_story_fn *story,
                      void *baton)
{
    char id[MQL_ID_TEXT_LEN + 1];
    const char *counts = "", *extra = "", *line;
    int ev, n;

    mql_id_to_text(c->id, id);
    if (lead) {
        for (ev = 0; ev < MQL_EV_COUNT; ev++)
            counts = apr_psprintf(p, "%s%s\"%s\":%u", counts, ev ? "," : "",
                                  mql_record_count_name((mql_event_t)ev), lead->counts[ev]);
        extra = apr_psprintf(p, ",\"counts\":{%s},\"current_score\":%ld,\"trigger\":%s,"
                             "\"contact\":%s,\"country\":%s",
                             counts, lead->score,
                             lead->trigger ? jstr(p, lead->trigger) : "null",
                             lead->contact ? jstr(p, lead->contact) : "null",
                             lead->country[0] ? jstr(p, lead->country) : "null");
        /* the record's published fields (mql_fields.h) */
        for (ev = 0; ev < MQL_FIELD_COUNT; ev++)
            if (mql_fields[ev].lead)
                extra = apr_psprintf(p, "%s,\"%s\":%s", extra, mql_fields[ev].lead,
                                     lead->text[ev] ? jstr(p, lead->text[ev]) : "null");
        /* where it came from */
        for (ev = 0; ev < MQL_ATTR_FIELDS; ev++)
            extra = apr_psprintf(p, "%s,\"%s\":%s", extra, mql_record_attr_name(ev),
                                 lead->attr[ev] ? jstr(p, lead->attr[ev]) : "null");
    }
    /* so that a consumer can drop the duplicate a crash between delivery
     * and acknowledgement may cause (an entry ID is unique within its
     * stream) */
    if (stream && stream_id)
        extra = apr_pstrcat(p, extra, ",\"stream\":", jstr(p, stream), ",\"stream_id\":",
                            jstr(p, stream_id), NULL);
    line = apr_psprintf(p, "{\"type\":\"stage\",\"time\":%u,\"visitor\":%s,"
                        "\"old_stage\":%s,\"stage\":%s,\"score\":%ld,"
                        "\"trigger_event\":%s%s",
                        c->time, jstr(p, id),
                        jstr(p, mql_stage_name((mql_stage_t)c->old_stage)),
                        jstr(p, mql_stage_name((mql_stage_t)c->new_stage)),
                        lround(c->score),
                        c->trigger_event < MQL_EV_COUNT && c->new_stage == MQL_STAGE_MQL
                            ? jstr(p, mql_event_name((mql_event_t)c->trigger_event)) : "null",
                        extra);
    /* the lead's last interactions, for whoever picks it up: as many of
     * the last MQL_NOTIFY_STORY as keep the line whole (one atomic write) */
    for (n = MQL_NOTIFY_STORY; story && n > 0; n /= 2) {
        const char *s = story(p, n, baton);

        if (strlen(line) + strlen(s) + 12 <= MQL_NOTIFY_LINE_MAX)
            return apr_pstrcat(p, line, ",\"story\":", s, "}\n", NULL);
    }
    return apr_pstrcat(p, line, story ? ",\"story\":[]}\n" : "}\n", NULL);
}
