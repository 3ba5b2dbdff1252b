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
 * Sales' own points (mqlctl adjust): a delta like a hit's, holding only
 * the points, so that every store applies them as it applies a hit (the
 * score decayed to now first, the gate for promotion checked after) and
 * a crossing of the threshold is an ordinary stage change.
 */
#ifndef MQL_MANUAL_H
#define MQL_MANUAL_H

#include "mql_score.h"

/* What a manual change is called where a rule's name would be: the
 * trigger of a lead it promotes, the story's event. */
#define MQL_MANUAL_NAME "manual"

/* The delta of points manual points (mql_control.h bounds them) for a
 * visitor of site scored by sc: no event, no rule, no flood limit (sales
 * are no flood); a promotion records the trigger "manual". */
void mql_manual_delta(const mql_scoring_t *sc, int points, int site, mql_delta_t *d);

/* The story's rule label of manual points: "manual: REASON". */
const char *mql_manual_label(apr_pool_t *p, const char *reason);

#endif
