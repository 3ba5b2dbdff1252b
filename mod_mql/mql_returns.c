/*
 * The ring of returning strangers (mql_returns.h).  A per-slot sequence
 * number, written odd before the entry and even after it, lets the
 * consumer tell a complete entry from one being written or overwritten
 * without any lock: a producer in the request path never waits.
 */
#include <string.h>
#include "mql_returns.h"

void mql_returns_push(mql_returns_t *q, const uint8_t id[MQL_ID_BYTES], uint32_t site)
{
    uint64_t n = __atomic_fetch_add(&q->head, 1, __ATOMIC_RELAXED);
    mql_returns_slot_t *s = &q->slot[n % MQL_RETURNS_KEPT];

    __atomic_store_n(&s->seq, 2 * n + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(s->r.id, id, MQL_ID_BYTES);
    s->r.site = site;
    __atomic_store_n(&s->seq, 2 * n + 2, __ATOMIC_RELEASE);
}

unsigned mql_returns_take(mql_returns_t *q, uint64_t *cursor, mql_return_t *out, unsigned max,
                          uint64_t *lost)
{
    uint64_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE), c = *cursor, skipped = 0;
    unsigned n = 0;

    if (c > head)                  /* a ring made anew under an old cursor */
        c = head;
    if (head - c > MQL_RETURNS_KEPT) {
        skipped += head - c - MQL_RETURNS_KEPT;
        c = head - MQL_RETURNS_KEPT;
    }
    while (c < head && n < max) {
        mql_returns_slot_t *s = &q->slot[c % MQL_RETURNS_KEPT];
        uint64_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE), after;
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
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        after = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
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
