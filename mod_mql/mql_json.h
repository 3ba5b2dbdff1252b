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
 * One writer for every JSON string mod_mql produces (notifications, the
 * status page's ?json, mqlctl export) and for text shown to people on a
 * terminal (mqlctl list, show, stats).  Values come from clients (URL
 * paths, contacts echoed from forms), so any byte sequence must come out
 * as valid UTF-8: well-formed sequences pass, anything else (overlong
 * forms, surrogates, code points past U+10FFFF, bytes 0xC0, 0xC1 and
 * 0xF5-0xFF, stray continuation bytes, truncated sequences) becomes one
 * U+FFFD per maximal invalid subpart, as Unicode recommends.
 *
 * Not jansson: its strings must already be valid UTF-8 (json_string()
 * refuses anything else), so the repair done here would be needed before
 * it anyway, and what is written around these strings is a few fixed
 * fields that apr_psprintf writes as well.
 */
#ifndef MQL_JSON_H
#define MQL_JSON_H

#include <stddef.h>
#include <apr_pools.h>

/* Length (2-4) of the well-formed UTF-8 sequence starting at s, which has
 * n bytes left; 1 for ASCII; 0 when s does not start one.  *cp gets the
 * code point when not NULL. */
size_t mql_utf8_len(const unsigned char *s, size_t n, unsigned long *cp);

/* Bytes to skip for an invalid sequence at s: its maximal subpart (the
 * lead byte and the continuation bytes that could still have been part
 * of a valid sequence), at least 1. */
size_t mql_utf8_invalid_len(const unsigned char *s, size_t n);

/* Also escape '<', '>' and '&' (\u003c...), so the JSON is safe inside
 * HTML and a browser never sniffs it as markup. */
#define MQL_JSON_HTML_SAFE 0x1

/* Worst case of mql_json_escape's output for n input bytes, with the
 * quotes and the NUL. */
#define MQL_JSON_MAX(n) ((n) * 6 + 3)

/* Write s (n bytes) to out as a quoted JSON string; out holds
 * MQL_JSON_MAX(n) bytes.  Returns the length written (without the NUL). */
size_t mql_json_escape(char *out, const char *s, size_t n, unsigned flags);

/* A quoted JSON string of s from p; "null" when s is NULL. */
const char *mql_json_str(apr_pool_t *p, const char *s, unsigned flags);

/*
 * Text for a terminal: C0 control bytes, DEL, the C1 controls (as raw
 * bytes or as UTF-8, U+0080-U+009F), the bidirectional overrides
 * (U+202A-U+202E, U+2066-U+2069, which reorder what follows on the line)
 * and invalid UTF-8 come out as \xHH (\u202e for the overrides), and a
 * backslash as \\, so what is printed cannot move the cursor, change the
 * title, erase lines or pass for another value.  Never NULL for a string.
 */
const char *mql_text_safe(apr_pool_t *p, const char *s);

#endif
