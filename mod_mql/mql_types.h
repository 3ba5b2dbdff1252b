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
 * Shared vocabulary of the mod_mql core: events, stages and the visitor
 * record that lives in shared memory.  No httpd headers here: the core
 * builds against APR alone so that mqlctl and the unit tests can link it.
 */
#ifndef MQL_TYPES_H
#define MQL_TYPES_H

#include <stdint.h>
#include <stddef.h>

#define MQL_ID_BYTES 16          /* 128 random bits per visitor */
#define MQL_KEY_BYTES 16         /* SipHash-2-4 key */

typedef enum {
    MQL_EV_VIEW = 0,
    MQL_EV_DOWNLOAD,
    MQL_EV_FORM,
    MQL_EV_FORM_ERROR,
    MQL_EV_PIXEL,
    MQL_EV_CAMPAIGN,
    MQL_EV_APP,
    MQL_EV_COUNT
} mql_event_t;

#define MQL_EV_BIT(ev) (1u << (ev))

typedef enum {
    MQL_STAGE_VISITOR = 0,
    MQL_STAGE_MQL,
    MQL_STAGE_SQL,
    MQL_STAGE_REJECTED,
    MQL_STAGE_COUNT
} mql_stage_t;

/* A lead is anything past plain visitor: never evicted, written to DBM. */
#define MQL_STAGE_IS_LEAD(s) ((s) != MQL_STAGE_VISITOR)

/* Names as they appear in directives, env vars, DBM records and JSON. */
const char *mql_event_name(mql_event_t ev);          /* "view", "form-error" */
int mql_event_from_name(const char *name);           /* -1 when unknown */
const char *mql_stage_name(mql_stage_t st);          /* "visitor", "mql" */
int mql_stage_from_name(const char *name);           /* -1 when unknown */

/* What a visitor record says of itself (mql_visitor_t.flags); a store
 * keeps its own bookkeeping elsewhere. */
#define MQL_VF_COUNTRY 0x01   /* GeoIP lookup done (country may be "--") */
#define MQL_VF_FIT     0x02   /* country fit points already granted */

#define MQL_CAPPED_RULES 8    /* rules with cap=N, per-visitor counters */
#define MQL_TRIGGER_LEN 32    /* trigger URL path, NUL-terminated, truncated */

#include "mql_fields.h"

/*
 * One visitor as the module knows it, whatever store holds it (96 bytes
 * today), no pointers and no store's links, so that a store can keep it as it is
 * (the shared-memory table puts its own links beside it) or send it
 * anywhere.  Times are Unix seconds in 32 bits, good until 2106.  The
 * contact (X-MQL-Contact) travels beside it: few visitors have one.
 */
typedef struct mql_visitor {
    /* id, score (as of last_seen, before decay), first_seen, last_seen
     * (last event; the decay reference time), stage_since (when the
     * current stage was reached), counts (saturating), stage,
     * trigger_event (that crossed the threshold), site (which DBM file
     * holds the lead), flags (MQL_VF_*), country (ISO 3166 alpha-2, or
     * zeros), caps (times each capped rule paid), trigger: mql_fields.h */
    MQL_VISITOR_FIELDS(MQL_FIELD_DECL)
} mql_visitor_t;

/* No padding: every byte of the record is a field's, so a store that
 * copies it copies nothing unset, and a new field is sized to fill the
 * record's alignment (8 bytes). */
#define MQL_FIELD_SIZE(t, m, n, redis, lead) + sizeof(((mql_visitor_t *)0)->m)
_Static_assert(sizeof(mql_visitor_t) == 0 MQL_VISITOR_FIELDS(MQL_FIELD_SIZE),
               "a visitor record has no padding");

#define MQL_CONTACT_LEN 124   /* X-MQL-Contact value, NUL-terminated */

#endif
