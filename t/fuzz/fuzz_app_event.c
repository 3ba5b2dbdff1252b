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
 * What an application (CGI, PHP, a proxied backend) sends back: the
 * X-MQL-Event header, and X-MQL-Contact stored with the visitor in a small
 * table on the heap; the first field is also read as a Content-Range.  Input: EVENT '\n' CONTACT '\n' CONTACT ...
 *
 * Checks: an accepted event has a valid name and points in range; a stored
 * contact reads back as the header's text cut to the field's size, and
 * the table stays consistent (mql_shm_validate) however many contacts
 * come, the contact area filling up included.
 */
#include "fuzz.h"
#include "mql_parse.h"
#include "mql_shm.h"

#define VISITORS 4

static const uint8_t hash_key[MQL_KEY_BYTES] = { 7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2 };
static void *table;
static size_t table_size;

static void check_event(const char *value, size_t namesz)
{
    char *name = malloc(namesz ? namesz : 1);
    int points = 12345, has = 12345;
    size_t i, n;

    if (!name)
        abort();
    if (mql_parse_app_event(value, name, namesz, &points, &has)) {
        n = strlen(name);
        FUZZ_CHECK(n >= 1 && n <= 32 && n < namesz);
        for (i = 0; i < n; i++)
            FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789_.-", name[i]) != NULL);
        FUZZ_CHECK(has == 0 || has == 1);
        FUZZ_CHECK(points >= -1000 && points <= 1000);
        FUZZ_CHECK(has || points == 0);
        FUZZ_CHECK(strstr(value, name) != NULL);
    }
    free(name);
}

static int touch(mql_visitor_t *v, int is_new, void *baton)
{
    v->counts[MQL_EV_VIEW]++;
    return MQL_UPD_NONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *event = fuzz_field(&data, &size, '\n');
    mql_shm_t *s;
    mql_hit_result_t res;
    uint8_t id[MQL_ID_BYTES];
    char got[MQL_CONTACT_LEN];
    mql_visitor_t copy;
    const char *problem;
    uint32_t now = 1764147600;
    unsigned k = 0;
    int rc;

    check_event(event, 33);
    check_event(event, 1 + (size ? data[0] % 40 : 0));
    /* a backend's Content-Range, application input too */
    rc = mql_content_range_reaches_end(event);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    FUZZ_CHECK(rc < 0 || strstr(event, "/") != NULL);
    free(event);

    if (!table) {
        table_size = mql_shm_size(VISITORS);
        if (!(table = malloc(table_size)))
            abort();
    }
    mql_shm_format(table, VISITORS, hash_key);
    s = mql_shm_attach(p, table, VISITORS, NULL, NULL, NULL);
    FUZZ_CHECK(s != NULL);

    /* every further field a contact, for visitors 0, 1, ... (more than
     * the table holds, so evictions release contacts too) */
    while (size && k < 64) {
        char *contact = fuzz_field(&data, &size, '\n');
        apr_status_t rv;

        memset(id, 0, sizeof id);
        id[0] = (uint8_t)k;
        rv = mql_shm_update(s, id, now + k, touch, NULL, &res);
        FUZZ_CHECK(rv == APR_SUCCESS);
        rv = mql_shm_set_contact(s, id, contact, now + k);
        FUZZ_CHECK(rv == APR_SUCCESS || rv == APR_ENOSPC);
        if (rv == APR_SUCCESS) {
            memset(got, 'X', sizeof got);
            FUZZ_CHECK(mql_shm_get(s, id, now + k, &copy, got));
            FUZZ_CHECK(memchr(got, '\0', sizeof got) != NULL);
            FUZZ_CHECK(strncmp(got, contact, MQL_CONTACT_LEN - 1) == 0);
            FUZZ_CHECK(strlen(got) == strnlen(contact, MQL_CONTACT_LEN - 1));
        }
        free(contact);
        /* now and then, a visitor is forgotten (its contact slot freed) */
        if (k % 5 == 4) {
            id[0] = (uint8_t)(k - 2);
            mql_shm_forget(s, id);
        }
        k++;
    }
    problem = mql_shm_validate(s, p);
    if (problem)
        fprintf(stderr, "store: %s\n", problem);
    FUZZ_CHECK(problem == NULL);
    apr_pool_destroy(p);
    return 0;
}
