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
 * Knock-outs: who never becomes an MQL, whatever its score.  A visitor
 * whose contact's e-mail domain is listed (MQLDisqualify contact-domain)
 * or whose request matched a rule flagged disqualify is rejected, with
 * the reason "disqualified" and the domain or the rule; the glue holds
 * the hit's promotion back and makes the stage change.
 */
#ifndef MQL_KNOCKOUT_H
#define MQL_KNOCKOUT_H

#include <apr_pools.h>

#define MQL_KNOCKOUT_REASON "disqualified"
#define MQL_DOMAIN_MAX 253             /* a DNS name's length */

/* NULL when s is a domain as MQLDisqualify takes it (letters, digits,
 * hyphens, labels of 1 to 63 between dots, at least two labels, at most
 * MQL_DOMAIN_MAX bytes; a trailing dot is allowed), else what is
 * expected.  *out (may be NULL) gets it lower case, without the dot. */
const char *mql_domain_parse(apr_pool_t *p, const char *s, const char **out);

/*
 * The e-mail domain of a contact ("jane@Sub.Competitor.example",
 * "Jane <jane@competitor.example>"): what follows the last '@' up to a
 * '>', a space or the end, lower case, without a trailing dot, into buf
 * (MQL_DOMAIN_MAX + 1 bytes); 0 when the contact has none (a CRM ID).
 */
int mql_knockout_domain(const char *contact, char *buf);

/* The index in domains (n, lower case) of the first that domain is, or
 * is a subdomain of ("a.competitor.example" is one of
 * "competitor.example"; "notcompetitor.example" is not); -1 when none. */
int mql_domain_listed(const char *domain, const char *const *domains, int n);

/* The reason a knock-out records: "disqualified (contact-domain
 * competitor.example)", "disqualified (rule form ^/careers/apply)". */
const char *mql_knockout_reason(apr_pool_t *p, const char *kind, const char *what);

#endif
