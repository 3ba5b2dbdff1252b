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
 * A delta: what one hit does to a visitor's record, in figures.
 *
 * The request path resolves a hit once (mql_score_resolve, where the
 * rules, the events' points and the criteria are known) into a delta;
 * every store applies the delta, here (mql_delta_apply) or in Redis
 * (mql_redis.lua, apply_delta), and the two appliers are twins checked
 * against the same vectors (t/vectors/delta.txt).  An applier knows the
 * record and arithmetic only: no rule kinds, no regexes, no configuration,
 * so a new kind of rule changes the resolver and never an applier.
 *
 * Applying, in this order: the score decayed to now by half_life; each
 * item's points added (a capped item only while the record's counter of
 * its slot is below its cap, which it then counts); the fit points when
 * due and not granted yet; the country when the record has none; each
 * field to set when the record's is empty (or always, a replace); each number to add to; each
 * event's count; last_seen; the promotion when the gate holds; then the
 * flags and, unless the record is a lead, its site.
 */
#ifndef MQL_DELTA_H
#define MQL_DELTA_H

#include <stddef.h>
#include "mql_types.h"

struct mql_lead_gate;

#define MQL_DELTA_ITEMS    (1 + MQL_CAPPED_RULES)   /* the uncapped sum, each capped rule */
#define MQL_DELTA_UNCAPPED 0xff                     /* an item's slot: no cap */
#define MQL_DELTA_COUNTRIES 32                      /* countries a gate may name */
#define MQL_DELTA_SETS     2                        /* fields a hit may set */
#define MQL_DELTA_SET_LEN  32                       /* a value's bytes, its NUL included */
#define MQL_DELTA_SET_NAME 15                       /* a field's Redis name, at most */
#define MQL_DELTA_ADDS     4                        /* numbers a hit may add to */

typedef struct mql_delta_item {
    int32_t points;
    uint8_t group;             /* the score the points go to; 0: the visitor's */
    uint8_t slot;              /* the record's cap counter, or MQL_DELTA_UNCAPPED */
    uint8_t cap;               /* paid while that counter is below it */
} mql_delta_item_t;

/* A field to set: a TEXT field of the record (mql_fields.h) that takes
 * value, cut to the field, when it is empty (a first touch: a value once
 * there stays).  The appliers know the record's fields from mql_fields.h,
 * not their meanings: a new field a hit sets is the resolver's alone. */
typedef struct mql_delta_set {
    uint8_t field;             /* MQL_FIELD_* */
    uint8_t replace;           /* taken even when the field has a value (a last touch) */
    char value[MQL_DELTA_SET_LEN];
} mql_delta_set_t;

/* A number to add to: element elem of a number field of the record
 * (mql_fields.h), kept within the field's range (an unsigned field stops
 * at 0 and at its largest value; a double takes the sum), never decayed.
 * As with a set, the appliers know the field's width, not its meaning:
 * points of a new kind that a record keeps are the resolver's alone. */
typedef struct mql_delta_add {
    uint8_t field;             /* MQL_FIELD_* */
    uint8_t elem;              /* an array's element; else 0 */
    int32_t value;
} mql_delta_add_t;

typedef struct mql_delta {
    uint32_t events;           /* MQL_EV_BIT mask: the counts to add */
    uint32_t half_life;        /* seconds the score is decayed by first; 0: none */
    uint8_t  nitems;
    uint8_t  has_fit;          /* fit_points are due, once per visitor (MQL_VF_FIT) */
    uint8_t  set_flags;        /* OR-ed into the record's flags */
    uint8_t  site;             /* the record's site unless it is a lead */
    mql_delta_item_t items[MQL_DELTA_ITEMS];
    int32_t  fit_points;
    char     country[2];       /* upper case, zeros: none; set when the record has none */
    uint8_t  nsets;
    mql_delta_set_t sets[MQL_DELTA_SETS];
    uint8_t  nadds;
    mql_delta_add_t adds[MQL_DELTA_ADDS];
    /* The gate for promotion: a plain visitor becomes a lead when its
     * score reaches threshold, each count of need_counts is at least 1,
     * its country is in countries (when need_country), and hold is 0. */
    uint8_t  need_country;
    uint8_t  hold;
    uint32_t need_counts;      /* MQL_EV_BIT mask */
    double   threshold;
    char     countries[2 * MQL_DELTA_COUNTRIES + 1];   /* packed alpha-2 codes */
    /* What a promotion records. */
    uint8_t  trigger_event;
    char     trigger[MQL_TRIGGER_LEN];
    /* This server's flood limits on promotion, applied by a store that
     * applies the delta here (never encoded: Redis has hold). */
    const struct mql_lead_gate *flood;
} mql_delta_t;

/* A field to set (mql_delta_set_t) and a number to add to (mql_delta_add_t)
 * put into d, as a resolver asks: 0 when d has no room or the field is
 * none a delta sets or adds to (a bug of the resolver's, not the hit's).
 * Two adds to the same number are one. */
int mql_delta_set(mql_delta_t *d, int field, const char *value);
/* A field to set whatever it holds: the latest value stands. */
int mql_delta_replace(mql_delta_t *d, int field, const char *value);
int mql_delta_add(mql_delta_t *d, int field, unsigned elem, int32_t value);

/* What applying returns (mql_score.h's MQL_UPD_*). */
#define MQL_DELTA_NONE  0
#define MQL_DELTA_DIRTY 1      /* a lead's figures changed: its DBM record is due */

/* Apply d to v at time now; MQL_DELTA_DIRTY when v is a lead whose
 * figures (anything but its flags and site) changed. */
int mql_delta_apply(mql_visitor_t *v, const mql_delta_t *d, uint32_t now);

/* 1 when v is a plain visitor that d's gate would promote (hold aside):
 * one that only the flood limits keep from being a lead. */
int mql_delta_qualifies(const mql_visitor_t *v, const mql_delta_t *d);

/*
 * The delta as Redis takes it (mql_redis.lua, delta_from_binary),
 * little-endian: EVENTS HALF_LIFE (uint32) NITEMS (uint8), each item as
 * POINTS (int32) GROUP SLOT CAP (uint8), HAS_FIT (uint8) FIT (int32)
 * COUNTRY (2 bytes) SET_FLAGS SITE NEED_COUNTRY HOLD (uint8) NEED_COUNTS
 * (uint32) THRESHOLD (double) COUNTRIES (uint16 length, bytes)
 * TRIGGER_EVENT (uint8) TRIGGER (uint16 length, bytes) NSETS (uint8), each
 * field to set as its Redis name (uint8 length, bytes), VALUE (uint16
 * length, bytes, cut to the field) and REPLACE (uint8: 1 taken even when
 * the field has a value), NADDS (uint8), each number to add to
 * as its Redis name (uint8 length, bytes) ELEM (uint8) VALUE (int32).
 * Written to buf (MQL_DELTA_MAX bytes); its length.
 */
#define MQL_DELTA_MAX (8 + 1 + 7 * MQL_DELTA_ITEMS + 5 + 2 + 4 + 4 + 8 \
                       + 2 + 2 * MQL_DELTA_COUNTRIES + 1 + 2 + MQL_TRIGGER_LEN \
                       + 1 + MQL_DELTA_SETS * (1 + MQL_DELTA_SET_NAME + 2 + MQL_DELTA_SET_LEN + 1) \
                       + 1 + MQL_DELTA_ADDS * (1 + MQL_DELTA_SET_NAME + 1 + 4))
size_t mql_delta_encode(const mql_delta_t *d, char *buf);

/* The delta back from its encoding (tests, tools); the length read, 0
 * when s is not one. */
size_t mql_delta_decode(const char *s, size_t len, mql_delta_t *d);

#endif
