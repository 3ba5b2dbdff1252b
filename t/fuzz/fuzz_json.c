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
 * The JSON string writer and the terminal-safe text, fed any bytes: what
 * reaches a JSON reader or an admin's terminal came from clients (URL
 * paths, contacts).  Input: the bytes, once as a string up to its first
 * NUL and once whole.
 *
 * Checks: the JSON is a quoted string of well-formed UTF-8 (decoded by
 * lead byte, then refused when overlong, a surrogate or past U+10FFFF),
 * with no raw control byte, every backslash starting a valid escape, and
 * no unescaped quote inside; the HTML-safe form holds no < > &; the
 * terminal text has no control byte, no C1 control and valid UTF-8.
 */
#include "fuzz.h"
#include "mql_json.h"

/* The code point at s (0 bytes left: -1), its length in *len; -1 when
 * the sequence is not well-formed. */
static long decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned long cp;
    size_t k, i;

    if (s[0] < 0x80) { *len = 1; return s[0]; }
    if ((s[0] & 0xe0) == 0xc0) { k = 2; cp = s[0] & 0x1f; }
    else if ((s[0] & 0xf0) == 0xe0) { k = 3; cp = s[0] & 0x0f; }
    else if ((s[0] & 0xf8) == 0xf0) { k = 4; cp = s[0] & 0x07; }
    else return -1;
    if (n < k)
        return -1;
    for (i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000)
        || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return -1;
    *len = k;
    return (long)cp;
}

static void check_json(const char *out, size_t outlen, int html)
{
    const unsigned char *u = (const unsigned char *)out;
    size_t i, len;

    FUZZ_CHECK(outlen >= 2 && u[0] == '"' && u[outlen - 1] == '"');
    for (i = 1; i < outlen - 1; i += len) {
        long cp = decode(u + i, outlen - 1 - i, &len);

        FUZZ_CHECK(cp >= 0x20 && cp != 0x7f);
        FUZZ_CHECK(cp != '"');
        if (html)
            FUZZ_CHECK(cp != '<' && cp != '>' && cp != '&');
        if (cp == '\\') {
            FUZZ_CHECK(i + 1 < outlen - 1);
            FUZZ_CHECK(strchr("\"\\u", u[i + 1]) != NULL);
            len = u[i + 1] == 'u' ? 6 : 2;
            FUZZ_CHECK(i + len <= outlen - 1);
        }
    }
}

static void check_text(const char *out)
{
    const unsigned char *u = (const unsigned char *)out;
    size_t n = strlen(out), i, len;

    for (i = 0; i < n; i += len) {
        long cp = decode(u + i, n - i, &len);

        FUZZ_CHECK(cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp <= 0x9f));
        FUZZ_CHECK(!(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    char *out = malloc(MQL_JSON_MAX(size));
    apr_pool_t *p = fuzz_pool();
    size_t n;

    if (!out)
        abort();
    /* the whole input, NULs included */
    n = mql_json_escape(out, (const char *)data, size, 0);
    FUZZ_CHECK(n < MQL_JSON_MAX(size) && out[n] == '\0');
    check_json(out, n, 0);
    n = mql_json_escape(out, (const char *)data, size, MQL_JSON_HTML_SAFE);
    check_json(out, n, 1);
    check_text(mql_text_safe(p, s));
    apr_pool_destroy(p);
    free(out);
    free(s);
    return 0;
}
