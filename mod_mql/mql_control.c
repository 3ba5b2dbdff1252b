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
 * The control protocol between mqlctl and a running server (see
 * mql_control.h): both sides format and parse it here.
 */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "mql_control.h"
#include "mql_cookie.h"
#include "mql_record.h"

const char *mql_control_format(apr_pool_t *p, mql_control_verb_t verb, const char *id_text,
                               mql_stage_t stage)
{
    if (verb == MQL_CONTROL_FORGET)
        return apr_psprintf(p, "forget %s\n", id_text);
    return apr_psprintf(p, "set %s %s\n", id_text, mql_stage_name(stage));
}

const char *mql_control_format_reject(apr_pool_t *p, const char *id_text, const char *reason)
{
    return apr_psprintf(p, "set %s %s %s\n", id_text, mql_stage_name(MQL_STAGE_REJECTED),
                        mql_pct_encode(p, reason));
}

const char *mql_control_format_adjust(apr_pool_t *p, const char *id_text, int points,
                                      const char *reason)
{
    /* percent-encoded: one word on the line, whatever the reason holds */
    return apr_psprintf(p, "adjust %s %+d %s\n", id_text, points, mql_pct_encode(p, reason));
}

const char *mql_adjust_points(const char *s, int *points)
{
    static const char expects[] = "an integer from -1000 to +1000 other than 0, such as +20 "
                                  "or -5";
    const char *d = s && (*s == '+' || *s == '-') ? s + 1 : s;
    long n = 0;

    _Static_assert(MQL_ADJUST_MAX == 1000, "the message above says 1000");
    if (!d || !*d || strlen(d) > 4)
        return expects;
    for (; *d; d++) {
        if (!apr_isdigit(*d))
            return expects;
        n = n * 10 + (*d - '0');
    }
    if (n == 0 || n > MQL_ADJUST_MAX)
        return expects;
    *points = (int)(*s == '-' ? -n : n);
    return NULL;
}

const char *mql_adjust_reason(const char *reason)
{
    const unsigned char *c;

    _Static_assert(MQL_REASON_MAX == 120, "the message below says 120");
    if (!reason || !*reason || strlen(reason) > MQL_REASON_MAX)
        return "a reason of 1 to 120 bytes, such as \"trade show\"";
    /* no line breaks, escapes or terminal controls into the story */
    for (c = (const unsigned char *)reason; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return "a reason without control characters (tabs, line breaks, escapes)";
    return NULL;
}

int mql_control_parse(apr_pool_t *p, const char *text, mql_control_t *out,
                      const char **verb_seen)
{
    char *line = apr_pstrdup(p, text), *last, *verb, *idtext, *arg, *extra;
    int stage;

    memset(out, 0, sizeof *out);
    line[strcspn(line, "\r\n")] = '\0';
    /* apr_strtok leaves last unset when the line holds no word, and the
     * calls after it would read it */
    last = line;
    verb = apr_strtok(line, " \t", &last);
    idtext = apr_strtok(NULL, " \t", &last);
    arg = apr_strtok(NULL, " \t", &last);
    extra = apr_strtok(NULL, " \t", &last);
    if (verb_seen)
        *verb_seen = verb ? verb : "";
    if (!verb || !idtext || !mql_id_from_text(idtext, strlen(idtext), out->id))
        return MQL_CONTROL_MALFORMED;
    out->id_text = idtext;
    if (!strcmp(verb, "forget") && !arg) {
        out->verb = MQL_CONTROL_FORGET;
        return MQL_CONTROL_OK;
    }
    if (!strcmp(verb, "set") && arg && !extra
        && (stage = mql_stage_from_name(arg)) > MQL_STAGE_VISITOR) {
        out->verb = MQL_CONTROL_SET;
        out->stage = (mql_stage_t)stage;
        return MQL_CONTROL_OK;
    }
    /* a rejection with its reason */
    if (!strcmp(verb, "set") && arg && extra
        && mql_stage_from_name(arg) == MQL_STAGE_REJECTED) {
        char *reason = mql_pct_decode(p, extra, strlen(extra));

        if (apr_strtok(NULL, " \t", &last) || !reason || mql_adjust_reason(reason))
            return MQL_CONTROL_MALFORMED;
        out->verb = MQL_CONTROL_SET;
        out->stage = MQL_STAGE_REJECTED;
        out->reason = reason;
        return MQL_CONTROL_OK;
    }
    if (!strcmp(verb, "adjust") && arg) {
        char *reason = extra ? mql_pct_decode(p, extra, strlen(extra)) : NULL;

        /* the directory is the server user's: the line is checked as
         * mqlctl checks what it is given */
        if (apr_strtok(NULL, " \t", &last) || mql_adjust_points(arg, &out->points)
            || !reason || mql_adjust_reason(reason))
            return MQL_CONTROL_MALFORMED;
        out->verb = MQL_CONTROL_ADJUST;
        out->reason = reason;
        return MQL_CONTROL_OK;
    }
    return MQL_CONTROL_UNKNOWN;
}

const char *mql_control_temp_name(apr_pool_t *p, long pid, uint32_t rnd)
{
    return apr_psprintf(p, ".tmp.%ld.%08x", pid, (unsigned)rnd);
}

const char *mql_control_request_name(apr_pool_t *p, apr_time_t now, long pid, uint32_t rnd)
{
    return apr_psprintf(p, "%016" APR_UINT64_T_HEX_FMT "-%ld-%08x.req", (apr_uint64_t)now, pid,
                        (unsigned)rnd);
}

int mql_control_is_request(const char *name)
{
    size_t n = strlen(name);

    return name[0] != '.' && n > 4 && !strcmp(name + n - 4, ".req");
}

const char *mql_status_format(apr_pool_t *p, int running, long server, long pid,
                              uint32_t now, const mql_status_counter_t *counters)
{
    char *text = apr_psprintf(p, "running=%d\nserver=%ld\npid=%ld\ntime=%u\n", running, server,
                              pid, now);

    for (; counters && counters->name; counters++)
        text = apr_psprintf(p, "%s%s=%" APR_UINT64_T_FMT "\n", text, counters->name,
                            counters->value);
    return text;
}

int mql_status_line(apr_pool_t *p, const char *line, const char **name, const char **value)
{
    const char *eq = strchr(line, '=');
    size_t n;

    if (!eq || eq == line)
        return 0;
    *name = apr_pstrndup(p, line, (apr_size_t)(eq - line));
    n = strcspn(eq + 1, "\r\n");
    *value = apr_pstrndup(p, eq + 1, n);
    return 1;
}

/* ---- MQLStateDir/sites ---------------------------------------------- */

#define SITES_HEADER "# the sites of mod_mql (mqlctl --site NAME): NAME<TAB>TYPE<TAB>FILE\n"

/* A field with what would end it (a tab, a line's end) and what would
 * look like an escape written %XX. */
static const char *sites_field(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *q;
    char *out, *o;

    if (!s)
        s = "";
    out = o = apr_palloc(p, strlen(s) * 3 + 1);
    for (q = (const unsigned char *)s; *q; q++) {
        if (*q < 0x20 || *q == 0x7f || *q == '%') {
            *o++ = '%';
            *o++ = hex[*q >> 4];
            *o++ = hex[*q & 15];
        }
        else
            *o++ = (char)*q;
    }
    *o = '\0';
    return out;
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (apr_tolower(c) - 'a' + 10);
}

/* A field read back; NULL when an escape is broken or names a NUL byte
 * (which would cut the name short). */
static const char *sites_unfield(apr_pool_t *p, const char *s, size_t n)
{
    char *out = apr_palloc(p, n + 1), *o = out, c;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n || !apr_isxdigit(s[i + 1]) || !apr_isxdigit(s[i + 2]))
            return NULL;
        c = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
        if (!c)
            return NULL;
        *o++ = c;
        i += 2;
    }
    *o = '\0';
    return out;
}

const char *mql_sites_format(apr_pool_t *p, const mql_site_entry_t *sites, int n)
{
    char *text = apr_pstrdup(p, SITES_HEADER);
    int i;

    for (i = 0; i < n; i++)
        text = apr_pstrcat(p, text, sites_field(p, sites[i].name), "\t",
                           sites_field(p, sites[i].type), "\t", sites_field(p, sites[i].file),
                           "\n", NULL);
    return text;
}

/* 1 a site, 0 a comment or an empty line, -1 anything else */
static int sites_line(apr_pool_t *p, const char *line, size_t n, mql_site_entry_t *out)
{
    const char *t1, *t2;

    if (n && line[n - 1] == '\r')
        n--;
    if (!n || line[0] == '#')
        return 0;
    t1 = memchr(line, '\t', n);
    t2 = t1 ? memchr(t1 + 1, '\t', n - (size_t)(t1 + 1 - line)) : NULL;
    if (!t2 || memchr(t2 + 1, '\t', n - (size_t)(t2 + 1 - line)))
        return -1;
    out->name = sites_unfield(p, line, (size_t)(t1 - line));
    out->type = sites_unfield(p, t1 + 1, (size_t)(t2 - t1 - 1));
    out->file = sites_unfield(p, t2 + 1, n - (size_t)(t2 + 1 - line));
    if (!out->name || !out->type || !out->type[0] || !out->file || !out->file[0])
        return -1;
    return 1;
}

apr_array_header_t *mql_sites_parse(apr_pool_t *p, const char *text, int *bad)
{
    apr_array_header_t *sites = apr_array_make(p, 4, sizeof(mql_site_entry_t));
    int malformed = 0;

    while (text && *text) {
        size_t n = strcspn(text, "\n");
        mql_site_entry_t e;
        int rc = sites_line(p, text, n, &e);

        if (rc > 0)
            *(mql_site_entry_t *)apr_array_push(sites) = e;
        malformed += rc < 0;
        text += n + (text[n] == '\n');
    }
    if (bad)
        *bad = malformed;
    return sites;
}

const mql_site_entry_t *mql_sites_find(const apr_array_header_t *sites, const char *name)
{
    const mql_site_entry_t *e = (const mql_site_entry_t *)sites->elts;
    int i;

    for (i = 0; i < sites->nelts; i++)
        if (!strcasecmp(e[i].name, name))
            return &e[i];
    return NULL;
}
