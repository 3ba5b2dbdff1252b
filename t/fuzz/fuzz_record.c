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
 * The DBM record: whatever sits in the file (written by another version,
 * edited by hand, damaged) goes through mql_record_decode.  A record that
 * decodes must encode to a record that decodes again to the same lead,
 * and that encoding must be stable and small enough for SDBM.
 */
#include "fuzz.h"
#include "mql_record.h"

/* SDBM's 1008-byte limit for key and value together, less the 22-byte key */
#define SDBM_VALUE_MAX (1008 - 22)

/* b is a then, cut to the record's cap; NULL and "" are the same thing. */
static int same_text(const char *a, const char *b)
{
    size_t na = a ? strlen(a) : 0, nb = b ? strlen(b) : 0;

    if (nb > na)
        return 0;
    if (nb < na && nb == 0)
        return 0;                   /* a value must not vanish when cut */
    return nb == 0 || memcmp(a, b, nb) == 0;
}

static void check_same(const mql_lead_t *a, const mql_lead_t *b)
{
    FUZZ_CHECK(a->stage == b->stage);
    FUZZ_CHECK(a->score == b->score);
    FUZZ_CHECK(a->since == b->since && a->last == b->last);
    FUZZ_CHECK(memcmp(a->counts, b->counts, sizeof a->counts) == 0);
    FUZZ_CHECK(strcmp(a->country, b->country) == 0);
    FUZZ_CHECK(same_text(a->trigger, b->trigger));
    FUZZ_CHECK(same_text(a->contact, b->contact));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    /* an exact-size copy, so a read past len is caught */
    char *value = malloc(size ? size : 1);
    mql_lead_t l1, l2, l3;
    char *e1, *e2;

    if (!value)
        abort();
    if (size)
        memcpy(value, data, size);
    if (mql_record_decode(p, value, size, &l1)) {
        FUZZ_CHECK(l1.stage >= 0 && l1.stage < MQL_STAGE_COUNT);
        FUZZ_CHECK(l1.country[2] == '\0');
        e1 = mql_record_encode(p, &l1);
        FUZZ_CHECK(strlen(e1) <= SDBM_VALUE_MAX);
        FUZZ_CHECK(mql_record_decode(p, e1, strlen(e1), &l2));
        check_same(&l1, &l2);
        e2 = mql_record_encode(p, &l2);
        if (strcmp(e1, e2) != 0)
            fprintf(stderr, "e1: %s\ne2: %s\n", e1, e2);
        FUZZ_CHECK(strcmp(e1, e2) == 0);
        /* with the NUL some DBM writers store */
        FUZZ_CHECK(mql_record_decode(p, e1, strlen(e1) + 1, &l3));
        check_same(&l2, &l3);
    }
    free(value);
    apr_pool_destroy(p);
    return 0;
}
