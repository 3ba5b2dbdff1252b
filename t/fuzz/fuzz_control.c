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
 * Sales' and the application's words about who a visitor is: a control
 * request line (MQLStateDir/control is the server user's to write, so the
 * writer parses whatever is there: "adjust ID POINTS REASON", "set ID
 * rejected REASON"), and the e-mail domain of an X-MQL-Contact that the
 * knock-outs compare.  Input: the line, or the contact.
 *
 * Checks: a request taken has points in range and a reason without
 * control characters of at most MQL_REASON_MAX bytes, and the line the
 * protocol writes for it reads back the same; a contact's domain fits its
 * buffer, lower case, with no space, '>' or '@', and a domain taken by
 * mql_domain_parse matches itself and its subdomains, not its parent.
 */
#include "fuzz.h"
#include "mql_control.h"
#include "mql_knockout.h"

static void check_request(apr_pool_t *p, const char *line)
{
    mql_control_t req, again;
    const char *text;
    const unsigned char *c;

    if (mql_control_parse(p, line, &req, NULL) != MQL_CONTROL_OK)
        return;
    if (req.verb == MQL_CONTROL_ADJUST) {
        FUZZ_CHECK(req.points != 0 && req.points >= -MQL_ADJUST_MAX
                   && req.points <= MQL_ADJUST_MAX);
        FUZZ_CHECK(req.reason != NULL);
    }
    if (!req.reason)
        return;
    FUZZ_CHECK(strlen(req.reason) >= 1 && strlen(req.reason) <= MQL_REASON_MAX);
    for (c = (const unsigned char *)req.reason; *c; c++)
        FUZZ_CHECK(*c >= 0x20 && *c != 0x7f);
    text = req.verb == MQL_CONTROL_ADJUST
           ? mql_control_format_adjust(p, req.id_text, req.points, req.reason)
           : mql_control_format_reject(p, req.id_text, req.reason);
    FUZZ_CHECK(mql_control_parse(p, text, &again, NULL) == MQL_CONTROL_OK);
    FUZZ_CHECK(again.verb == req.verb && again.points == req.points
               && !memcmp(again.id, req.id, MQL_ID_BYTES) && !strcmp(again.reason, req.reason));
}

static void check_contact(apr_pool_t *p, const char *contact)
{
    char buf[MQL_DOMAIN_MAX + 8], sub[MQL_DOMAIN_MAX + 16];
    const char *d, *listed[1];
    size_t i, n;

    memset(buf, 'X', sizeof buf);
    if (mql_knockout_domain(contact, buf)) {
        n = strlen(buf);
        FUZZ_CHECK(n >= 1 && n <= MQL_DOMAIN_MAX);
        for (i = 0; i < n; i++)
            FUZZ_CHECK(buf[i] != ' ' && buf[i] != '>' && buf[i] != '@'
                       && !(buf[i] >= 'A' && buf[i] <= 'Z'));
        for (i = MQL_DOMAIN_MAX + 1; i < sizeof buf; i++)
            FUZZ_CHECK(buf[i] == 'X');
    }
    if (mql_domain_parse(p, contact, &d) == NULL) {
        listed[0] = d;
        FUZZ_CHECK(strlen(d) <= MQL_DOMAIN_MAX && strchr(d, '.'));
        FUZZ_CHECK(mql_domain_listed(d, listed, 1) == 0);
        snprintf(sub, sizeof sub, "a.%s", d);
        FUZZ_CHECK(mql_domain_listed(sub, listed, 1) == 0);
        FUZZ_CHECK(mql_domain_listed(strchr(d, '.') + 1, listed, 1) == -1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *s = fuzz_strndup(data, size);

    check_request(p, s);
    check_contact(p, s);
    free(s);
    apr_pool_destroy(p);
    return 0;
}
