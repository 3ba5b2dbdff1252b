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
 * The ring of returning strangers (mql_returns.h).  A per-slot sequence
 * number, written odd before the entry and even after it, lets the
 * consumer tell a complete entry from one being written or overwritten
 * without any lock: a producer in the request path never waits.
 */
#include <string.h>
#include <apr_atomic.h>
#include "mql_returns.h"

void mql_returns_push(mql_returns_t *q, const uint8_t id[MQL_ID_BYTES], uint32_t site)
{
    uint64_t n = apr_atomic_inc64(&q->head);
    mql_returns_slot_t *s = &q->slot[n % MQL_RETURNS_KEPT];

    /* the builtins: a fence, which APR has not, and stores that need no
     * full barrier (apr_atomic_set64's costs 20 ns more each) */
    __atomic_store_n(&s->seq, 2 * n + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(s->r.id, id, MQL_ID_BYTES);
    s->r.site = site;
    __atomic_store_n(&s->seq, 2 * n + 2, __ATOMIC_RELEASE);
}

unsigned mql_returns_take(mql_returns_t *q, uint64_t *cursor, mql_return_t *out, unsigned max,
                          uint64_t *lost)
{
    uint64_t head = apr_atomic_read64(&q->head), c = *cursor, skipped = 0;
    unsigned n = 0;

    if (c > head)                  /* a ring made anew under an old cursor */
        c = head;
    if (head - c > MQL_RETURNS_KEPT) {
        skipped += head - c - MQL_RETURNS_KEPT;
        c = head - MQL_RETURNS_KEPT;
    }
    while (c < head && n < max) {
        mql_returns_slot_t *s = &q->slot[c % MQL_RETURNS_KEPT];
        uint64_t before = apr_atomic_read64(&s->seq), after;
        mql_return_t copy;

        if (before < 2 * c + 2) {
            /* not written yet: wait for it, unless its writer is gone */
            if (head - c <= MQL_RETURNS_KEPT / 2)
                break;
            skipped++;
            c++;
            continue;
        }
        memcpy(&copy, &s->r, sizeof copy);
        /* the entry's bytes before seq again: a fence, which APR has not */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        after = apr_atomic_read64(&s->seq);
        if (before != 2 * c + 2 || after != before)
            skipped++;             /* overwritten by a later lap */
        else
            out[n++] = copy;
        c++;
    }
    *cursor = c;
    if (lost)
        *lost = skipped;
    return n;
}
