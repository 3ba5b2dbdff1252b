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
 * The background writer's decisions in a round (mql_round.h).
 */
#include "mql_round.h"

int mql_round_publish_due(int final, int forget, apr_time_t now, apr_time_t next_publish)
{
    return final || forget || now >= next_publish;
}

uint32_t mql_round_min_interval(int final)
{
    return final ? 0 : MQL_ROUND_MIN_INTERVAL;
}

int mql_round_snapshot_due(int final, int forget, uint32_t now, uint32_t last_snapshot)
{
    return !final && (forget || now - last_snapshot >= MQL_ROUND_SNAPSHOT_EVERY);
}

int mql_round_controls_done(int forget, int published)
{
    return published || !forget;
}
