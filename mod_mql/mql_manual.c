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
 * Manual points as a delta (mql_manual.h).
 */
#include <string.h>
#include <apr_strings.h>

#include "mql_manual.h"

void mql_manual_delta(const mql_scoring_t *sc, int points, int site, mql_delta_t *d)
{
    mql_hit_t hit;

    /* resolved as a hit without events: no rule can match one, and the
     * gate is the site's, whatever it requires */
    memset(&hit, 0, sizeof hit);
    hit.path = MQL_MANUAL_NAME;
    hit.site = site;
    mql_score_resolve(sc, &hit, d);
    d->items[0].points = points;
    /* an outside event, as the application's are: not a page view */
    d->trigger_event = MQL_EV_APP;
}

const char *mql_manual_label(apr_pool_t *p, const char *reason)
{
    return apr_pstrcat(p, MQL_MANUAL_NAME ": ", reason, NULL);
}
