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

/* The cookie signature, the table's buckets and the snapshot checksum are
 * SipHash-2-4 as APR-util computes it (apr_siphash24): checked here
 * against the reference vectors of the SipHash paper, since cookies and
 * snapshots written by one build must read the same in the next. */
#include <stdint.h>
#include <apr_siphash.h>
#include "tap.h"

int main(void)
{
    uint8_t key[16], msg[64];
    int i;

    for (i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;

    /* appendix A of the paper: 15-byte message 00..0e */
    ok(apr_siphash24(msg, 15, key) == 0xa129ca6149be45e5ULL, "paper vector, 15 bytes");
    /* first entries of the reference vectors.h (little-endian output) */
    ok(apr_siphash24(msg, 0, key) == 0x726fdb47dd0e0e31ULL, "empty message");
    ok(apr_siphash24(msg, 1, key) == 0x74f839c593dc67fdULL, "1 byte");
    ok(apr_siphash24(msg, 8, key) == 0x93f5f5799a932462ULL, "8 bytes (one full block)");
    key[0] ^= 1;
    ok(apr_siphash24(msg, 15, key) != 0xa129ca6149be45e5ULL, "another key, another tag");
    return done_testing();
}
