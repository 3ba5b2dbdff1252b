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
 * The DBM record of a lead: the one format that other programs (mod_rewrite
 * RewriteMap, Perl, Python, mqlctl, CRM imports) read, so it is written in
 * a fixed field order and every value is percent-encoded outside a small
 * safe alphabet.  ';' and '=' never appear raw inside a value.
 *
 * SDBM refuses a key and value larger than 1008 bytes together, so the
 * free-text values are capped before encoding; the worst case (every
 * number at its widest, every text byte escaped) stays under 800 bytes.
 */
#include <math.h>
#include <limits.h>
#include <string.h>
#include <apr_strings.h>
#include "mql_record.h"
#include "mql_parse.h"
#include "mql_touch.h"

/* Raw (pre-encoding) caps: the sizes the shared store itself keeps.
 * A trigger is "EVENT:PATH": the longest event name ("form-error"),
 * the colon and the stored path. */
#define RECORD_CONTACT_MAX (MQL_CONTACT_LEN - 1)
#define RECORD_TRIGGER_MAX (10 + 1 + MQL_TRIGGER_LEN - 1)

static const char *const count_names[MQL_EV_COUNT] = {
    "views", "downloads", "forms", "form_errors", "pixels", "campaigns", "apps"
};

const char *mql_record_count_name(mql_event_t ev)
{
    return (unsigned)ev < MQL_EV_COUNT ? count_names[ev] : NULL;
}

/* ---- percent-encoding ---------------------------------------------- */

static int is_safe(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '.' || c == '_' || c == '~' || c == '/' || c == ':' || c == '+'
        || c == '-';
}


/* Encode the first n bytes of s. */
static char *pct_encode_n(apr_pool_t *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, 3 * n + 1), *o = out;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_safe(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

char *mql_pct_encode(apr_pool_t *p, const char *s)
{
    return pct_encode_n(p, s ? s : "", s ? strlen(s) : 0);
}

/*
 * Decode s[0..len).  Returns NULL when an escape is malformed ("%4",
 * "%G0") or when the text holds a NUL, raw or as %00: a C string could
 * not carry it, and silently cutting the value there would change it.
 */
char *mql_pct_decode(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < len ? mql_hex_value(s[i + 1]) : -1;
            int lo = hi >= 0 ? mql_hex_value(s[i + 2]) : -1;
            if (lo < 0 || (hi | lo) == 0)
                return NULL;
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '\0') {
            return NULL;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static int utf8_continues(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * Length of s cut to at most max bytes without splitting a UTF-8
 * sequence, so a truncated contact still decodes as text.  A sequence is
 * at most 4 bytes, so the cut moves back at most 3; text that is not
 * UTF-8 (a long run of continuation bytes) is cut at max, not emptied.
 */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s), back;

    if (n <= max)
        return n;
    for (back = 0; back < 3 && back < max && utf8_continues(s[max - back]); back++)
        ;
    return utf8_continues(s[max - back]) ? max : max - back;
}

/* ---- encode --------------------------------------------------------- */

/* Fields without a value are left out, a cut one too. */
static void add_text(apr_pool_t *p, char **rec, const char *name, const char *val,
                     size_t max)
{
    size_t n = val ? utf8_cut(val, max) : 0;

    if (n)
        *rec = apr_pstrcat(p, *rec, ";", name, "=", pct_encode_n(p, val, n), NULL);
}

static const char *const attr_names[MQL_ATTR_FIELDS] = {
    "source", "medium", "campaign", "landing",
    "last_source", "last_medium", "last_campaign", "last_landing"
};
/* the touch's fields' bytes, less the NUL */
static const size_t attr_max[4] = {
    MQL_TOUCH_SOURCE - 1, MQL_TOUCH_MEDIUM - 1, MQL_TOUCH_CAMPAIGN - 1, MQL_TOUCH_LANDING - 1
};

const char *mql_record_attr_name(int attr)
{
    return attr >= 0 && attr < MQL_ATTR_FIELDS ? attr_names[attr] : NULL;
}

char *mql_record_encode(apr_pool_t *p, const mql_lead_t *l)
{
    char *rec;
    int ev, i;

    rec = apr_psprintf(p, "stage=%s;score=%ld;since=%lu;last=%lu",
                       mql_pct_encode(p, mql_stage_name(l->stage)), l->score,
                       (unsigned long)l->since, (unsigned long)l->last);
    for (ev = 0; ev < MQL_EV_COUNT; ev++) {
        /* the first three always, so a reader sees a lead's basic figures;
         * the rarer ones only when they happened */
        if (ev <= MQL_EV_FORM || l->counts[ev])
            rec = apr_psprintf(p, "%s;%s=%lu", rec, count_names[ev],
                               (unsigned long)l->counts[ev]);
    }
    add_text(p, &rec, "country", l->country, 2);
    add_text(p, &rec, "trigger", l->trigger, RECORD_TRIGGER_MAX);
    add_text(p, &rec, "contact", l->contact, RECORD_CONTACT_MAX);
    for (i = 0; i < MQL_FIELD_COUNT; i++)
        if (mql_fields[i].lead)
            add_text(p, &rec, mql_fields[i].lead, l->text[i], mql_fields[i].size - 1);
    for (i = 0; i < MQL_ATTR_FIELDS; i++)
        add_text(p, &rec, attr_names[i], l->attr[i], attr_max[i % 4]);
    return rec;
}

/* ---- decode --------------------------------------------------------- */

static int parse_ulong(const char *s, size_t len, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int parse_long(const char *s, size_t len, long *out)
{
    unsigned long mag;
    int neg = len > 0 && s[0] == '-';

    if (neg) {
        s++;
        len--;
    }
    if (!parse_ulong(s, len, neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX,
                     &mag))
        return 0;
    *out = neg ? (long)(0 - mag) : (long)mag;
    return 1;
}

static int parse_u32(const char *s, size_t len, uint32_t *out)
{
    unsigned long v;

    if (!parse_ulong(s, len, UINT32_MAX, &v))
        return 0;
    *out = (uint32_t)v;
    return 1;
}

static int name_is(const char *name, size_t nlen, const char *want)
{
    return strlen(want) == nlen && memcmp(name, want, nlen) == 0;
}

/* One name=value pair; 0 when a known field is malformed. */
static int decode_field(apr_pool_t *p, const char *name, size_t nlen,
                        const char *val, size_t vlen, mql_lead_t *l, int *has_stage)
{
    int ev;

    if (name_is(name, nlen, "stage")) {
        char *st = mql_pct_decode(p, val, vlen);
        l->stage = st ? mql_stage_from_name(st) : -1;
        *has_stage = 1;
        return l->stage >= 0;
    }
    if (name_is(name, nlen, "score"))
        return parse_long(val, vlen, &l->score);
    if (name_is(name, nlen, "since"))
        return parse_u32(val, vlen, &l->since);
    if (name_is(name, nlen, "last"))
        return parse_u32(val, vlen, &l->last);
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        if (name_is(name, nlen, count_names[ev]))
            return parse_u32(val, vlen, &l->counts[ev]);
    if (name_is(name, nlen, "country")) {
        char *cc = mql_pct_decode(p, val, vlen);
        if (!cc || strlen(cc) != 2)
            return 0;
        memcpy(l->country, cc, 3);
        return 1;
    }
    if (name_is(name, nlen, "trigger"))
        return (l->trigger = mql_pct_decode(p, val, vlen)) != NULL;
    if (name_is(name, nlen, "contact"))
        return (l->contact = mql_pct_decode(p, val, vlen)) != NULL;
    for (ev = 0; ev < MQL_FIELD_COUNT; ev++)
        if (mql_fields[ev].lead && name_is(name, nlen, mql_fields[ev].lead))
            return (l->text[ev] = mql_pct_decode(p, val, vlen)) != NULL;
    for (ev = 0; ev < MQL_ATTR_FIELDS; ev++)
        if (name_is(name, nlen, attr_names[ev]))
            return (l->attr[ev] = mql_pct_decode(p, val, vlen)) != NULL;
    return 1;   /* a field of a newer writer */
}

int mql_record_decode(apr_pool_t *p, const char *value, size_t len, mql_lead_t *l)
{
    const char *s = value, *end;
    int has_stage = 0;

    memset(l, 0, sizeof *l);
    if (!value)
        return 0;
    /* some writers (and older DBM tools) store the terminating NUL */
    if (len > 0 && value[len - 1] == '\0')
        len--;
    /* any other NUL means a damaged record, whatever field it falls in */
    if (memchr(value, '\0', len))
        return 0;
    end = value + len;
    while (s < end) {
        const char *pe = memchr(s, ';', (size_t)(end - s));
        const char *eq;

        if (!pe)
            pe = end;
        eq = memchr(s, '=', (size_t)(pe - s));
        if (pe > s) {
            if (!eq || eq == s
                || !decode_field(p, s, (size_t)(eq - s), eq + 1, (size_t)(pe - eq - 1), l,
                                 &has_stage))
                return 0;
        }
        s = pe + 1;
    }
    /* every record is a lead: without a stage it says nothing */
    return has_stage;
}

/* ---- from the store ------------------------------------------------- */

/* Score at now, halving every half_life seconds since last_seen. */
static double decayed_score(const mql_visitor_t *v, uint32_t now, uint32_t half_life)
{
    if (half_life == 0 || now <= v->last_seen)
        return v->score;
    return v->score * pow(0.5, (double)(now - v->last_seen) / half_life);
}

static long round_to_long(double d)
{
    if (d != d)
        return 0;
    if (d >= (double)LONG_MAX)
        return LONG_MAX;
    if (d <= (double)LONG_MIN)
        return LONG_MIN;
    return lround(d);
}

/* A touch ID of the record as its strings, from the process's dictionary
 * (mql_touch.h); a lead holds the entries it reads, so that no flood of
 * new touches takes their place.  An ID the dictionary lost, or one no
 * process here has seen, is "other". */
static void attr_from_touch(const char **attr, const char id[MQL_TOUCH_ID_LEN], int lead,
                            apr_pool_t *p)
{
    char text[MQL_TOUCH_ID_LEN];
    mql_touch_dict_t *d = mql_touch_dict_current();
    mql_touch_t t;

    memcpy(text, id, MQL_TOUCH_ID_LEN);
    text[MQL_TOUCH_ID_LEN - 1] = '\0';
    if (!text[0] || !d)
        return;
    if (!mql_touch_dict_get(d, text, &t)) {
        attr[0] = attr[1] = attr[2] = MQL_TOUCH_OTHER;
        return;
    }
    if (lead)
        mql_touch_dict_hold(d, text);
    attr[0] = apr_pstrdup(p, t.source);
    attr[1] = apr_pstrdup(p, t.medium);
    attr[2] = t.campaign[0] ? apr_pstrdup(p, t.campaign) : NULL;
    attr[3] = t.landing[0] ? apr_pstrdup(p, t.landing) : NULL;
}

void mql_lead_from_visitor(mql_lead_t *l, const mql_visitor_t *v, const char *contact,
                           uint32_t now, uint32_t half_life, apr_pool_t *p)
{
    int ev;

    memset(l, 0, sizeof *l);
    l->stage = v->stage;
    l->score = round_to_long(decayed_score(v, now, half_life));
    l->since = v->stage_since;
    l->last = v->last_seen;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        l->counts[ev] = v->counts[ev];
    /* "--" marks a lookup that found no country: nothing to record */
    if (v->country[0] && v->country[1] && memcmp(v->country, "--", 2) != 0) {
        l->country[0] = v->country[0];
        l->country[1] = v->country[1];
    }
    /* the stored path need not be NUL-terminated when it filled the field */
    if (v->trigger[0])
        l->trigger = apr_psprintf(p, "%s:%.*s", mql_event_name(v->trigger_event),
                                  (int)strnlen(v->trigger, MQL_TRIGGER_LEN), v->trigger);
    if (contact && *contact)
        l->contact = apr_pstrndup(p, contact, RECORD_CONTACT_MAX);
    for (ev = 0; ev < MQL_FIELD_COUNT; ev++) {
        const mql_field_t *f = &mql_fields[ev];
        const char *at = (const char *)v + f->offset;
        if (f->lead && f->type == MQL_FT_TEXT && *at)
            l->text[ev] = apr_pstrndup(p, at, f->size - 1);
    }
    attr_from_touch(l->attr, v->first_touch, MQL_STAGE_IS_LEAD(v->stage), p);
    attr_from_touch(l->attr + 4, v->last_touch, MQL_STAGE_IS_LEAD(v->stage), p);
}

void mql_lead_to_visitor(const mql_lead_t *l, const uint8_t id[MQL_ID_BYTES],
                         mql_visitor_t *v)
{
    const char *path;
    int ev;

    memset(v, 0, sizeof *v);
    memcpy(v->id, id, MQL_ID_BYTES);
    v->stage = (uint8_t)l->stage;
    v->score = (double)l->score;
    v->stage_since = v->first_seen = l->since;
    v->last_seen = l->last >= l->since ? l->last : l->since;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        v->counts[ev] = (uint16_t)(l->counts[ev] > UINT16_MAX ? UINT16_MAX : l->counts[ev]);
    if (l->country[0]) {
        memcpy(v->country, l->country, 2);
        /* the fit points of that country were granted when it was found */
        v->flags = MQL_VF_COUNTRY | MQL_VF_FIT;
    }
    if (l->trigger && (path = strchr(l->trigger, ':'))) {
        char name[16];
        size_t n = (size_t)(path - l->trigger);

        if (n < sizeof name) {
            memcpy(name, l->trigger, n);
            name[n] = '\0';
            ev = mql_event_from_name(name);
            v->trigger_event = (uint8_t)(ev < 0 ? 0 : ev);
        }
        apr_cpystrn(v->trigger, path + 1, sizeof v->trigger);
    }
    for (ev = 0; ev < MQL_FIELD_COUNT; ev++)
        if (mql_fields[ev].lead && mql_fields[ev].type == MQL_FT_TEXT && l->text[ev])
            apr_cpystrn((char *)v + mql_fields[ev].offset, l->text[ev], mql_fields[ev].size);
}

/* ---- keeping what the file held ------------------------------------ */

static int has_field(const char *value, const char *name)
{
    size_t n = strlen(name);
    const char *f;

    /* names and '=' never occur inside a value: they are percent-encoded */
    for (f = value; (f = strstr(f, name)) != NULL; f += n)
        if ((f == value || f[-1] == ';') && f[n] == '=')
            return 1;
    return 0;
}

int mql_record_whole(const char *value)
{
    int i;

    for (i = 0; i < MQL_FIELD_COUNT; i++)
        if (mql_fields[i].lead && !has_field(value, mql_fields[i].lead))
            return 0;
    /* a touch always has a source: its other strings may be empty; one
     * the dictionary lost ("other") may be the file's better */
    if (!has_field(value, attr_names[MQL_ATTR_SOURCE])
        || !has_field(value, attr_names[MQL_ATTR_LAST_SOURCE])
        || strstr(value, "source=" MQL_TOUCH_OTHER ";"))
        return 0;
    return has_field(value, "contact") && has_field(value, "country")
           && has_field(value, "trigger");
}

const char *mql_record_keep(apr_pool_t *p, const char *value, const char *old, size_t old_len)
{
    mql_lead_t now, was;
    int kept = 0, i;

    if (!value || !old || mql_record_whole(value)
        || !mql_record_decode(p, value, strlen(value), &now)
        || !mql_record_decode(p, old, old_len, &was))
        return value;
    if ((!now.contact || !*now.contact) && was.contact && *was.contact) {
        now.contact = was.contact;
        kept = 1;
    }
    if (!now.country[0] && was.country[0]) {
        memcpy(now.country, was.country, sizeof now.country);
        kept = 1;
    }
    if ((!now.trigger || !*now.trigger) && was.trigger && *was.trigger) {
        now.trigger = was.trigger;
        kept = 1;
    }
    for (i = 0; i < MQL_FIELD_COUNT; i++)
        if (!now.text[i] && was.text[i]) {
            now.text[i] = was.text[i];
            kept = 1;
        }
    /* a first touch the dictionary lost ("other") or never had: the
     * file's strings are the better ones */
    for (i = 0; i < MQL_ATTR_FIELDS; i++)
        if ((!now.attr[i] || !strcmp(now.attr[i], MQL_TOUCH_OTHER)) && was.attr[i]
            && strcmp(was.attr[i], MQL_TOUCH_OTHER)) {
            now.attr[i] = was.attr[i];
            kept = 1;
        }
    return kept ? mql_record_encode(p, &now) : value;
}
