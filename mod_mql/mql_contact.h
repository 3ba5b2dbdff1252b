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
 * Contacts and accounts.
 *
 * A contact comes from the application (X-MQL-Contact) or from httpd's
 * own authentication (MQLContactFrom): either way from input a client
 * shaped, so it is bounded and normalised here before any store sees it,
 * and compared only in that form.  Bytes are kept as they came otherwise:
 * like every client value, a contact is escaped where it is written (the
 * DBM record's percent-encoding, mql_json's U+FFFD, mql_text_safe), so a
 * contact that is not an e-mail address (a CRM id) keeps its exact bytes.
 *
 * An account is the company behind people: the e-mail domain of their
 * contacts, free-mail providers excluded.  The background writer counts
 * accounts from the visitors that carry a contact (mql_accounts_add),
 * keeps a bounded table of them, leads' accounts first
 * (mql_accounts_finish), and the file MQLStateDir/accounts carries the
 * table to the status page, mqlctl and the next start (which accounts
 * were announced).
 */
#ifndef MQL_CONTACT_H
#define MQL_CONTACT_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "mql_types.h"

/* ------------------------------------------------------------ contacts */

/*
 * in normalised into out (outlen bytes, at most MQL_CONTACT_LEN): ASCII
 * white space trimmed from both ends (control bytes are kept, escaped
 * wherever the contact is shown), cut to fit
 * without splitting a UTF-8 sequence, and an e-mail address
 * (mql_contact_is_email) lowercased (ASCII letters: an address's domain
 * is case-blind, and mail systems treat the local part so in practice).
 * Returns the length; 0 when nothing is left.
 */
size_t mql_contact_normalise(const char *in, char *out, size_t outlen);

/* 1 when s (NUL-terminated, at most MQL_CONTACT_LEN - 1 bytes) is an
 * e-mail address as accounts know one: local@domain, the local part
 * 1-64 bytes of printable ASCII or well-formed UTF-8 without spaces,
 * quotes, angle brackets and the like, the domain two or more labels of
 * letters, digits and hyphens (IDNs as punycode), 253 bytes at most. */
int mql_contact_is_email(const char *s);

/* The domain of an e-mail address (a pointer into s, lowercase when s
 * was normalised), or NULL when s is not one. */
const char *mql_contact_domain(const char *s);

/* ----------------------------------------------------------- free mail */

/* 1 when arg (MQLFreeMailDomains) is a domain name or "NAME.*" (NAME
 * under any top-level suffix: yahoo.* is yahoo.com and yahoo.co.uk). */
int mql_freemail_valid(const char *arg);

/* 1 when the (lowercase) domain is a free-mail provider's: the shipped
 * list or one of extra (const char *, lowercase; NULL for none). */
int mql_freemail_match(const apr_array_header_t *extra, const char *domain);

/* The shipped list, NULL-terminated (for the documentation's test). */
extern const char *const mql_freemail_builtin[];

/* ------------------------------------------------------------ accounts */

#define MQL_DOMAIN_LEN   254    /* a domain name, NUL-terminated */
#define MQL_SITE_NAME_LEN 256   /* a site's ServerName, NUL-terminated */
#define MQL_ACCOUNTS_MAX 1000   /* accounts kept by default */

typedef struct mql_account {
    char site[MQL_SITE_NAME_LEN];   /* the site's name ("" for the main server) */
    char domain[MQL_DOMAIN_LEN];
    uint32_t people;                /* visitors with a contact at the domain */
    uint32_t engaged;               /* ... whose score is at least 1 now */
    uint32_t leads;                 /* ... who are leads (any stage past visitor) */
    double score;                   /* the engaged people's scores, added */
    uint32_t first_seen;            /* the earliest first visit */
    uint32_t last_seen;             /* the latest activity */
    uint32_t announced;             /* when it became a marketing-qualified
                                     * account, 0 = not (yet) */
} mql_account_t;

typedef struct mql_accounts mql_accounts_t;

/* An empty count from p. */
mql_accounts_t *mql_accounts_make(apr_pool_t *p);

/* One person: the visitor v of the site named site, its contact, its
 * score as of now (decayed).  Contacts that are no e-mail address and
 * free-mail domains count nowhere (returns 0); 1 when counted. */
int mql_accounts_add(mql_accounts_t *a, const apr_array_header_t *freemail, const char *site,
                     const char *contact, const mql_visitor_t *v, double score_now);

/*
 * The count made into a table of at most max accounts (array of
 * mql_account_t), sorted leads first, then announced ones, then by score,
 * people and name; the accounts of prev (the last table, for the
 * announced marks) that were announced keep their mark, and those no
 * person holds any more stay, emptied, while there is room.  With
 * people_min > 0, an account not yet announced that has people_min
 * engaged people whose scores add up to score_min is announced now: its
 * mark set to now, and a copy added to *fresh (when not NULL).  *dropped
 * gets how many accounts did not fit.
 */
apr_array_header_t *mql_accounts_finish(mql_accounts_t *a, const apr_array_header_t *prev,
                                        uint32_t people_min, double score_min, int max,
                                        uint32_t now, apr_array_header_t **fresh,
                                        uint32_t *dropped, apr_pool_t *p);

/* The notification line of a newly qualified account, without the
 * newline: {"type":"account",...}. */
const char *mql_account_json(apr_pool_t *p, const mql_account_t *a, uint32_t now);

/* ------------------------------------------------------- the accounts file */

#define MQL_ACCOUNTS_NAME "accounts"            /* in MQLStateDir */
#define MQL_ACCOUNTS_FILE_MAX (4 << 20)         /* bytes read at most */

/* The file's text: a header line with the time it was made and the
 * accounts dropped, then one tab-separated line per account. */
const char *mql_accounts_format(apr_pool_t *p, const apr_array_header_t *accounts,
                                uint32_t now, uint32_t dropped);

/* Its accounts, in file order (lines that do not parse are counted in
 * *bad and skipped); *made and *dropped from the header (0 when absent). */
apr_array_header_t *mql_accounts_parse(apr_pool_t *p, const char *text, uint32_t *made,
                                       uint32_t *dropped, int *bad);

/*
 * The file at path read: a regular file reached without a symbolic link,
 * never waiting on a FIFO, within MQL_ACCOUNTS_FILE_MAX bytes.  APR_ENOENT
 * when absent, APR_EGENERAL when it is not such a file.
 */
apr_status_t mql_accounts_read(apr_pool_t *p, const char *path, const char **text);

/* Written as a new file beside path (0640) and renamed over it. */
apr_status_t mql_accounts_write(apr_pool_t *p, const char *path, const char *text);

#endif
