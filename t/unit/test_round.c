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

/* The writer's decisions in a round (mql_round.c): when it publishes,
 * how long a lead's changes wait, when it saves the snapshot and when
 * the control requests it applied may go. */
#include <apr_general.h>

#include "tap.h"
#include "mql_round.h"

int main(void)
{
    apr_time_t t = apr_time_from_sec(1764151200);

    ok(!mql_round_publish_due(0, 0, t, t + 1), "a routine round waits for the pace");
    ok(mql_round_publish_due(0, 0, t, t), "and publishes once it is due");
    ok(mql_round_publish_due(0, 0, t + 5, t), "or late");
    ok(mql_round_publish_due(1, 0, t, t + apr_time_from_sec(10)),
       "a stopping child does not wait");
    ok(mql_round_publish_due(0, 1, t, t + apr_time_from_sec(10)), "nor a forget request");
    ok(mql_round_publish_due(0, 0, t, 0), "the first round of a writer publishes");

    is_int(mql_round_min_interval(0), MQL_ROUND_MIN_INTERVAL,
           "a lead written recently waits MQL_ROUND_MIN_INTERVAL for its next write");
    is_int(mql_round_min_interval(1), 0, "a stopping child takes every lead that changed");

    ok(!mql_round_snapshot_due(0, 0, 1000, 1000 - MQL_ROUND_SNAPSHOT_EVERY + 1),
       "no snapshot within the period");
    ok(mql_round_snapshot_due(0, 0, 1000, 1000 - MQL_ROUND_SNAPSHOT_EVERY),
       "one when the period is over");
    ok(mql_round_snapshot_due(0, 0, 1000, 0), "and at the first round");
    ok(mql_round_snapshot_due(0, 1, 1000, 1000), "at once after a forget");
    ok(!mql_round_snapshot_due(1, 1, 1000, 0),
       "never in a stopping child's last round (the parent saves at its exit)");

    ok(mql_round_controls_done(0, 0), "requests other than forget go at once");
    ok(mql_round_controls_done(0, 1), "with or without a publication");
    ok(!mql_round_controls_done(1, 0), "a forget stays until a publication went through");
    ok(mql_round_controls_done(1, 1), "and then goes");
    return done_testing();
}
