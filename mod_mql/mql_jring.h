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
 * The journal's event ring: scored requests on their way from the request
 * path to the background writer, which keeps them in the journal
 * (mql_journal.c).  A fixed number of fixed-size records in memory the
 * caller provides (anonymous shared memory, made once by the parent), so
 * that the story of a lead costs the request path a copy of one record
 * and two atomic operations, never a lock, a wait or a disk.
 *
 * Many producers (every thread of every child), one consumer (the writer,
 * a singleton).  A producer reserves a ticket with a compare-and-swap on
 * head while head - tail < size, fills the slot and publishes it by
 * storing ticket + 1 into the slot's seq.  A full ring is not waited for:
 * the event is dropped and counted.  The consumer takes slots whose seq
 * says they are complete, in order; a slot reserved but never completed
 * (its process died in the few instructions between) is skipped once it
 * stayed so for MQL_JRING_STALE_MS and counted as lost.
 */
#ifndef MQL_JRING_H
#define MQL_JRING_H

#include <stddef.h>
#include <stdint.h>
#include "mql_types.h"

#define MQL_JPATH_LEN 96        /* URL path, NUL-terminated, truncated */
#define MQL_JHOST_LEN 40        /* referring host, NUL-terminated, truncated */

/* mql_jevent_t.flags */
#define MQL_JF_NEW        0x01  /* the visitor's first request */
#define MQL_JF_FIRST_DAY  0x02  /* its first scored request of the (UTC) day */
/* The request rejected the visitor (a knock-out, mql_knockout.h): rule
 * names the MQLRule flagged disqualify, or the MQLDisqualify
 * contact-domain entry (its index in the site's list). */
#define MQL_JF_KNOCKOUT_RULE   0x04
#define MQL_JF_KNOCKOUT_DOMAIN 0x08
/* A lead back after more than MQLActiveAfter idle (mql_moments.h) */
#define MQL_JF_ACTIVE          0x10

#define MQL_JRULE_NONE 0xffff

/* One scored request: 192 bytes, no pointers, no IP address. */
typedef struct mql_jevent {
    uint32_t seq;               /* ticket + 1 once complete (the ring's) */
    uint32_t time;
    uint8_t  id[MQL_ID_BYTES];
    uint16_t events;            /* MQL_EV_BIT mask */
    uint16_t rule;              /* first MQLRule that matched, or MQL_JRULE_NONE */
    uint32_t rules;             /* rules 0-31 that matched, a bit each */
    uint8_t  site;
    uint8_t  flags;             /* MQL_JF_* */
    uint8_t  stage;             /* after the request */
    uint8_t  reserved;
    float    points;            /* the score's change by this request */
    float    score;             /* after it */
    char     country[2];
    char     touch[7];          /* the visitor's first touch ID (mql_touch.h), no NUL */
    char     pad[3];
    char     path[MQL_JPATH_LEN];
    char     host[MQL_JHOST_LEN];
} mql_jevent_t;

_Static_assert(sizeof(mql_jevent_t) == 192, "a journal event is 192 bytes");

#define MQL_JRING_STALE_MS 2000

typedef struct mql_jring_head {
    uint64_t head;              /* next ticket to hand out */
    uint64_t tail;              /* next ticket to consume */
    uint64_t dropped;           /* events refused: the ring was full */
    uint64_t lost;              /* reserved, never completed */
    uint64_t taken;             /* events consumed */
    uint64_t stale_since;       /* ms: since when the tail slot is incomplete, 0 = not */
    uint32_t size;              /* slots, a power of two */
    uint32_t reserved;
} mql_jring_head_t;

typedef struct mql_jring {
    mql_jring_head_t *h;
    mql_jevent_t *slots;
    uint32_t mask;              /* the consumer's and producers' own copy of size - 1 */
} mql_jring_t;

/* Bytes of shared memory for a ring of size slots (a power of two). */
size_t mql_jring_bytes(uint32_t size);

/* Lay out a new ring in mem (mql_jring_bytes(size) bytes, zeroed here). */
void mql_jring_init(mql_jring_t *r, void *mem, uint32_t size);

/* Attach to a ring made by init; size as given to init. */
void mql_jring_attach(mql_jring_t *r, void *mem, uint32_t size);

/* Producer: copy ev in (its seq is set here).  0 when the ring was full
 * (counted in dropped). */
int mql_jring_put(mql_jring_t *r, const mql_jevent_t *ev);

/* Consumer (one at a time): up to max complete events, oldest first,
 * into out; how many.  now_ms: a monotonic clock in milliseconds. */
unsigned mql_jring_take(mql_jring_t *r, mql_jevent_t *out, unsigned max, uint64_t now_ms);

/* Referring host of a Referer value into host (MQL_JHOST_LEN bytes):
 * lower-cased, without scheme, user, port or path; "" when none. */
void mql_jring_referer_host(const char *referer, char *host);

#endif
