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
 * Little-endian integers of n bytes (n <= 8) in byte strings: the one
 * byte order of every binary form the module writes (snapshot, delta,
 * Redis record and entry), whatever the machine's.
 */
#ifndef MQL_LE_H
#define MQL_LE_H

#include <stddef.h>
#include <stdint.h>

/* x's n low bytes at p; returns the byte after them */
static inline char *mql_le_put(void *p, uint64_t x, size_t n)
{
    unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        b[i] = (unsigned char)(x >> (8 * i));
    return (char *)b + n;
}

static inline uint64_t mql_le_get(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t x = 0;

    while (n--)
        x = x << 8 | b[n];
    return x;
}

#endif
