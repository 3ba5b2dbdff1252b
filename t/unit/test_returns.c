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

/* The ring of returning strangers (mql_returns.c). */
#include "tap.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "mql_returns.h"

static void id_of(uint32_t n, uint8_t id[MQL_ID_BYTES])
{
    int k;

    for (k = 0; k < MQL_ID_BYTES; k++)
        id[k] = (uint8_t)(n >> (8 * (k % 4)));
}

static int id_is(const mql_return_t *r, uint32_t n)
{
    uint8_t id[MQL_ID_BYTES];

    id_of(n, id);
    return !memcmp(r->id, id, MQL_ID_BYTES) && r->site == n % 7;
}

static void test_in_order(void)
{
    mql_returns_t *q = calloc(1, sizeof *q);
    mql_return_t out[16];
    uint64_t cursor = 0, lost = 9;
    uint8_t id[MQL_ID_BYTES];
    unsigned n, i, good = 0;

    is_int(mql_returns_take(q, &cursor, out, 16, &lost), 0, "an empty ring gives nothing");
    is_int(lost, 0, "and loses nothing");
    for (i = 0; i < 20; i++) {
        id_of(i, id);
        mql_returns_push(q, id, i % 7);
    }
    n = mql_returns_take(q, &cursor, out, 16, &lost);
    for (i = 0; i < n; i++)
        good += id_is(&out[i], i);
    ok(n == 16 && good == 16 && cursor == 16, "the first sixteen, in order");
    n = mql_returns_take(q, &cursor, out, 16, &lost);
    ok(n == 4 && id_is(&out[0], 16) && id_is(&out[3], 19) && !lost, "then the other four");

    /* a consumer more than a ring behind loses the oldest */
    for (i = 20; i < 20 + MQL_RETURNS_KEPT + 10; i++) {
        id_of(i, id);
        mql_returns_push(q, id, i % 7);
    }
    n = mql_returns_take(q, &cursor, out, 1, &lost);
    ok(n == 1 && lost == 10 && id_is(&out[0], 30), "overwritten entries counted as lost (%llu)",
       (unsigned long long)lost);
    free(q);
}

static void test_unfinished(void)
{
    mql_returns_t *q = calloc(1, sizeof *q);
    mql_return_t out[4];
    uint64_t cursor = 0, lost;
    uint8_t id[MQL_ID_BYTES];
    unsigned i, n;

    /* entry 0 claimed, never completed (its writer was killed) */
    q->head = 1;
    q->slot[0].seq = 1;
    id_of(1, id);
    mql_returns_push(q, id, 1);
    is_int(mql_returns_take(q, &cursor, out, 4, &lost), 0, "an entry being written stops the take");
    is_int(cursor, 0, "and is read next time");
    for (i = 2; i < MQL_RETURNS_KEPT / 2 + 2; i++) {
        id_of(i, id);
        mql_returns_push(q, id, i % 7);
    }
    n = mql_returns_take(q, &cursor, out, 4, &lost);
    ok(n == 4 && lost == 1 && id_is(&out[0], 1), "half a ring later it is skipped as lost");
    free(q);
}

#define PRODUCERS 4
#define PUSHES    200000

static mql_returns_t *shared;
static volatile int producers_done;

static void *producer(void *arg)
{
    uint32_t base = (uint32_t)(uintptr_t)arg * PUSHES, i;
    uint8_t id[MQL_ID_BYTES];

    for (i = 0; i < PUSHES; i++) {
        id_of(base + i, id);
        mql_returns_push(shared, id, (base + i) % 7);
    }
    __atomic_add_fetch(&producers_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int consistent(const mql_return_t *r)
{
    uint32_t n;

    memcpy(&n, r->id, sizeof n);     /* id_of's first four bytes are n */
    return id_is(r, n);
}

static void test_concurrent(void)
{
    pthread_t t[PRODUCERS];
    mql_return_t out[256];
    uint64_t cursor = 0, lost, lost_total = 0, taken = 0, torn = 0;
    unsigned i, n;

    shared = calloc(1, sizeof *shared);
    for (i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, producer, (void *)(uintptr_t)i);
    for (;;) {
        int done = __atomic_load_n(&producers_done, __ATOMIC_ACQUIRE) == PRODUCERS;

        n = mql_returns_take(shared, &cursor, out, 256, &lost);
        lost_total += lost;
        taken += n;
        for (i = 0; i < n; i++)
            torn += !consistent(&out[i]);
        if (done && !n && cursor == shared->head)
            break;
    }
    for (i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    is_int(torn, 0, "%llu entries taken while %d threads pushed: none torn",
           (unsigned long long)taken, PRODUCERS);
    is_int(taken + lost_total, (long long)PRODUCERS * PUSHES,
           "every entry taken or counted lost (%llu lost)", (unsigned long long)lost_total);
    free(shared);
}

int main(void)
{
    test_in_order();
    test_unfinished();
    test_concurrent();
    return done_testing();
}
