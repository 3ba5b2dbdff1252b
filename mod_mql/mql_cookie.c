/*
 * The visitor cookie: base64url text of the ID and its SipHash tag, and a
 * small hand-written walker over the Cookie request header.
 *
 * Everything here reads bytes that a client chose, so every loop is bounded
 * by an explicit length or by the header's terminating NUL, and decoding is
 * strict: one ID has exactly one accepted spelling, so nobody can mint
 * lookalike cookies that map to the same record.
 */
#include <string.h>
#include "mql_cookie.h"
#include "mql_siphash.h"

#define MQL_TAG_BYTES 8

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 6-bit value of a base64url character, -1 for anything else */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* base64url without padding; out holds 4*ceil(n/3) - padding + 1 chars */
static void b64url_encode(const uint8_t *in, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            *out++ = b64url[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0)
        *out++ = b64url[(acc << (6 - bits)) & 0x3f];
    *out = '\0';
}

/*
 * Strict decoding of exactly the text b64url_encode produces for n bytes:
 * the length must match and the unused low bits of the last character must
 * be zero (otherwise "AA" and "AB" would both decode to one zero byte).
 */
static int b64url_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t i, o = 0;

    if (len != (n * 8 + 5) / 6)
        return 0;
    for (i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* leftover bits (2 or 4 here) are padding and must be zero */
    return o == n && (acc & ((1u << bits) - 1)) == 0;
}

void mql_id_to_text(const uint8_t id[MQL_ID_BYTES], char out[MQL_ID_TEXT_LEN + 1])
{
    b64url_encode(id, MQL_ID_BYTES, out);
}

int mql_id_from_text(const char *s, size_t len, uint8_t id[MQL_ID_BYTES])
{
    uint8_t tmp[MQL_ID_BYTES];

    /* decode into a scratch buffer so a rejected text leaves id untouched */
    if (!s || !b64url_decode(s, len, tmp, MQL_ID_BYTES))
        return 0;
    memcpy(id, tmp, MQL_ID_BYTES);
    return 1;
}

/* The tag is the 64-bit SipHash output, serialised little-endian as the
 * paper's reference implementation does. */
static void cookie_tag(const uint8_t key[MQL_KEY_BYTES], const uint8_t id[MQL_ID_BYTES],
                       uint8_t tag[MQL_TAG_BYTES])
{
    uint64_t h = mql_siphash24(key, id, MQL_ID_BYTES);
    int i;

    for (i = 0; i < MQL_TAG_BYTES; i++)
        tag[i] = (uint8_t)(h >> (8 * i));
}

void mql_cookie_sign(const uint8_t key[MQL_KEY_BYTES], const uint8_t id[MQL_ID_BYTES],
                     char out[MQL_COOKIE_VALUE_LEN + 1])
{
    uint8_t tag[MQL_TAG_BYTES];

    cookie_tag(key, id, tag);
    b64url_encode(id, MQL_ID_BYTES, out);
    out[MQL_ID_TEXT_LEN] = '.';
    b64url_encode(tag, MQL_TAG_BYTES, out + MQL_ID_TEXT_LEN + 1);
}

/* Compare without an early exit, so the time taken does not tell an
 * attacker how many leading tag bytes were right. */
static int equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t diff = 0;
    size_t i;

    for (i = 0; i < n; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

int mql_cookie_verify(const uint8_t key[MQL_KEY_BYTES], const char *value, size_t len,
                      uint8_t id[MQL_ID_BYTES])
{
    uint8_t raw[MQL_ID_BYTES], got[MQL_TAG_BYTES], want[MQL_TAG_BYTES];

    if (!value || len != MQL_COOKIE_VALUE_LEN || value[MQL_ID_TEXT_LEN] != '.')
        return 0;
    if (!b64url_decode(value, MQL_ID_TEXT_LEN, raw, MQL_ID_BYTES)
        || !b64url_decode(value + MQL_ID_TEXT_LEN + 1, MQL_SIG_TEXT_LEN, got, MQL_TAG_BYTES))
        return 0;
    cookie_tag(key, raw, want);
    if (!equal_ct(got, want, MQL_TAG_BYTES))
        return 0;
    memcpy(id, raw, MQL_ID_BYTES);
    return 1;
}

/* ---- Cookie header walker ------------------------------------------- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* One "name=value" pair of the header, as offsets into it. */
typedef struct cookie_pair {
    const char *name;
    size_t nlen;
    const char *val;
    size_t vlen;
    int has_eq;
} cookie_pair_t;

/*
 * Split the pair starting at s (which is not ';' or NUL) and return the
 * position of the ';' or NUL that ends it.  Whitespace around the name and
 * value is dropped, as browsers do; a value in double quotes loses them
 * (RFC 6265 allows DQUOTE *cookie-octet DQUOTE).
 */
static const char *split_pair(const char *s, cookie_pair_t *pr)
{
    const char *end, *eq = NULL;

    for (end = s; *end && *end != ';'; end++)
        if (!eq && *end == '=')
            eq = end;

    pr->has_eq = eq != NULL;
    pr->name = s;
    pr->nlen = (size_t)((eq ? eq : end) - s);
    while (pr->nlen && is_ows(pr->name[pr->nlen - 1]))
        pr->nlen--;

    pr->val = eq ? eq + 1 : end;
    while (pr->val < end && is_ows(*pr->val))
        pr->val++;
    pr->vlen = (size_t)(end - pr->val);
    while (pr->vlen && is_ows(pr->val[pr->vlen - 1]))
        pr->vlen--;
    if (pr->vlen >= 2 && pr->val[0] == '"' && pr->val[pr->vlen - 1] == '"') {
        pr->val++;
        pr->vlen -= 2;
    }
    return end;
}

const char *mql_cookie_next(const char *header, const char *name,
                            const char **val, size_t *vlen)
{
    size_t want;
    const char *s = header;

    if (!s || !name || !*name)
        return NULL;
    want = strlen(name);
    while (*s) {
        cookie_pair_t pr;

        /* skip separators and the whitespace before a pair */
        if (*s == ';' || is_ows(*s)) {
            s++;
            continue;
        }
        s = split_pair(s, &pr);
        /* A pair without '=' has no name (RFC 6265bis), so it never
         * matches; names are compared exactly, case included. */
        if (pr.has_eq && pr.nlen == want && memcmp(pr.name, name, want) == 0) {
            if (val)
                *val = pr.val;
            if (vlen)
                *vlen = pr.vlen;
            return s;
        }
    }
    return NULL;
}

int mql_cookie_present(const char *header, const char *name)
{
    const char *v;
    size_t n;

    return mql_cookie_next(header, name, &v, &n) != NULL;
}
