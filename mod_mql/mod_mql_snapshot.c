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
 * The writer's snapshot job: every MQL_ROUND_SNAPSHOT_EVERY seconds (and
 * right after a forget, so that the ID leaves the file) the visitors idle
 * past MQLExpire are reclaimed and the snapshot in MQLStateDir is saved,
 * for the next start to restore (mod_mql_runtime.c).
 */
#include "mod_mql_jobs.h"
#include "mod_mql_runtime.h"

APLOG_USE_MODULE(mql);

void mql_snapshot_periodic(server_rec *s, apr_pool_t *p, uint32_t now, mql_writer_stats_t *st)
{
    uint32_t count = 0;
    apr_status_t rv;

    mql_visitors_expire(mql_g->store, now);
    rv = mql_snapshot_save(mql_g->store, mql_state_path(p, MQL_SNAPSHOT_NAME), p, &count);
    if (rv != APR_SUCCESS) {
        MQL_STAT_ADD(st, snapshot_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "MQL03040: periodic snapshot %s failed",
                     mql_state_path(p, MQL_SNAPSHOT_NAME));
    }
    else {
        MQL_STAT_ADD(st, snapshots, 1);
        MQL_STAT_SET(st, last_snapshot_count, count);
    }
    /* also after a failure: retry at the next period, not every round */
    MQL_STAT_SET(st, last_snapshot, now);
}
