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
 * Knock-outs' glue (mod_mql_knockout.c): MQLDisqualify, and what a request
 * that knocks its visitor out does.  The hit is applied with its promotion
 * held back (mql_delta_t.hold, which both stores honour atomically with
 * the hit), then a plain visitor is rejected through the store like any
 * stage change (MQL_STAGE_IF_VISITOR: decided under the store's lock, or
 * by Redis for a fleet): it is never an MQL, not even for the length of
 * one request, and no MQL notification goes out for it.  A lead (an MQL
 * made before, or one sales decided on) is left as it is: sales overrule
 * with mqlctl set, and a later knock-out does not undo their decision.
 */
#ifndef MOD_MQL_KNOCKOUT_H
#define MOD_MQL_KNOCKOUT_H

#include "mod_mql_private.h"
#include "mql_visitors.h"

typedef struct mql_knockout {
    unsigned flag;              /* MQL_JF_KNOCKOUT_RULE or _DOMAIN (mql_jring.h), 0: none */
    unsigned index;             /* the rule, or the domain in the site's list */
} mql_knockout_t;

/* MQLDisqualify contact-domain DOMAIN... */
const char *mql_set_disqualify(cmd_parms *cmd, void *dconf, int argc, char *const argv[]);

/* 1 when the hit (its rules matched already) or the contact the
 * application gave with it knocks the visitor out, and which into *ko. */
int mql_knockout_find(const mql_srv_conf_t *sc, const mql_hit_t *hit, const char *contact,
                      mql_knockout_t *ko);

/* After the hit (applied with hold): the visitor rejected when it is
 * still a plain one (res->after's stage then says so); 1 when it was
 * here (a fleet's Redis decides for itself). */
int mql_knockout_reject(request_rec *r, const mql_knockout_t *ko, mql_hit_result_t *res,
                        uint32_t now);

#endif
