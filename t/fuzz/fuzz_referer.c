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
 * The referring host a story keeps, taken from a client's Referer header.
 * Input: the header's value.
 *
 * Checks: the host stays inside its buffer and is terminated, and holds
 * only what a host name may (no upper case, no space or control byte, no
 * markup, no path, query, fragment, user or password).
 */
#include "fuzz.h"
#include "mql_jring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *referer = fuzz_strndup(data, size);
    char host[MQL_JHOST_LEN + 8];
    size_t i, n;

    memset(host, 'X', sizeof host);
    mql_jring_referer_host(referer, host);
    n = strnlen(host, MQL_JHOST_LEN);
    FUZZ_CHECK(n < MQL_JHOST_LEN);
    for (i = MQL_JHOST_LEN; i < sizeof host; i++)
        FUZZ_CHECK(host[i] == 'X');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host[i];
        FUZZ_CHECK(c > ' ' && c != 0x7f && !(c >= 'A' && c <= 'Z'));
        FUZZ_CHECK(!strchr("/?#@<>\"\\", c));
    }
    free(referer);
    return 0;
}
