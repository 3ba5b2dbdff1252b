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

#include <apr_strings.h>

#include "mql_json.h"
#include "mql_moments.h"
#include "mql_types.h"

int mql_moments_is_active(const mql_hit_result_t *res, uint32_t prev_seen, uint32_t now,
                          int64_t after)
{
    uint8_t before;

    if (after <= 0 || !res->found || !prev_seen || now < prev_seen)
        return 0;
    /* a visitor that qualifies with this very request did not come back
     * as a lead */
    before = res->stage_changed ? res->old_stage : res->after.stage;
    if (before != MQL_STAGE_MQL && before != MQL_STAGE_SQL)
        return 0;
    return (int64_t)(now - prev_seen) > after;
}

static const char *jstr(apr_pool_t *p, const char *s)
{
    return s ? mql_json_str(p, s, 0) : "null";
}

char *mql_moments_active_json(apr_pool_t *p, const mql_moment_t *m)
{
    return apr_psprintf(p, "{\"type\":\"active\",\"time\":%u,\"visitor\":%s,\"stage\":%s,"
                        "\"score\":%ld,\"path\":%s,\"contact\":%s,\"trigger\":%s}\n",
                        m->time, jstr(p, m->visitor), jstr(p, m->stage), m->score,
                        jstr(p, m->path ? m->path : ""), jstr(p, m->contact),
                        jstr(p, m->trigger));
}

char *mql_moments_sla_json(apr_pool_t *p, const mql_moment_t *m)
{
    return apr_psprintf(p, "{\"type\":\"sla\",\"time\":%u,\"visitor\":%s,\"stage\":%s,"
                        "\"score\":%ld,\"mql_time\":%u,\"waiting\":%ld,\"sla\":%ld,"
                        "\"contact\":%s,\"trigger\":%s}\n",
                        m->time, jstr(p, m->visitor), jstr(p, m->stage), m->score,
                        m->mql_time, m->time > m->mql_time ? (long)(m->time - m->mql_time) : 0L,
                        (long)m->sla, jstr(p, m->contact), jstr(p, m->trigger));
}
