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
 * Contacts and accounts (mql_contact.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mql_contact.h"
#include "mql_json.h"

/* ------------------------------------------------------------ contacts */

/* White space only: a control byte is kept as it came (and escaped
 * wherever it is shown), so the contact an application reported comes
 * back byte for byte in the CSV and the JSON. */
static int blank(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Bytes a local part may hold besides letters and digits: RFC 5322's
 * atext and the dot, nothing that quotes, comments or separates. */
static int local_char(unsigned char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~.", c));
}

int mql_contact_is_email(const char *s)
{
    const unsigned char *at, *p, *label;
    size_t len, dlen;

    if (!s || !(at = (const unsigned char *)strchr(s, '@'))
        || strchr((const char *)at + 1, '@'))
        return 0;
    len = (size_t)(at - (const unsigned char *)s);
    if (len < 1 || len > 64 || s[0] == '.' || at[-1] == '.')
        return 0;
    for (p = (const unsigned char *)s; p < at; ) {
        size_t n;

        if (*p < 0x80) {
            if (!local_char(*p))
                return 0;
            p++;
            continue;
        }
        /* a well-formed sequence past the C1 controls (U+00A0 on) */
        {
            unsigned long cp;

            if (!(n = mql_utf8_len(p, (size_t)(at - p), &cp)) || cp < 0xa0)
                return 0;
        }
        p += n;
    }
    dlen = strlen((const char *)at + 1);
    if (dlen < 3 || dlen > 253 || len + 1 + dlen > MQL_CONTACT_LEN - 1)
        return 0;
    /* labels of letters, digits and inner hyphens; two at least */
    label = at + 1;
    for (p = label; ; p++) {
        if (*p == '.' || !*p) {
            size_t l = (size_t)(p - label);

            if (l < 1 || l > 63 || label[0] == '-' || p[-1] == '-')
                return 0;
            if (!*p)
                break;
            label = p + 1;
        }
        else if (!apr_isalnum(*p) && *p != '-')
            return 0;
    }
    return label != at + 1;
}

const char *mql_contact_domain(const char *s)
{
    return mql_contact_is_email(s) ? strchr(s, '@') + 1 : NULL;
}

size_t mql_contact_normalise(const char *in, char *out, size_t outlen)
{
    const unsigned char *b = (const unsigned char *)(in ? in : "");
    size_t len, cut, i;

    if (!outlen)
        return 0;
    if (outlen > MQL_CONTACT_LEN)
        outlen = MQL_CONTACT_LEN;
    while (*b && blank(*b))
        b++;
    len = strlen((const char *)b);
    while (len && blank(b[len - 1]))
        len--;
    cut = len;
    if (cut > outlen - 1) {
        /* back to the start of a well-formed sequence the cut would split */
        size_t back;

        cut = outlen - 1;
        for (back = 1; back < 4 && back <= cut; back++)
            if ((b[cut - back] & 0xc0) != 0x80)
                break;
        if (back < 4 && back <= cut && b[cut - back] >= 0xc0
            && mql_utf8_len(b + cut - back, len - (cut - back), NULL) > back)
            cut -= back;
    }
    /* what the cut leaves at the end is trimmed too */
    while (cut && blank(b[cut - 1]))
        cut--;
    memcpy(out, b, cut);
    out[cut] = '\0';
    /* decided on what is kept, so that normalising again changes nothing */
    if (mql_contact_is_email(out))
        for (i = 0; i < cut; i++)
            out[i] = (char)apr_tolower((unsigned char)out[i]);
    return cut;
}

/* ----------------------------------------------------------- free mail */

const char *const mql_freemail_builtin[] = {
    "gmail.com", "googlemail.com",
    "yahoo.*", "ymail.com", "rocketmail.com",
    "hotmail.*", "outlook.*", "live.*", "msn.com", "windowslive.com", "passport.com",
    "aol.*", "aim.com",
    "icloud.com", "me.com", "mac.com",
    "gmx.*", "web.de", "t-online.de", "freenet.de",
    "mail.ru", "inbox.ru", "list.ru", "bk.ru", "yandex.*", "ya.ru", "rambler.ru",
    "proton.me", "protonmail.com", "protonmail.ch", "pm.me",
    "tutanota.com", "tutanota.de", "tuta.io",
    "zoho.com", "zohomail.com",
    "mail.com", "email.com", "fastmail.com", "fastmail.fm", "hushmail.com",
    "qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn",
    "sohu.com", "aliyun.com",
    "naver.com", "hanmail.net", "daum.net", "rediffmail.com",
    "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr",
    "libero.it", "virgilio.it", "tiscali.it",
    "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl",
    "btinternet.com", "sky.com", "comcast.net", "verizon.net", "att.net", "sbcglobal.net",
    "bellsouth.net", "cox.net", "earthlink.net", "shaw.ca", "rogers.com",
    "uol.com.br", "bol.com.br", "terra.com.br",
    NULL
};

/* a domain as MQLFreeMailDomains and the list spell one: LDH labels */
static int domain_chars(const char *s, size_t n)
{
    size_t i;

    if (n < 1 || n > 253 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.'
        || s[n - 1] == '-')
        return 0;
    for (i = 0; i < n; i++)
        if (!(apr_isalnum(s[i]) || s[i] == '-' || (s[i] == '.' && s[i + 1] != '.')))
            return 0;
    return 1;
}

int mql_freemail_valid(const char *arg)
{
    size_t n = arg ? strlen(arg) : 0;

    if (n > 2 && !strcmp(arg + n - 2, ".*"))
        return domain_chars(arg, n - 2);
    return domain_chars(arg, n) && strchr(arg, '.') != NULL;
}

static int pattern_match(const char *pat, const char *domain)
{
    size_t n = strlen(pat);

    if (n > 2 && !strcmp(pat + n - 2, ".*"))
        return !strncasecmp(domain, pat, n - 1) && domain[n - 1] && domain[n - 1] != '.';
    return !strcasecmp(domain, pat);
}

int mql_freemail_match(const apr_array_header_t *extra, const char *domain)
{
    int i;

    if (!domain)
        return 0;
    for (i = 0; mql_freemail_builtin[i]; i++)
        if (pattern_match(mql_freemail_builtin[i], domain))
            return 1;
    for (i = 0; extra && i < extra->nelts; i++)
        if (pattern_match(((const char *const *)extra->elts)[i], domain))
            return 1;
    return 0;
}

/* ------------------------------------------------------------ accounts */

struct mql_accounts {
    apr_pool_t *p;
    apr_hash_t *by_key;             /* "site\tdomain" -> mql_account_t * */
};

mql_accounts_t *mql_accounts_make(apr_pool_t *p)
{
    mql_accounts_t *a = apr_pcalloc(p, sizeof *a);

    a->p = p;
    a->by_key = apr_hash_make(p);
    return a;
}

static const char *key_of(apr_pool_t *p, const char *site, const char *domain)
{
    return apr_pstrcat(p, site, "\t", domain, NULL);
}

static mql_account_t *account_for(mql_accounts_t *a, const char *site, const char *domain)
{
    const char *key = key_of(a->p, site, domain);
    mql_account_t *acc = apr_hash_get(a->by_key, key, APR_HASH_KEY_STRING);

    if (!acc) {
        acc = apr_pcalloc(a->p, sizeof *acc);
        apr_cpystrn(acc->site, site, sizeof acc->site);
        apr_cpystrn(acc->domain, domain, sizeof acc->domain);
        apr_hash_set(a->by_key, key, APR_HASH_KEY_STRING, acc);
    }
    return acc;
}

int mql_accounts_add(mql_accounts_t *a, const apr_array_header_t *freemail, const char *site,
                     const char *contact, const mql_visitor_t *v, double score_now)
{
    const char *at = mql_contact_domain(contact);
    char domain[MQL_DOMAIN_LEN];
    mql_account_t *acc;
    size_t i;

    if (!at)
        return 0;
    /* a contact kept before contacts were normalised (a snapshot's, a
     * DBM record's) may still have capitals */
    for (i = 0; at[i] && i < sizeof domain - 1; i++)
        domain[i] = (char)apr_tolower((unsigned char)at[i]);
    domain[i] = '\0';
    if (mql_freemail_match(freemail, domain))
        return 0;
    acc = account_for(a, site ? site : "", domain);
    acc->people++;
    if (score_now >= 1.0) {
        acc->engaged++;
        acc->score += score_now;
    }
    if (MQL_STAGE_IS_LEAD(v->stage))
        acc->leads++;
    if (!acc->first_seen || (v->first_seen && v->first_seen < acc->first_seen))
        acc->first_seen = v->first_seen;
    if (v->last_seen > acc->last_seen)
        acc->last_seen = v->last_seen;
    return 1;
}

static int account_order(const void *x, const void *y)
{
    const mql_account_t *a = *(const mql_account_t *const *)x;
    const mql_account_t *b = *(const mql_account_t *const *)y;
    int c;

    if (a->leads != b->leads)
        return a->leads > b->leads ? -1 : 1;
    if (!a->announced != !b->announced)
        return a->announced ? -1 : 1;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->people != b->people)
        return a->people > b->people ? -1 : 1;
    if ((c = strcmp(a->domain, b->domain)) != 0)
        return c;
    return strcmp(a->site, b->site);
}

apr_array_header_t *mql_accounts_finish(mql_accounts_t *a, const apr_array_header_t *prev,
                                        uint32_t people_min, double score_min, int max,
                                        uint32_t now, apr_array_header_t **fresh,
                                        uint32_t *dropped, apr_pool_t *p)
{
    apr_array_header_t *all = apr_array_make(p, (int)apr_hash_count(a->by_key) + 1,
                                             sizeof(mql_account_t *));
    apr_array_header_t *out = apr_array_make(p, 16, sizeof(mql_account_t));
    apr_hash_index_t *hi;
    mql_account_t **sorted;
    int i, n;

    if (fresh)
        *fresh = apr_array_make(p, 2, sizeof(mql_account_t));
    /* the marks of the last table: announced once, for good */
    for (i = 0; prev && i < prev->nelts; i++) {
        const mql_account_t *old = &((const mql_account_t *)prev->elts)[i];
        const char *key;
        mql_account_t *acc;

        if (!old->announced)
            continue;
        key = key_of(a->p, old->site, old->domain);
        if (!(acc = apr_hash_get(a->by_key, key, APR_HASH_KEY_STRING))) {
            acc = account_for(a, old->site, old->domain);
            acc->first_seen = old->first_seen;
            acc->last_seen = old->last_seen;
        }
        acc->announced = old->announced;
    }
    for (hi = apr_hash_first(p, a->by_key); hi; hi = apr_hash_next(hi)) {
        mql_account_t *acc = apr_hash_this_val(hi);

        if (people_min && !acc->announced && acc->engaged >= people_min
            && acc->score >= score_min) {
            acc->announced = now ? now : 1;
            if (fresh)
                *(mql_account_t *)apr_array_push(*fresh) = *acc;
        }
        *(mql_account_t **)apr_array_push(all) = acc;
    }
    sorted = (mql_account_t **)all->elts;
    if (all->nelts > 1)
        qsort(sorted, (size_t)all->nelts, sizeof *sorted, account_order);
    n = max < 0 ? 0 : all->nelts < max ? all->nelts : max;
    for (i = 0; i < n; i++)
        *(mql_account_t *)apr_array_push(out) = *sorted[i];
    if (dropped)
        *dropped = (uint32_t)(all->nelts - n);
    return out;
}

static const char *jstr(apr_pool_t *p, const char *s)
{
    return mql_json_str(p, s, 0);
}

const char *mql_account_json(apr_pool_t *p, const mql_account_t *a, uint32_t now)
{
    return apr_psprintf(p, "{\"type\":\"account\",\"time\":%u,\"site\":%s,\"domain\":%s,"
                        "\"people\":%u,\"engaged\":%u,\"leads\":%u,\"score\":%.0f,"
                        "\"first_seen\":%u,\"last_seen\":%u}",
                        now, jstr(p, a->site), jstr(p, a->domain), a->people, a->engaged,
                        a->leads, a->score, a->first_seen, a->last_seen);
}

/* ------------------------------------------------------- the accounts file */

#define FILE_MAGIC "mod_mql accounts 1"

/* a site's name in a line: no tab or line break can split it */
static const char *field_safe(apr_pool_t *p, const char *s)
{
    char *c = apr_pstrdup(p, s), *q;

    for (q = c; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
    return c;
}

const char *mql_accounts_format(apr_pool_t *p, const apr_array_header_t *accounts,
                                uint32_t now, uint32_t dropped)
{
    apr_array_header_t *parts = apr_array_make(p, accounts->nelts + 1, sizeof(char *));
    int i;

    *(const char **)apr_array_push(parts) =
        apr_psprintf(p, FILE_MAGIC "\tmade=%u\tdropped=%u\n", now, dropped);
    for (i = 0; i < accounts->nelts; i++) {
        const mql_account_t *a = &((const mql_account_t *)accounts->elts)[i];

        *(const char **)apr_array_push(parts) =
            apr_psprintf(p, "%s\t%s\t%u\t%u\t%u\t%.3f\t%u\t%u\t%u\n", field_safe(p, a->site),
                         field_safe(p, a->domain), a->people, a->engaged, a->leads, a->score,
                         a->first_seen, a->last_seen, a->announced);
    }
    return apr_array_pstrcat(p, parts, 0);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v;

    if (!apr_isdigit(*s))
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end || errno || v > 0xffffffffULL)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

static int parse_line(char *line, mql_account_t *a)
{
    char *f[9], *last;
    char *end;
    int n;

    memset(a, 0, sizeof *a);
    for (n = 0, f[0] = line; n < 9; n++) {
        if (n)
            f[n] = last + 1;
        if (n < 8 && !(last = strchr(f[n], '\t')))
            return 0;
        if (n < 8)
            *last = '\0';
    }
    if (strchr(f[8], '\t') || strlen(f[0]) >= sizeof a->site
        || !domain_chars(f[1], strlen(f[1])))
        return 0;
    strcpy(a->site, f[0]);
    strcpy(a->domain, f[1]);
    if (!parse_u32(f[2], &a->people) || !parse_u32(f[3], &a->engaged)
        || !parse_u32(f[4], &a->leads) || !parse_u32(f[6], &a->first_seen)
        || !parse_u32(f[7], &a->last_seen) || !parse_u32(f[8], &a->announced))
        return 0;
    errno = 0;
    a->score = strtod(f[5], &end);
    return !*end && end != f[5] && !errno && a->score >= 0 && a->score < 1e15;
}

apr_array_header_t *mql_accounts_parse(apr_pool_t *p, const char *text, uint32_t *made,
                                       uint32_t *dropped, int *bad)
{
    apr_array_header_t *out = apr_array_make(p, 16, sizeof(mql_account_t));
    char *copy = apr_pstrdup(p, text ? text : ""), *line, *state;
    int first = 1;

    if (made)
        *made = 0;
    if (dropped)
        *dropped = 0;
    if (bad)
        *bad = 0;
    for (line = apr_strtok(copy, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
        mql_account_t a;

        if (first && !strncmp(line, FILE_MAGIC, sizeof FILE_MAGIC - 1)) {
            const char *m = strstr(line, "\tmade="), *d = strstr(line, "\tdropped=");

            if (m && made)
                *made = (uint32_t)strtoul(m + 6, NULL, 10);
            if (d && dropped)
                *dropped = (uint32_t)strtoul(d + 9, NULL, 10);
            first = 0;
            continue;
        }
        first = 0;
        if (parse_line(line, &a))
            *(mql_account_t *)apr_array_push(out) = a;
        else if (bad)
            (*bad)++;
    }
    return out;
}

apr_status_t mql_accounts_read(apr_pool_t *p, const char *path, const char **text)
{
    struct stat sb;
    char *buf;
    size_t got = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    *text = NULL;
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? APR_ENOENT
               : errno == ELOOP ? APR_EGENERAL : APR_FROM_OS_ERROR(errno);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1
        || sb.st_size > MQL_ACCOUNTS_FILE_MAX) {
        close(fd);
        return APR_EGENERAL;
    }
    buf = apr_palloc(p, (apr_size_t)sb.st_size + 1);
    while (got < (size_t)sb.st_size
           && ((n = read(fd, buf + got, (size_t)sb.st_size - got)) > 0
               || (n < 0 && errno == EINTR)))
        if (n > 0)
            got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    *text = buf;
    return APR_SUCCESS;
}

apr_status_t mql_accounts_write(apr_pool_t *p, const char *path, const char *text)
{
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);
    size_t len = strlen(text), done = 0;
    ssize_t n;
    int fd, rc = 0;

    unlink(tmp);                    /* a new file, never one put in its place */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return APR_FROM_OS_ERROR(errno);
    while (done < len && ((n = write(fd, text + done, len - done)) > 0
                          || (n < 0 && errno == EINTR)))
        if (n > 0)
            done += (size_t)n;
    if (done < len)
        rc = errno ? errno : EIO;
    if (close(fd) != 0 && !rc)
        rc = errno;
    if (!rc && rename(tmp, path) != 0)
        rc = errno;
    if (rc) {
        unlink(tmp);
        return APR_FROM_OS_ERROR(rc);
    }
    return APR_SUCCESS;
}
