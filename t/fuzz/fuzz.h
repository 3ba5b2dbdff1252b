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
 * Shared helpers of the libFuzzer targets: APR set up once, a pool cleared
 * after every input, and a way to cut one input into several strings.
 *
 * A target aborts (FUZZ_CHECK) when an invariant fails, so libFuzzer keeps
 * the input as a crash: wrong answers count as much as memory errors.
 */
#ifndef MQL_FUZZ_H
#define MQL_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>

#define FUZZ_CHECK(cond)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                     \
            abort();                                                            \
        }                                                                       \
    } while (0)

static apr_pool_t *fuzz_root;

static inline void fuzz_init(void)
{
    if (fuzz_root)
        return;
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&fuzz_root, NULL) != APR_SUCCESS)
        abort();
}

/* A pool for one input; destroy it at the end. */
static inline apr_pool_t *fuzz_pool(void)
{
    apr_pool_t *p;

    fuzz_init();
    if (apr_pool_create(&p, fuzz_root) != APR_SUCCESS)
        abort();
    return p;
}

/* A malloc'd, exactly sized, NUL-terminated copy of data[0..n), so that
 * AddressSanitizer sees a read one byte past the string's end. */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/*
 * The next field of an input cut at byte sep: a fresh string (free it)
 * and the input advanced past the separator.  The last field takes the
 * rest; past the end every field is "".
 */
static inline char *fuzz_field(const uint8_t **data, size_t *size, uint8_t sep)
{
    const uint8_t *end = memchr(*data, sep, *size);
    size_t n = end ? (size_t)(end - *data) : *size;
    char *s = fuzz_strndup(*data, n);

    *data += n;
    *size -= n;
    if (end) {
        (*data)++;
        (*size)--;
    }
    return s;
}

/* One byte of the input as a number (0 past the end). */
static inline unsigned fuzz_byte(const uint8_t **data, size_t *size)
{
    unsigned b = 0;

    if (*size) {
        b = **data;
        (*data)++;
        (*size)--;
    }
    return b;
}

#endif
