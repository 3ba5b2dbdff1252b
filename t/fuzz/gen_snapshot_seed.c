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
 * Writes small valid snapshots for the fuzz_snapshot corpus, with
 * mql_snapshot_save itself, so the seeds always match this build's
 * record layout.  Usage: gen_snapshot_seed DIR
 */
#include <stdio.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "mql_shm.h"

static const uint8_t hash_key[MQL_KEY_BYTES] = { 1 };

static int make_lead(mql_visitor_t *v, int is_new, void *baton)
{
    int i = *(int *)baton;

    v->score = 10.5 * i;
    v->counts[MQL_EV_VIEW] = (uint16_t)(3 + i);
    v->counts[MQL_EV_DOWNLOAD] = (uint16_t)(i & 1);
    v->country[0] = 'D';
    v->country[1] = 'E';
    if (i % 2 == 0) {
        v->stage = MQL_STAGE_MQL;
        v->stage_since = v->last_seen;
        v->trigger_event = MQL_EV_DOWNLOAD;
        strcpy(v->trigger, "/whitepapers/guide.pdf");
    }
    return MQL_UPD_DIRTY;
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    int sizes[] = { 0, 1, 3 }, k, i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    for (k = 0; k < 3; k++) {
        void *base = apr_palloc(p, mql_shm_size(4));
        mql_shm_t *s;
        mql_hit_result_t res;
        uint8_t id[MQL_ID_BYTES];

        mql_shm_format(base, 4, hash_key);
        s = mql_shm_attach(p, base, 4, NULL, NULL, NULL);
        for (i = 0; i < sizes[k]; i++) {
            memset(id, 0x40 + i, sizeof id);
            if (mql_shm_update(s, id, 1764147600 + i, make_lead, &i, &res) != APR_SUCCESS)
                return 1;
            if (i == 1)
                mql_shm_set_contact(s, id, "jane@example.com", 1764147600 + i);
        }
        if (mql_snapshot_save(mql_shm_visitors(p, s), apr_psprintf(p, "%s/seed-%d.snap", argv[1], sizes[k]), p,
                              NULL) != APR_SUCCESS)
            return 1;
    }
    return 0;
}
