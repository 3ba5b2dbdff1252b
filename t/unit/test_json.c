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

/* JSON strings and terminal-safe text from any bytes (mql_json.c). */
#include "tap.h"
#include <apr_general.h>
#include "mql_json.h"

static apr_pool_t *pool;

static const char *js(const char *s)
{
    return mql_json_str(pool, s, 0);
}

/*
 * An independent check of the output: decode each sequence by its lead
 * byte, then refuse what is longer than the code point needs, surrogates
 * and anything past U+10FFFF.
 */
static int valid_utf8(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    while (*u) {
        unsigned long cp;
        int len, i;

        if (*u < 0x80) { u++; continue; }
        else if ((*u & 0xe0) == 0xc0) { len = 2; cp = *u & 0x1f; }
        else if ((*u & 0xf0) == 0xe0) { len = 3; cp = *u & 0x0f; }
        else if ((*u & 0xf8) == 0xf0) { len = 4; cp = *u & 0x07; }
        else return 0;
        for (i = 1; i < len; i++) {
            if ((u[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (u[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
            return 0;
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        u += len;
    }
    return 1;
}

/* no raw control byte (C0, DEL) anywhere in a JSON string */
static int no_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static void test_plain(void)
{
    is_str(js("jane@example.com"), "\"jane@example.com\"", "ASCII passes");
    is_str(js(""), "\"\"", "empty string");
    is_str(mql_json_str(pool, NULL, 0), "null", "NULL is null");
    is_str(js("a\"b\\c"), "\"a\\\"b\\\\c\"", "quote and backslash escaped");
    is_str(js("l1\nl2\r\t\x1b[2J\x7f"), "\"l1\\u000al2\\u000d\\u0009\\u001b[2J\\u007f\"",
           "control bytes and DEL as \\u escapes");
    is_str(js("<script>&"), "\"<script>&\"", "markup kept without the HTML flag");
    is_str(mql_json_str(pool, "</script>&", MQL_JSON_HTML_SAFE),
           "\"\\u003c/script\\u003e\\u0026\"", "markup escaped with MQL_JSON_HTML_SAFE");
}

static void test_valid_utf8(void)
{
    is_str(js("Gr\xc3\xbc\xc3\x9f"), "\"Gr\xc3\xbc\xc3\x9f\"", "2-byte sequences pass");
    is_str(js("\xe2\x82\xac"), "\"\xe2\x82\xac\"", "3-byte (euro sign) passes");
    is_str(js("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"", "4-byte (emoji) passes");
    is_str(js("\xc2\x80"), "\"\xc2\x80\"", "U+0080, first 2-byte");
    is_str(js("\xe0\xa0\x80"), "\"\xe0\xa0\x80\"", "U+0800, first 3-byte");
    is_str(js("\xed\x9f\xbf"), "\"\xed\x9f\xbf\"", "U+D7FF, last before surrogates");
    is_str(js("\xee\x80\x80"), "\"\xee\x80\x80\"", "U+E000, first after surrogates");
    is_str(js("\xef\xbf\xbd"), "\"\xef\xbf\xbd\"", "U+FFFD itself");
    is_str(js("\xf0\x90\x80\x80"), "\"\xf0\x90\x80\x80\"", "U+10000, first 4-byte");
    is_str(js("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"", "U+10FFFF, the last code point");
}

#define FFFD "\\ufffd"

static void test_invalid_utf8(void)
{
    /* lead bytes that never start a sequence */
    is_str(js("\xc0\xaf"), "\"" FFFD FFFD "\"", "overlong '/' (C0 AF)");
    is_str(js("\xc1\xbf"), "\"" FFFD FFFD "\"", "overlong C1 BF");
    is_str(js("\xe0\x80\xaf"), "\"" FFFD FFFD FFFD "\"", "overlong 3-byte '/' (E0 80 AF)");
    is_str(js("\xe0\x9f\xbf"), "\"" FFFD FFFD FFFD "\"", "overlong U+07FF (E0 9F BF)");
    is_str(js("\xf0\x80\x80\xaf"), "\"" FFFD FFFD FFFD FFFD "\"", "overlong 4-byte '/'");
    is_str(js("\xf0\x8f\xbf\xbf"), "\"" FFFD FFFD FFFD FFFD "\"", "overlong U+FFFF");
    is_str(js("\xed\xa0\x80"), "\"" FFFD FFFD FFFD "\"", "surrogate U+D800");
    is_str(js("\xed\xbf\xbf"), "\"" FFFD FFFD FFFD "\"", "surrogate U+DFFF");
    is_str(js("\xed\xa0\x80\xed\xb0\x80"), "\"" FFFD FFFD FFFD FFFD FFFD FFFD "\"",
           "surrogate pair U+D800 U+DC00 as CESU");
    is_str(js("\xf4\x90\x80\x80"), "\"" FFFD FFFD FFFD FFFD "\"", "U+110000, past the end");
    is_str(js("\xf5\x80\x80\x80"), "\"" FFFD FFFD FFFD FFFD "\"", "F5 lead byte");
    is_str(js("\xf8\x80\x80"), "\"" FFFD FFFD FFFD "\"",
           "F8 80 80 (the issue's trigger): three replacements, never raw");
    is_str(js("/x\xf8\x80\x80y"), "\"/x" FFFD FFFD FFFD "y\"", "F8 80 80 inside a path");
    is_str(js("\xfc\x80\x80\x80\x80\x80"), "\"" FFFD FFFD FFFD FFFD FFFD FFFD "\"",
           "6-byte form FC");
    is_str(js("\xfe\xff"), "\"" FFFD FFFD "\"", "FE and FF");
    is_str(js("\x80"), "\"" FFFD "\"", "lone continuation byte");
    is_str(js("\x80\xbf\x80"), "\"" FFFD FFFD FFFD "\"", "three continuation bytes");
    /* truncated sequences: one replacement for the maximal subpart */
    is_str(js("\xc3"), "\"" FFFD "\"", "2-byte cut after the lead byte");
    is_str(js("\xe2\x82"), "\"" FFFD "\"", "3-byte cut after 2 bytes");
    is_str(js("\xe2\x82x"), "\"" FFFD "x\"", "3-byte cut, then ASCII kept");
    is_str(js("\xf0\x9f\x98"), "\"" FFFD "\"", "4-byte cut after 3 bytes");
    is_str(js("\xf0\x9f\x98\""), "\"" FFFD "\\\"\"", "4-byte cut by a quote, quote escaped");
    is_str(js("\xc3\xc3\xbc"), "\"" FFFD "\xc3\xbc\"", "cut sequence, then a good one");
    is_str(js("\xe0\xa0"), "\"" FFFD "\"", "E0 A0 at the end");
}

/* Every byte string of length 1 to 3 (and a spread of 4-byte ones)
 * gives valid UTF-8 without raw control bytes. */
static void test_exhaustive(void)
{
    unsigned a, b, c;
    int bad = 0;
    char s[5];

    for (a = 1; a < 256; a++)
        for (b = 0; b < 256; b++)
            for (c = 0; c < 256; c += (b < 0x80 ? 255 : 1)) {
                const char *out;
                s[0] = (char)a;
                s[1] = (char)b;
                s[2] = (char)c;
                s[3] = (char)0x9a;
                s[4] = '\0';
                out = js(s);
                if (valid_utf8(out) && no_controls(out))
                    continue;
                if (!bad++)
                    printf("# first failure: %02x %02x %02x 9a -> %s\n", a, b, c, out);
            }
    is_int(bad, 0, "every 4-byte input (3 free bytes) gives valid UTF-8, no raw controls");
}

static void test_text_safe(void)
{
    is_str(mql_text_safe(pool, "jane@example.com"), "jane@example.com", "plain text unchanged");
    is_str(mql_text_safe(pool, "J\xc3\xbcrgen \xe2\x82\xac"), "J\xc3\xbcrgen \xe2\x82\xac",
           "printable UTF-8 unchanged");
    is_str(mql_text_safe(pool, "\x1b]0;owned\x07"), "\\x1b]0;owned\\x07",
           "title-setting OSC escaped");
    is_str(mql_text_safe(pool, "a\x1b[2K\rb\n"), "a\\x1b[2K\\x0db\\x0a",
           "erase line, CR and LF escaped");
    is_str(mql_text_safe(pool, "x\x7fy"), "x\\x7fy", "DEL escaped");
    is_str(mql_text_safe(pool, "\xc2\x9b" "31m"), "\\xc2\\x9b31m", "C1 CSI (U+009B) escaped");
    is_str(mql_text_safe(pool, "\x9b" "31m"), "\\x9b31m", "raw C1 byte escaped");
    is_str(mql_text_safe(pool, "a\\x1b"), "a\\\\x1b", "a backslash doubled: no look-alikes");
    is_str(mql_text_safe(pool, "\xe2\x80\xae" "moc.evil"), "\\u202emoc.evil",
           "right-to-left override escaped");
    is_str(mql_text_safe(pool, "\xf8\x80\x80!"), "\\xf8\\x80\\x80!", "invalid UTF-8 as \\xHH");
    is_str(mql_text_safe(pool, "\xe2\x82"), "\\xe2\\x82", "truncated sequence as \\xHH");
    is_str(mql_text_safe(pool, NULL), "", "NULL is empty");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_plain();
    test_valid_utf8();
    test_invalid_utf8();
    test_exhaustive();
    test_text_safe();
    return done_testing();
}
