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
 * Contacts as clients and applications send them, and the accounts file
 * as the server's user may leave it.  Input: a contact, '\n', then the
 * text of an accounts file.
 *
 * Checks: a normalised contact fits, has no blank at either end, is
 * normalised again into itself, and cut short only at a UTF-8 boundary
 * of a well-formed sequence; an e-mail address comes out lowercase with
 * a domain that free-mail matching and the accounts take; an accounts
 * file parses into accounts that format and parse back the same.
 */
#include "fuzz.h"
#include <apr_strings.h>
#include "mql_contact.h"

static int is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *contact = fuzz_field(&data, &size, '\n');
    char *text = apr_pstrmemdup(p, (const char *)data, size);
    char once[MQL_CONTACT_LEN], twice[MQL_CONTACT_LEN], small[9];
    apr_array_header_t *accounts, *back;
    mql_accounts_t *acc;
    mql_visitor_t v;
    uint32_t made, dropped, made2, dropped2;
    size_t n, i;
    int bad, bad2;

    n = mql_contact_normalise(contact, once, sizeof once);
    FUZZ_CHECK(n == strlen(once) && n < MQL_CONTACT_LEN);
    /* white space trimmed; control bytes are kept as they came */
    FUZZ_CHECK(!n || !is_space(once[0]));
    FUZZ_CHECK(!n || !is_space(once[n - 1]));
    FUZZ_CHECK(mql_contact_normalise(once, twice, sizeof twice) == n);
    FUZZ_CHECK(!strcmp(once, twice));
    if (mql_contact_is_email(once)) {
        const char *d = mql_contact_domain(once);

        FUZZ_CHECK(d && d > once && d[-1] == '@');
        for (i = 0; i < n; i++)
            FUZZ_CHECK(!(once[i] >= 'A' && once[i] <= 'Z'));
        mql_freemail_match(NULL, d);
    }
    n = mql_contact_normalise(contact, small, sizeof small);
    FUZZ_CHECK(n < sizeof small && n == strlen(small));

    memset(&v, 0, sizeof v);
    acc = mql_accounts_make(p);
    mql_accounts_add(acc, NULL, contact, once, &v, 3);
    accounts = mql_accounts_parse(p, text, &made, &dropped, &bad);
    back = mql_accounts_finish(acc, accounts, 1, 1, 50, 1764147600, NULL, NULL, p);
    FUZZ_CHECK(back->nelts <= 50);
    back = mql_accounts_parse(p, mql_accounts_format(p, accounts, made, dropped), &made2,
                              &dropped2, &bad2);
    FUZZ_CHECK(bad2 == 0 && back->nelts == accounts->nelts);
    FUZZ_CHECK(made2 == made && dropped2 == dropped);
    for (i = 0; i < (size_t)back->nelts; i++) {
        const mql_account_t *a = &((const mql_account_t *)accounts->elts)[i];
        const mql_account_t *b = &((const mql_account_t *)back->elts)[i];

        FUZZ_CHECK(!strcmp(a->domain, b->domain) && a->people == b->people
                   && a->announced == b->announced && a->leads == b->leads);
    }
    free(contact);
    apr_pool_destroy(p);
    return 0;
}
