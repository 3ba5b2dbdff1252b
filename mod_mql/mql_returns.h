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
 * Returning strangers: visitors whose signed cookie says they were seen
 * before but whom the store did not hold when they came back (a lead let
 * go to make room, a plain visitor evicted or expired).  The request path
 * notes each one here, without a lock and without waiting; the background
 * writer takes them in its round and puts back those its DBM files hold.
 *
 * A fixed ring in memory every child shares (mod_mql_returns.c).  Many
 * producers, one consumer; a producer never waits: when the consumer
 * falls a whole ring behind, the oldest entries are overwritten and the
 * consumer counts them as lost (they are a hint: the lead stays in its
 * file, and its next return notes it again).
 */
#ifndef MQL_RETURNS_H
#define MQL_RETURNS_H

#include <stdint.h>
#include "mql_types.h"

#define MQL_RETURNS_KEPT 1024

typedef struct mql_return {
    uint8_t  id[MQL_ID_BYTES];
    uint32_t site;                 /* the site it came back to */
} mql_return_t;

typedef struct mql_returns_slot {
    /* 2n+1 while entry n is written, 2n+2 once it is complete */
    uint64_t seq;
    mql_return_t r;
} mql_returns_slot_t;

typedef struct mql_returns {
    uint64_t head;                 /* entries ever claimed */
    mql_returns_slot_t slot[MQL_RETURNS_KEPT];
} mql_returns_t;

/* Note a return (any thread of any child). */
void mql_returns_push(mql_returns_t *q, const uint8_t id[MQL_ID_BYTES], uint32_t site);

/*
 * The consumer: copy at most max entries from *cursor on into out and
 * advance *cursor past them.  An entry still being written ends the take
 * (it is read next time) unless half a ring was claimed after it (its
 * writer died): then it is skipped as lost.  *lost (may be NULL) gets the
 * number of entries overwritten or skipped before they were read.
 */
unsigned mql_returns_take(mql_returns_t *q, uint64_t *cursor, mql_return_t *out, unsigned max,
                          uint64_t *lost);

#endif
