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

#include <string.h>
#include "mql_types.h"

static const char *const event_names[MQL_EV_COUNT] = {
    "view", "download", "form", "form-error", "pixel", "campaign", "app"
};

static const char *const stage_names[MQL_STAGE_COUNT] = {
    "visitor", "mql", "sql", "rejected"
};

static int index_of(const char *const *names, int n, const char *name)
{
    int i;

    for (i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *mql_event_name(mql_event_t ev)
{
    return (unsigned)ev < MQL_EV_COUNT ? event_names[ev] : "unknown";
}

int mql_event_from_name(const char *name)
{
    return index_of(event_names, MQL_EV_COUNT, name);
}

const char *mql_stage_name(mql_stage_t st)
{
    return (unsigned)st < MQL_STAGE_COUNT ? stage_names[st] : "unknown";
}

int mql_stage_from_name(const char *name)
{
    return index_of(stage_names, MQL_STAGE_COUNT, name);
}
