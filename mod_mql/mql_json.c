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
 * JSON strings and terminal-safe text from untrusted bytes (see
 * mql_json.h).  The UTF-8 rules are those of Unicode's table 3-7
 * (well-formed byte sequences): the second byte's range depends on the
 * lead byte, which is what rules out overlong forms (E0 80-9F, F0 80-8F),
 * surrogates (ED A0-BF) and code points past U+10FFFF (F4 90-BF).
 */
#include <string.h>
#include <apr_strings.h>
#include "mql_json.h"

static const char hex[] = "0123456789abcdef";

/* The range the second byte of a sequence led by c must fall in, and the
 * sequence's length; 0 when c cannot lead a multi-byte sequence. */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0)
            *lo = 0xa0;
        else if (c == 0xed)
            *hi = 0x9f;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0)
            *lo = 0x90;
        else if (c == 0xf4)
            *hi = 0x8f;
        return 4;
    }
    return 0;
}

size_t mql_utf8_len(const unsigned char *s, size_t n, unsigned long *cp)
{
    unsigned char lo, hi;
    unsigned long v;
    size_t len, i;

    if (!n)
        return 0;
    if (s[0] < 0x80) {
        if (cp)
            *cp = s[0];
        return 1;
    }
    len = utf8_lead(s[0], &lo, &hi);
    if (!len || n < len || s[1] < lo || s[1] > hi)
        return 0;
    v = s[0] & (0xffu >> (len + 1));
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (cp)
        *cp = v;
    return len;
}

size_t mql_utf8_invalid_len(const unsigned char *s, size_t n)
{
    unsigned char lo, hi;
    size_t len = n ? utf8_lead(s[0], &lo, &hi) : 0, i;

    if (!len || n < 2 || s[1] < lo || s[1] > hi)
        return 1;
    /* a good start cut short: the whole truncated sequence is one error */
    for (i = 2; i < len && i < n && (s[i] & 0xc0) == 0x80; i++)
        ;
    return i;
}

size_t mql_json_escape(char *out, const char *s, size_t n, unsigned flags)
{
    const unsigned char *u = (const unsigned char *)s;
    char *o = out;
    size_t i = 0;

    *o++ = '"';
    while (i < n) {
        unsigned char c = u[i];
        size_t len;

        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                *o++ = '\\';
                *o++ = (char)c;
            }
            else if (c < 0x20 || c == 0x7f
                     || ((flags & MQL_JSON_HTML_SAFE) && (c == '<' || c == '>' || c == '&'))) {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
            else
                *o++ = (char)c;
            i++;
        }
        else if ((len = mql_utf8_len(u + i, n - i, NULL)) > 0) {
            memcpy(o, u + i, len);
            o += len;
            i += len;
        }
        else {
            memcpy(o, "\\ufffd", 6);
            o += 6;
            i += mql_utf8_invalid_len(u + i, n - i);
        }
    }
    *o++ = '"';
    *o = '\0';
    return (size_t)(o - out);
}

const char *mql_json_str(apr_pool_t *p, const char *s, unsigned flags)
{
    size_t n;
    char *out;

    if (!s)
        return "null";
    n = strlen(s);
    out = apr_palloc(p, MQL_JSON_MAX(n));
    mql_json_escape(out, s, n, flags);
    return out;
}

static char *put_x(char *o, unsigned char c)
{
    o[0] = '\\';
    o[1] = 'x';
    o[2] = hex[c >> 4];
    o[3] = hex[c & 15];
    return o + 4;
}

static int is_bidi_control(unsigned long cp)
{
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

const char *mql_text_safe(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n, i = 0, k;
    char *out, *o;

    if (!s)
        return "";
    n = strlen(s);
    /* worst case: every byte as \xHH */
    out = o = apr_palloc(p, n * 4 + 1);
    while (i < n) {
        unsigned char c = u[i];
        unsigned long cp;
        size_t len;

        if (c == '\\') {
            *o++ = '\\';
            *o++ = '\\';
            i++;
        }
        else if (c < 0x20 || c == 0x7f) {
            o = put_x(o, c);
            i++;
        }
        else if (c < 0x80) {
            *o++ = (char)c;
            i++;
        }
        else if ((len = mql_utf8_len(u + i, n - i, &cp)) > 0 && cp >= 0xa0
                 && !is_bidi_control(cp)) {
            memcpy(o, u + i, len);
            o += len;
            i += len;
        }
        else if (len > 0 && cp >= 0xa0) {
            o += apr_snprintf(o, 7, "\\u%04lx", cp);
            i += len;
        }
        else {
            /* invalid UTF-8 and C1 controls, byte by byte */
            len = len ? len : mql_utf8_invalid_len(u + i, n - i);
            for (k = 0; k < len; k++)
                o = put_x(o, u[i + k]);
            i += len;
        }
    }
    *o = '\0';
    return out;
}
