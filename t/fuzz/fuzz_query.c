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
 * What a request brings to classification: the raw query string, the URL
 * path, the User-Agent and the response's facts.
 * Input: QUERY '\n' NAME '\n' PATH '\n' EXTS (',' separated) '\n'
 *        METHOD '\n' CONTENT-TYPE '\n' then bytes for status, flags and
 *        the value buffer size; the whole input is also a User-Agent.
 *
 * Checks: the value copied stays inside its buffer and terminated, a
 * found parameter is found again in a larger buffer with a value that
 * begins the same, an extension match really ends the path, and a
 * classification sets only known event bits.
 */
#include <strings.h>
#include "fuzz.h"
#include "mql_parse.h"
#include "mql_score.h"
#include "mql_bots.h"

#define MAX_EXTS 8

static void check_query(const char *query, const char *name, size_t bufsz)
{
    char *buf = malloc(bufsz ? bufsz : 1), big[8192];
    int found = mql_query_param(query, name, buf, bufsz);

    if (!buf)
        abort();
    if (found && bufsz) {
        FUZZ_CHECK(memchr(buf, '\0', bufsz) != NULL);
        FUZZ_CHECK(mql_query_param(query, name, big, sizeof big));
        FUZZ_CHECK(strncmp(big, buf, strlen(buf)) == 0);
    }
    free(buf);
}

static void check_extension(const char *path, char *list)
{
    const char *exts[MAX_EXTS + 1];
    char *tok, *save = NULL;
    int n = 0, hit, i;

    for (tok = strtok_r(list, ",", &save); tok && n < MAX_EXTS; tok = strtok_r(NULL, ",", &save))
        exts[n++] = tok;
    exts[n] = NULL;
    hit = mql_path_has_extension(path, exts);
    /* a match means some ".EXT" ends the path, with a name before it */
    if (hit) {
        size_t plen = strlen(path);
        int really = 0;
        for (i = 0; i < n; i++) {
            size_t elen = strlen(exts[i]);
            if (elen && plen >= elen + 2 && path[plen - elen - 1] == '.'
                && strcasecmp(path + plen - elen, exts[i]) == 0
                && path[plen - elen - 2] != '/')
                really = 1;
        }
        FUZZ_CHECK(really);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *ua = fuzz_strndup(data, size);
    char *query = fuzz_field(&data, &size, '\n');
    char *name = fuzz_field(&data, &size, '\n');
    char *path = fuzz_field(&data, &size, '\n');
    char *exts = fuzz_field(&data, &size, '\n');
    char *method = fuzz_field(&data, &size, '\n');
    char *ctype = fuzz_field(&data, &size, '\n');
    mql_response_facts_t f;
    unsigned status, flags, ev;

    status = fuzz_byte(&data, &size) << 8;
    status |= fuzz_byte(&data, &size);
    flags = fuzz_byte(&data, &size);

    check_query(query, name, fuzz_byte(&data, &size) % 64);
    check_query(query, "utm_medium", 8);
    check_extension(path, exts);

    memset(&f, 0, sizeof f);
    f.method = (flags & 0x80) ? NULL : method;
    f.status = (int)status - 1000;    /* negative and odd statuses too */
    f.content_type = (flags & 0x40) ? NULL : ctype;
    f.query = (flags & 0x20) ? NULL : query;
    f.is_download_ext = flags & 1;
    f.range_complete = (flags >> 1) & 1;
    f.is_pixel = (flags >> 2) & 1;
    f.has_app_event = (flags >> 3) & 1;
    ev = mql_classify(&f);
    FUZZ_CHECK((ev & ~((1u << MQL_EV_COUNT) - 1)) == 0);
    if (!f.method || strcmp(f.method, "HEAD") == 0)
        FUZZ_CHECK(ev == 0);

    (void)mql_is_bot(ua);
    free(ua);
    free(query);
    free(name);
    free(path);
    free(exts);
    free(method);
    free(ctype);
    return 0;
}
