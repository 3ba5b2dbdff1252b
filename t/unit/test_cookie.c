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

/* The visitor cookie: ID text, signing, verification and the header walker. */
#include "tap.h"
#include "mql_cookie.h"

static const uint8_t key[MQL_KEY_BYTES] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
};

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int verify_str(const char *s, uint8_t id[MQL_ID_BYTES])
{
    return mql_cookie_verify(key, s, strlen(s), id);
}

static void test_id_text(void)
{
    uint8_t id[MQL_ID_BYTES], back[MQL_ID_BYTES];
    char text[MQL_ID_TEXT_LEN + 1];
    int i;

    memset(id, 0, sizeof id);
    mql_id_to_text(id, text);
    is_str(text, "AAAAAAAAAAAAAAAAAAAAAA", "zero ID is 22 'A'");
    memset(id, 0xff, sizeof id);
    mql_id_to_text(id, text);
    is_str(text, "_____________________w", "all-ones ID ends in 'w' (canonical bits)");
    for (i = 0; i < MQL_ID_BYTES; i++)
        id[i] = (uint8_t)(i * 17 + 3);
    mql_id_to_text(id, text);
    ok(strlen(text) == MQL_ID_TEXT_LEN, "ID text is 22 characters");
    ok(mql_id_from_text(text, strlen(text), back) && memcmp(id, back, sizeof id) == 0,
       "ID text round trip");

    ok(!mql_id_from_text("_____________________x", 22, back),
       "non-canonical trailing bits refused");
    ok(!mql_id_from_text("AAAAAAAAAAAAAAAAAAAAAB", 22, back),
       "non-canonical 'B' in the last position refused");
    ok(!mql_id_from_text("AAAAAAAAAAAAAAAAAAAAA", 21, back), "21 characters refused");
    ok(!mql_id_from_text("AAAAAAAAAAAAAAAAAAAAAAA", 23, back), "23 characters refused");
    ok(!mql_id_from_text("AAAAAAAAAAAAAAAAAAAA+A", 22, back), "'+' (plain base64) refused");
    ok(!mql_id_from_text("AAAAAAAAAAAAAAAAAAAA/A", 22, back), "'/' (plain base64) refused");
    ok(!mql_id_from_text("AAAAAAAAAAAAAAAAAAAA==", 22, back), "padding refused");
    ok(!mql_id_from_text(NULL, 0, back), "NULL refused");
}

/* The decoder's byte table against the alphabet: every byte value in the
 * first position of an ID decodes exactly when it is a base64url
 * character, and to that character's place in the alphabet. */
static void test_decode_table(void)
{
    char text[MQL_ID_TEXT_LEN + 1];
    uint8_t id[MQL_ID_BYTES];
    int c, wrong = 0;

    for (c = 0; c < 256; c++) {
        const char *at = c ? strchr(alphabet, c) : NULL;
        int decoded;

        memset(text, 'A', MQL_ID_TEXT_LEN);
        text[0] = (char)c;
        decoded = mql_id_from_text(text, MQL_ID_TEXT_LEN, id);
        if (decoded != (at != NULL) || (at && id[0] >> 2 != at - alphabet))
            wrong++;
    }
    ok(wrong == 0, "all 256 byte values decode as the alphabet says (%d wrong)", wrong);
}

/* Every character may be swapped for any other and must then fail. */
static void test_alterations(const char *good)
{
    char buf[MQL_COOKIE_VALUE_LEN + 1];
    uint8_t id[MQL_ID_BYTES];
    int i, c, accepted = 0, tried = 0;

    for (i = 0; i < MQL_COOKIE_VALUE_LEN; i++) {
        for (c = 1; c < 256; c++) {
            if (c == (unsigned char)good[i])
                continue;
            memcpy(buf, good, sizeof buf);
            buf[i] = (char)c;
            tried++;
            if (mql_cookie_verify(key, buf, MQL_COOKIE_VALUE_LEN, id))
                accepted++;
        }
    }
    ok(tried == MQL_COOKIE_VALUE_LEN * 254 && accepted == 0,
       "each of %d single-byte alterations rejected (%d accepted)", tried, accepted);
}

static void test_sign_verify(void)
{
    uint8_t id[MQL_ID_BYTES], got[MQL_ID_BYTES], other[MQL_KEY_BYTES];
    char cookie[MQL_COOKIE_VALUE_LEN + 1], buf[8192 + 64];
    int i;

    for (i = 0; i < MQL_ID_BYTES; i++)
        id[i] = (uint8_t)(0xa5 ^ (i * 29));
    mql_cookie_sign(key, id, cookie);
    is_int(strlen(cookie), MQL_COOKIE_VALUE_LEN, "signed cookie is 34 characters");
    ok(cookie[MQL_ID_TEXT_LEN] == '.', "ID and signature separated by '.'");
    ok(strspn(cookie, alphabet) == MQL_ID_TEXT_LEN
       && strspn(cookie + MQL_ID_TEXT_LEN + 1, alphabet) == MQL_SIG_TEXT_LEN,
       "both parts are base64url");
    memset(got, 0, sizeof got);
    ok(verify_str(cookie, got) && memcmp(got, id, sizeof id) == 0,
       "sign/verify round trip yields the ID");

    test_alterations(cookie);

    memset(got, 0x5a, sizeof got);
    ok(!mql_cookie_verify(key, cookie, MQL_COOKIE_VALUE_LEN - 1, got), "truncated by one");
    ok(got[0] == 0x5a, "a rejected cookie leaves the ID untouched");
    ok(!mql_cookie_verify(key, cookie, MQL_ID_TEXT_LEN, got), "ID without signature");
    ok(!mql_cookie_verify(key, cookie, 0, got), "empty value");
    ok(!mql_cookie_verify(key, NULL, 0, got), "NULL value");

    memcpy(buf, cookie, MQL_COOKIE_VALUE_LEN);
    buf[MQL_COOKIE_VALUE_LEN] = 'A';
    ok(!mql_cookie_verify(key, buf, MQL_COOKIE_VALUE_LEN + 1, got), "one extra character");
    memset(buf + MQL_COOKIE_VALUE_LEN, 'A', 4096);
    ok(!mql_cookie_verify(key, buf, 4096, got), "4 KB value");
    memset(buf + MQL_COOKIE_VALUE_LEN, 'A', 8192);
    ok(!mql_cookie_verify(key, buf, 8192, got), "8 KB value");

    memcpy(other, key, sizeof other);
    other[15] ^= 0x80;
    ok(!mql_cookie_verify(other, cookie, MQL_COOKIE_VALUE_LEN, got), "other key refuses it");
    {
        mql_cookie_claim_t c;

        ok(mql_cookie_parse(cookie, MQL_COOKIE_VALUE_LEN, &c) && memcmp(c.id, id, sizeof id) == 0
           && mql_cookie_check(key, &c) && !mql_cookie_check(other, &c),
           "parse gives the claimed ID; check accepts the key's tag only");
        c.tag ^= 1ull << 63;
        ok(!mql_cookie_check(key, &c), "check refuses a tag with its last bit flipped");
        ok(!mql_cookie_parse(cookie, MQL_COOKIE_VALUE_LEN - 1, &c)
           && !mql_cookie_parse(NULL, 0, &c), "parse refuses a short or missing value");
    }
    mql_cookie_sign(other, id, buf);
    ok(verify_str(cookie, got) && strcmp(buf, cookie) != 0 && !verify_str(buf, got),
       "cookie signed by another key refused");

    /* signature text with non-zero padding bits: same tag bytes, other text */
    strcpy(buf, cookie);
    {
        char *last = buf + MQL_COOKIE_VALUE_LEN - 1;
        const char *pos = strchr(alphabet, *last);
        *last = alphabet[(pos - alphabet) | 1];
        ok(!verify_str(buf, got), "non-canonical signature text refused");
    }
    strcpy(buf, cookie);
    buf[MQL_ID_TEXT_LEN] = '_';
    ok(!verify_str(buf, got), "'_' instead of the dot refused");

    /* garbage of the right length, bytes 1..255, no NUL */
    {
        unsigned seed = 12345;
        int n, accepted = 0;
        for (n = 0; n < 20000; n++) {
            for (i = 0; i < MQL_COOKIE_VALUE_LEN; i++) {
                seed = seed * 1103515245u + 12345u;
                buf[i] = (char)(1 + (seed >> 16) % 255);
            }
            buf[MQL_COOKIE_VALUE_LEN] = '\0';
            accepted += mql_cookie_verify(key, buf, MQL_COOKIE_VALUE_LEN, got);
            /* and garbage made only of the alphabet with the dot in place */
            for (i = 0; i < MQL_COOKIE_VALUE_LEN; i++) {
                seed = seed * 1103515245u + 12345u;
                buf[i] = alphabet[(seed >> 16) % 64];
            }
            buf[MQL_ID_TEXT_LEN] = '.';
            accepted += mql_cookie_verify(key, buf, MQL_COOKIE_VALUE_LEN, got);
        }
        ok(accepted == 0, "40000 random values refused (%d accepted)", accepted);
    }
}

/* Append "|" (unless first) and n bytes of v to out; 0 when it is full. */
static int append_value(char *out, size_t outsz, size_t *used, const char *v, size_t n)
{
    if (*used + n + 2 >= outsz)
        return 0;
    if (*used)
        out[(*used)++] = '|';
    memcpy(out + *used, v, n);
    *used += n;
    out[*used] = '\0';
    return 1;
}

/* Collect every value of name in header into one "|"-joined string. */
static const char *all_values(const char *header, const char *name)
{
    static char out[20000];
    const char *pos = header, *v;
    size_t n, used = 0;

    out[0] = '\0';
    while ((pos = mql_cookie_next(pos, name, &v, &n)) != NULL)
        if (!append_value(out, sizeof out, &used, v, n))
            break;
    return out;
}

/* whether mql_cookie_find sees a pair of that name */
static int present(const char *header, const char *name)
{
    mql_cookie_found_t f;

    mql_cookie_find(header, &name, 1, &f);
    return f.val != NULL;
}

static void test_header(void)
{
    uint8_t id[MQL_ID_BYTES], got[MQL_ID_BYTES];
    char cookie[MQL_COOKIE_VALUE_LEN + 1];
    char *h;
    const char *v, *pos;
    size_t n, len;
    int i;

    for (i = 0; i < MQL_ID_BYTES; i++)
        id[i] = (uint8_t)(i + 100);
    mql_cookie_sign(key, id, cookie);

    is_str(all_values("a=1; mql_vid=x; b=2", "mql_vid"), "x", "plain pair");
    is_str(all_values("mql_vid=x", "mql_vid"), "x", "only pair");
    is_str(all_values("a=1;mql_vid=x;b=2", "mql_vid"), "x", "no space after ';'");
    is_str(all_values("  a=1 ;\tmql_vid = x ; b=2", "mql_vid"), "x",
           "whitespace around names and values dropped");
    is_str(all_values("mql_vid=\"x\"", "mql_vid"), "x", "double quotes removed");
    is_str(all_values("mql_vid=\"\"", "mql_vid"), "", "empty quoted value");
    is_str(all_values("mql_vid=\"", "mql_vid"), "\"", "a lone quote stays");
    is_str(all_values("mql_vid=", "mql_vid"), "", "empty value");
    is_str(all_values("mql_vid=a=b", "mql_vid"), "a=b", "'=' inside a value kept");
    is_str(all_values("mql_vid=1; mql_vid=2", "mql_vid"), "1|2", "walk finds both");
    is_str(all_values("xmql_vid=1; mql_vid2=2; MQL_VID=3; mql_vi=4", "mql_vid"), "",
           "name prefix/suffix/case confusion does not match");
    is_str(all_values("xmql_vid=1; mql_vid2=2; mql_vid=ok", "mql_vid"), "ok",
           "real cookie after lookalikes");
    is_str(all_values("mql_vid; other=mql_vid=1", "mql_vid"), "",
           "pair without '=' and name inside a value do not match");
    is_str(all_values(";;; ; mql_vid=x;;", "mql_vid"), "x", "empty pairs skipped");
    is_str(all_values("a=\x01\x7f\xff; mql_vid=\x02x; =y", "mql_vid"), "\x02x",
           "control and high bytes tolerated");
    ok(mql_cookie_next("", "mql_vid", &v, &n) == NULL, "empty header");
    ok(mql_cookie_next(NULL, "mql_vid", &v, &n) == NULL, "NULL header");
    ok(mql_cookie_next("a=1", "", &v, &n) == NULL, "empty name never matches");
    ok(mql_cookie_next("=1", "", &v, &n) == NULL, "empty name against empty-name pair");
    ok(mql_cookie_next(" ;  ; \t", "mql_vid", &v, &n) == NULL, "only separators");

    ok(present("a=1; mql_optout=1", "mql_optout"), "present");
    ok(present("mql_optout=", "mql_optout"), "present with empty value");
    ok(!present("a=1; mql_optoutx=1", "mql_optout"), "not present");
    ok(!present("", "mql_optout"), "not present in empty header");
    ok(!present(NULL, "mql_optout"), "not present without a header");
    {
        const char *many[MQL_COOKIE_FIND_MAX + 1];
        mql_cookie_found_t f[MQL_COOKIE_FIND_MAX + 1];
        size_t k;

        for (k = 0; k <= MQL_COOKIE_FIND_MAX; k++)
            many[k] = k == 0 || k == MQL_COOKIE_FIND_MAX ? "a" : "zz";
        mql_cookie_find("zz=1; a=2", many, MQL_COOKIE_FIND_MAX + 1, f);
        ok(f[0].val && f[0].vlen == 1 && f[0].val[0] == '2' && f[1].val && f[1].val[0] == '1'
           && !f[MQL_COOKIE_FIND_MAX].val,
           "names past MQL_COOKIE_FIND_MAX are not looked for, the others are");
    }

    /* a valid cookie quoted and among others verifies */
    h = malloc(100);
    snprintf(h, 100, "a=1; mql_vid=\"%s\"; b=2", cookie);
    pos = mql_cookie_next(h, "mql_vid", &v, &n);
    ok(pos && mql_cookie_verify(key, v, n, got) && memcmp(got, id, 16) == 0,
       "quoted signed cookie verifies");
    free(h);

    /* 100 and 1000 cookies, the valid one last */
    {
        int counts[] = { 100, 1000 };
        int k;
        for (k = 0; k < 2; k++) {
            size_t cap = (size_t)counts[k] * 64 + 64, used = 0;
            h = malloc(cap);
            for (i = 0; i < counts[k] - 1; i++)
                used += (size_t)snprintf(h + used, cap - used,
                                         "%smql_vid=bogus%d", i ? "; " : "", i);
            snprintf(h + used, cap - used, "; mql_vid=%s", cookie);
            {
                int seen = 0, valid = 0;
                pos = h;
                while ((pos = mql_cookie_next(pos, "mql_vid", &v, &n)) != NULL) {
                    seen++;
                    if (mql_cookie_verify(key, v, n, got))
                        valid++;
                }
                ok(seen == counts[k] && valid == 1 && memcmp(got, id, 16) == 0,
                   "%d cookies: all walked, the last one valid", counts[k]);
            }
            free(h);
        }
    }

    /* an 8 KB value followed by the real cookie; reads stay in bounds
     * (valgrind checks the malloc'd header exactly sized) */
    len = 8192 + 64;
    h = malloc(len);
    if (!h)         /* also tells gcc -fsanitize=undefined that h is no NULL */
        abort();
    memcpy(h, "big=", 4);
    memset(h + 4, 'Z', 8192);
    snprintf(h + 4 + 8192, len - 4 - 8192, "; mql_vid=%s", cookie);
    h = realloc(h, strlen(h) + 1);
    pos = mql_cookie_next(h, "mql_vid", &v, &n);
    ok(pos && n == MQL_COOKIE_VALUE_LEN && mql_cookie_verify(key, v, n, got),
       "cookie after an 8 KB value found");
    ok(mql_cookie_next(h, "big", &v, &n) && n == 8192, "8 KB value returned whole");
    free(h);

    /* a header that ends in the middle of things */
    {
        const char *cuts[] = { "mql_vid", "mql_vid ", "mql_vid=\"", "; mql_vid", "mql_vid=x;",
                               "=", ";", "\"" };
        int bad = 0;
        for (i = 0; i < (int)(sizeof cuts / sizeof cuts[0]); i++) {
            char *c = strdup(cuts[i]);
            pos = c;
            while ((pos = mql_cookie_next(pos, "mql_vid", &v, &n)) != NULL)
                if (v < c || v + n > c + strlen(c))
                    bad++;
            free(c);
        }
        ok(bad == 0, "values of cut-off headers lie inside the header");
    }

    /* random NUL-free garbage: the walker must terminate and stay inside */
    {
        unsigned seed = 99;
        int round, bad = 0;
        for (round = 0; round < 2000; round++) {
            size_t glen = 1 + (round % 300);
            char *g = malloc(glen + 1);
            static const char pick[] = "mql_vid=; \"\t=;ab\x01\xff";
            for (i = 0; i < (int)glen; i++) {
                seed = seed * 1103515245u + 12345u;
                g[i] = (seed >> 16) & 1 ? pick[(seed >> 17) % (sizeof pick - 1)]
                                        : (char)(1 + (seed >> 17) % 255);
            }
            g[glen] = '\0';
            pos = g;
            while ((pos = mql_cookie_next(pos, "mql_vid", &v, &n)) != NULL) {
                if (v < g || v + n > g + glen || pos < g || pos > g + glen)
                    bad++;
                mql_cookie_verify(key, v, n, got);
            }
            free(g);
        }
        ok(bad == 0, "2000 garbage headers walked within bounds");
    }
}

/*
 * The plain pair walk of RFC 6265: split at every ';', trim whitespace,
 * drop surrounding quotes from the value.  mql_cookie_next jumps with
 * strstr; it must find exactly what this finds, in the same order.
 */
static void reference_values(const char *header, const char *name, char *out, size_t outsz)
{
    const char *s = header;
    size_t used = 0, want = strlen(name);

    out[0] = '\0';
    while (*s) {
        const char *end = strchr(s, ';'), *eq, *nm, *val;
        size_t nlen, vlen;

        if (!end)
            end = s + strlen(s);
        eq = memchr(s, '=', (size_t)(end - s));
        for (nm = s; nm < end && (*nm == ' ' || *nm == '\t'); nm++)
            ;
        nlen = (size_t)((eq ? eq : end) - nm);
        while (nlen && (nm[nlen - 1] == ' ' || nm[nlen - 1] == '\t'))
            nlen--;
        if (eq && nlen == want && memcmp(nm, name, want) == 0) {
            for (val = eq + 1; val < end && (*val == ' ' || *val == '\t'); val++)
                ;
            vlen = (size_t)(end - val);
            while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
                val++;
                vlen -= 2;
            }
            if (!append_value(out, outsz, &used, val, vlen))
                break;
        }
        s = *end ? end + 1 : end;
    }
}

static void test_header_reference(void)
{
    static const char *const parts[] = { "mql_vid", "mql_vid", "mql", "_vid", "xmql_vid", "=",
                                         "=", ";", "; ", " ", "\t", "\"", "a", "v1", "=\"q\"" };
    static const char *const names[] = { "mql_vid", "mql", "_vid", NULL, "" };
    static char want[20000];
    unsigned seed = 7;
    int round, differ = 0, found = 0, first_differ = 0;

    for (round = 0; round < 20000; round++) {
        char h[400];
        size_t used = 0;
        int k, nparts = 1 + round % 24;

        for (k = 0; k < nparts; k++) {
            const char *part;

            seed = seed * 1103515245u + 12345u;
            part = parts[(seed >> 16) % (sizeof parts / sizeof parts[0])];
            if (used + strlen(part) + 1 > sizeof h)
                break;
            memcpy(h + used, part, strlen(part));
            used += strlen(part);
        }
        h[used] = '\0';
        reference_values(h, "mql_vid", want, sizeof want);
        found += want[0] != '\0';
        if (strcmp(want, all_values(h, "mql_vid")) != 0 && differ++ < 3)
            printf("# header [%s]: walk [%s], mql_cookie_next [%s]\n", h, want,
                 all_values(h, "mql_vid"));
        {
            mql_cookie_found_t f[sizeof names / sizeof names[0]];
            size_t k2;

            mql_cookie_find(h, names, sizeof names / sizeof names[0], f);
            for (k2 = 0; k2 < sizeof names / sizeof names[0]; k2++) {
                const char *v = NULL, *rest = mql_cookie_next(h, names[k2], &v, NULL);
                size_t n = 0;

                mql_cookie_next(h, names[k2], NULL, &n);
                if (rest ? (f[k2].val != v || f[k2].vlen != n || f[k2].rest != rest)
                         : f[k2].val != NULL)
                    first_differ++;
            }
        }
    }
    ok(first_differ == 0, "mql_cookie_find: the first pair of each name, as mql_cookie_next "
       "finds it (%d differ)", first_differ);
    ok(differ == 0, "20000 generated headers: the same values as a plain pair walk (%d differ)",
       differ);
    ok(found > 1000, "... of which %d hold the cookie", found);
}

/* The mark of a scored request: made and checked with one key, refused
 * altered, with another key, too old or too new, or as a cookie. */
static void test_scored_mark(void)
{
    uint8_t mk[MQL_KEY_BYTES], other[MQL_KEY_BYTES], id[MQL_ID_BYTES], got[MQL_ID_BYTES];
    char mark[MQL_SCORED_LEN + 1], bad[MQL_SCORED_LEN + 1], cookie[MQL_COOKIE_VALUE_LEN + 1];
    int is_new = -1, i, refused = 0;

    for (i = 0; i < MQL_KEY_BYTES; i++) {
        mk[i] = (uint8_t)(i * 3 + 1);
        other[i] = (uint8_t)(i * 3 + 2);
    }
    for (i = 0; i < MQL_ID_BYTES; i++)
        id[i] = (uint8_t)(0xA0 + i);
    mql_scored_sign(mk, id, 1, 1764147600u, mark);
    is_int((int)strlen(mark), MQL_SCORED_LEN, "the mark has its length");
    ok(mql_scored_check(mk, mark, strlen(mark), 1764147600u, 300, got, &is_new)
       && !memcmp(got, id, MQL_ID_BYTES) && is_new == 1, "a mark checks: the ID, new");
    mql_scored_sign(mk, id, 0, 1764147600u, mark);
    ok(mql_scored_check(mk, mark, strlen(mark), 1764147900u, 300, got, &is_new) && is_new == 0,
       "a known visitor's mark, 5 minutes old");
    ok(!mql_scored_check(mk, mark, strlen(mark), 1764147901u, 300, got, &is_new),
       "older: refused");
    ok(!mql_scored_check(mk, mark, strlen(mark), 1764147299u, 300, got, &is_new),
       "from the future: refused");
    ok(!mql_scored_check(other, mark, strlen(mark), 1764147600u, 300, got, &is_new),
       "another mk: refused");
    for (i = 0; i < MQL_SCORED_LEN; i++) {
        memcpy(bad, mark, sizeof bad);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        refused += !mql_scored_check(mk, bad, MQL_SCORED_LEN, 1764147600u, 300, got, &is_new);
    }
    is_int(refused, MQL_SCORED_LEN, "any one character changed: refused");
    memcpy(bad, mark, sizeof bad);
    bad[MQL_ID_TEXT_LEN + 1] = '1';
    ok(!mql_scored_check(mk, bad, MQL_SCORED_LEN, 1764147600u, 300, got, &is_new),
       "a known visitor's mark made new: refused");
    ok(!mql_scored_check(mk, mark, MQL_SCORED_LEN - 1, 1764147600u, 300, got, &is_new)
       && !mql_scored_check(mk, NULL, 0, 1764147600u, 300, got, &is_new),
       "short or absent: refused");
    mql_cookie_sign(mk, id, cookie);
    ok(!mql_scored_check(mk, cookie, strlen(cookie), 1764147600u, 300, got, &is_new),
       "a cookie is no mark");
}

int main(void)
{
    test_id_text();
    test_decode_table();
    test_sign_verify();
    test_header();
    test_header_reference();
    test_scored_mark();
    return done_testing();
}
