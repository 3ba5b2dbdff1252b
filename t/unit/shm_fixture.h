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

/* A visitor table on plain heap memory, shared by the store and snapshot
 * unit tests.  The including file defines `pool` before including it.
 * Inline, so that a test using only some of these compiles cleanly. */
#ifndef MQL_SHM_FIXTURE_H
#define MQL_SHM_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mql_shm.h"

typedef struct table {
    void *base;
    size_t size;
    mql_shm_t *s;
    mql_visitors_t *vs;       /* the store interface over it */
} table_t;

static const uint8_t test_key[MQL_KEY_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                                 15, 16 };

static inline void log_to_stderr(void *baton, int level, const char *msg)
{
    fprintf(stderr, "# log %d: %s\n", level, msg);
}

static inline void table_open(table_t *t, uint32_t n, mql_lock_fn *lk, mql_lock_fn *ul, void *baton)
{
    t->size = mql_shm_size(n);
    t->base = malloc(t->size);
    mql_shm_format(t->base, n, test_key);
    t->s = mql_shm_attach(pool, t->base, n, lk, ul, baton);
    t->vs = t->s ? mql_shm_visitors(pool, t->s) : NULL;
}

static inline void table_close(table_t *t)
{
    free(t->base);
    t->base = NULL;
}

/* A distinct, well spread ID per number. */
static inline void id_of(uint32_t i, uint8_t id[MQL_ID_BYTES])
{
    uint64_t x = i * 0x9e3779b97f4a7c15ULL + 0x1234567;
    int k;

    for (k = 0; k < MQL_ID_BYTES; k++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ULL;
        id[k] = (uint8_t)(x >> 56);
    }
    memcpy(id, &i, sizeof(i));
}

#endif
