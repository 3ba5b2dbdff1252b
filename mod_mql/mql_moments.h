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
 * The moments sales must hear about beyond a stage change: a lead that
 * comes back after a long silence (MQLActiveAfter, "active") and an MQL
 * left waiting for a verdict (MQLDecisionSLA, "sla").  What decides them
 * and the objects they are announced with; the writer's glue is
 * mod_mql_moments.c.
 */
#ifndef MQL_MOMENTS_H
#define MQL_MOMENTS_H

#include <stdint.h>
#include <apr_pools.h>
#include "mql_visitors.h"

/* 1 when the request of res, by a visitor last seen at prev_seen, is a
 * lead (mql or sql before it) coming back after more than after seconds
 * idle; after 0 = never. */
int mql_moments_is_active(const mql_hit_result_t *res, uint32_t prev_seen, uint32_t now,
                          int64_t after);

/* What the announcement knows of the lead (contact and trigger may be
 * NULL). */
typedef struct mql_moment {
    const char *visitor;            /* ID text */
    uint32_t time;
    const char *stage;
    long score;
    const char *contact;
    const char *trigger;
    const char *path;               /* active: the page it came back to */
    uint32_t mql_time;              /* sla: when it qualified */
    int64_t sla;                    /* sla: MQLDecisionSLA, seconds */
} mql_moment_t;

/* The notification line's object, one line ending in a newline. */
char *mql_moments_active_json(apr_pool_t *p, const mql_moment_t *m);
char *mql_moments_sla_json(apr_pool_t *p, const mql_moment_t *m);

#endif
