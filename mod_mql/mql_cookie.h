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
 * The visitor cookie: "ID.SIG", both base64url without padding.
 * ID is 16 random bytes (22 characters), SIG is SipHash-2-4 of the raw ID
 * under the server's secret key (8 bytes, 11 characters): 34 characters.
 * Anything else - wrong length, bad alphabet, bad signature - is absent.
 */
#ifndef MQL_COOKIE_H
#define MQL_COOKIE_H

#include <stddef.h>
#include <stdint.h>
#include "mql_types.h"

#define MQL_ID_TEXT_LEN 22
#define MQL_SIG_TEXT_LEN 11
#define MQL_COOKIE_VALUE_LEN (MQL_ID_TEXT_LEN + 1 + MQL_SIG_TEXT_LEN)

/* base64url of 16 bytes, NUL-terminated */
void mql_id_to_text(const uint8_t id[MQL_ID_BYTES], char out[MQL_ID_TEXT_LEN + 1]);
/* strict: exactly 22 base64url chars with canonical trailing bits; 1 = ok */
int mql_id_from_text(const char *s, size_t len, uint8_t id[MQL_ID_BYTES]);

/* out receives "ID.SIG", NUL-terminated */
void mql_cookie_sign(const uint8_t key[MQL_KEY_BYTES], const uint8_t id[MQL_ID_BYTES],
                     char out[MQL_COOKIE_VALUE_LEN + 1]);
/*
 * A cookie value taken apart, in two steps so that a caller can start
 * work on the ID (fetching its record) while the signature is checked:
 * mql_cookie_parse accepts only the one spelling the server signs, and
 * mql_cookie_check compares the tag with the key's in constant time.
 * The ID means nothing until mql_cookie_check said 1.
 */
typedef struct mql_cookie_claim {
    uint8_t id[MQL_ID_BYTES];
    uint64_t tag;
} mql_cookie_claim_t;

int mql_cookie_parse(const char *value, size_t len, mql_cookie_claim_t *claim);
int mql_cookie_check(const uint8_t key[MQL_KEY_BYTES], const mql_cookie_claim_t *claim);

/* Both at once: 1 and the ID when value is a well-formed cookie signed by
 * key. */
int mql_cookie_verify(const uint8_t key[MQL_KEY_BYTES], const char *value, size_t len,
                      uint8_t id[MQL_ID_BYTES]);

/*
 * The mark a scored request carries to a backend through a proxy of this
 * server, so that a backend sharing the key (a virtual host of the same
 * server, or a server with the same MQLSecret) knows the request is
 * scored already: "ID.N.TIME.TAG", N 1 for a visitor new on this request,
 * TIME the Unix time in 8 lowercase hex digits, TAG SipHash-2-4 under the
 * cookie key of a message no cookie signs.  Only the key's holder makes
 * one, for the visitor of the request, so a client can replay one only
 * for itself (as its opt-out cookie would), and only for max_age seconds.
 */
#define MQL_SCORED_HEADER "X-MQL-Scored"
#define MQL_SCORED_LEN (MQL_ID_TEXT_LEN + 1 + 1 + 1 + 8 + 1 + MQL_SIG_TEXT_LEN)

void mql_scored_sign(const uint8_t key[MQL_KEY_BYTES], const uint8_t id[MQL_ID_BYTES],
                     int is_new, uint32_t now, char out[MQL_SCORED_LEN + 1]);
/* 1, the ID and whether it was new, for a mark of key's no older (nor
 * newer) than max_age seconds */
int mql_scored_check(const uint8_t key[MQL_KEY_BYTES], const char *value, size_t len,
                     uint32_t now, uint32_t max_age, uint8_t id[MQL_ID_BYTES], int *is_new);

/*
 * Walk a Cookie request header (RFC 6265 "a=b; c=d") for cookies named
 * name.  Returns a pointer from which to continue the walk and sets
 * *val and *vlen to the value (surrounding double quotes removed), or NULL
 * when no further cookie of that name exists.  Tolerates garbage: empty
 * pairs, missing '=', control bytes, any length.
 */
const char *mql_cookie_next(const char *header, const char *name,
                            const char **val, size_t *vlen);

/* The first pair of one name found by mql_cookie_find. */
typedef struct mql_cookie_found {
    const char *val;            /* NULL: the header has no pair of that name */
    size_t vlen;
    const char *rest;           /* where mql_cookie_next goes on for later pairs */
} mql_cookie_found_t;

/*
 * One walk of the header for several names at once (the request path
 * looks for the visitor, opt-out and consent cookies): found[i] receives
 * the first pair named names[i], as mql_cookie_next would return it.
 * NULL or empty names are never found, nor are names past the first
 * MQL_COOKIE_FIND_MAX.
 */
#define MQL_COOKIE_FIND_MAX 8
void mql_cookie_find(const char *header, const char *const names[], size_t n,
                     mql_cookie_found_t found[]);

#endif
