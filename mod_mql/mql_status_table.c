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
 * The status tables' emitters (mql_status_table.h): each walks a table
 * over a gathered struct and writes one format.  Values are formatted
 * here once per type, so a format cannot drift from another.
 */
#include <string.h>

#include <apr_escape.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "mql_json.h"
#include "mql_status_table.h"
#include "mql_types.h"

typedef struct out {
    const mql_stat_env_t *env;
    apr_array_header_t *parts;
} out_t;

static void put(out_t *o, const char *s)
{
    *(const char **)apr_array_push(o->parts) = s;
}

static void out_init(out_t *o, const mql_stat_env_t *env)
{
    o->env = env;
    o->parts = apr_array_make(env->p, 64, sizeof(const char *));
}

static const char *out_text(out_t *o)
{
    return apr_array_pstrcat(o->env->p, o->parts, 0);
}

/* ---------------------------------------------------------- values */

typedef struct value {
    int is_float, is_signed;
    uint64_t u;
    int64_t i;
    double d;
} value_t;

static value_t read_value(mql_stat_type_t type, const void *at)
{
    value_t v = { 0 };

    switch (type) {
    case MQL_STAT_U32:
        v.u = *(const uint32_t *)at;
        break;
    case MQL_STAT_U64:
        v.u = *(const uint64_t *)at;
        break;
    case MQL_STAT_INT:
        v.is_signed = 1;
        v.i = *(const int *)at;
        break;
    case MQL_STAT_LONG:
        v.is_signed = 1;
        v.i = *(const long *)at;
        break;
    case MQL_STAT_I64:
        v.is_signed = 1;
        v.i = *(const int64_t *)at;
        break;
    case MQL_STAT_PCT:
    case MQL_STAT_RATE:
    case MQL_STAT_SECS:
        v.is_float = 1;
        v.d = *(const double *)at;
        break;
    default:
        break;
    }
    return v;
}

static int is_negative(const value_t *v)
{
    return v->is_float ? v->d < 0 : v->is_signed && v->i < 0;
}

static int is_zero(const value_t *v)
{
    return v->is_float ? v->d == 0 : v->is_signed ? v->i == 0 : v->u == 0;
}

/* The number as ?auto and ?json write it. */
static const char *plain(apr_pool_t *p, mql_stat_type_t type, const value_t *v)
{
    switch (type) {
    case MQL_STAT_PCT:
        return apr_psprintf(p, "%.1f", v->d);
    case MQL_STAT_RATE:
        return apr_psprintf(p, "%.4f", v->d);
    case MQL_STAT_SECS:
        return apr_psprintf(p, "%.0f", v->d);
    default:
        return v->is_signed ? apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)v->i)
                            : apr_psprintf(p, "%" APR_UINT64_T_FMT, (apr_uint64_t)v->u);
    }
}

static const void *at(const void *base, const mql_stat_row_t *row)
{
    return (const char *)base + row->offset;
}

/* Size of one element of a vector. */
static apr_size_t elem_size(mql_stat_type_t type)
{
    switch (type) {
    case MQL_STAT_U32:
        return sizeof(uint32_t);
    case MQL_STAT_INT:
        return sizeof(int);
    case MQL_STAT_LONG:
        return sizeof(long);
    case MQL_STAT_U64:
    case MQL_STAT_I64:
        return sizeof(uint64_t);
    default:
        return sizeof(double);
    }
}

static const void *elem_at(const void *base, const mql_stat_row_t *row, int i)
{
    return (const char *)at(base, row) + (apr_size_t)i * elem_size(row->type);
}

/* ---------------------------------------------------------- ?auto */

static void auto_line(out_t *o, const char *name, const char *value)
{
    put(o, apr_pstrcat(o->env->p, name, ": ", value, "\n", NULL));
}

static void auto_walk(out_t *o, const mql_stat_row_t *rows, const void *base)
{
    apr_pool_t *p = o->env->p;
    const mql_stat_row_t *row;

    for (row = rows; row->type != MQL_STAT_END; row++) {
        value_t v;

        if (row->type == MQL_STAT_TABLE) {
            auto_walk(o, row->sub, at(base, row));
            continue;
        }
        if (!row->auto_name || row->type == MQL_STAT_OPEN || row->type == MQL_STAT_CLOSE)
            continue;
        if (row->count) {
            int i;

            for (i = row->from; i < row->count; i++) {
                v = read_value(row->type, elem_at(base, row, i));
                auto_line(o, apr_pstrcat(p, row->auto_name, row->auto_suffix[i], NULL),
                          plain(p, row->type, &v));
            }
            continue;
        }
        if (row->type == MQL_STAT_TEXT) {
            auto_line(o, row->auto_name, o->env->esc_auto(p, at(base, row)));
            continue;
        }
        v = read_value(row->type, at(base, row));
        if ((row->flags & MQL_STAT_SKIP_NEG) && is_negative(&v))
            continue;
        auto_line(o, row->auto_name, (row->flags & MQL_STAT_BOOL) ? (is_zero(&v) ? "0" : "1")
                                                                   : plain(p, row->type, &v));
        if ((row->flags & MQL_STAT_GATE) && is_zero(&v))
            return;
    }
}

const char *mql_stat_auto(const mql_stat_env_t *env, const mql_stat_row_t *rows,
                          const void *base)
{
    out_t o;

    out_init(&o, env);
    auto_walk(&o, rows, base);
    return out_text(&o);
}

/* ---------------------------------------------------------- ?json */

static const char *json_value(const mql_stat_env_t *env, const mql_stat_row_t *row,
                              const void *base)
{
    value_t v;

    if (row->json)
        return row->json(env, row, base);
    if (row->type == MQL_STAT_TEXT)
        return mql_json_str(env->p, at(base, row), MQL_JSON_HTML_SAFE);
    v = read_value(row->type, at(base, row));
    if ((row->flags & MQL_STAT_NULL_NEG) && is_negative(&v))
        return "null";
    if (row->flags & MQL_STAT_BOOL)
        return is_zero(&v) ? "false" : "true";
    return plain(env->p, row->type, &v);
}

static void json_member(out_t *o, int *first, const mql_stat_row_t *row, const char *value)
{
    const char *sep = *first ? "" : (row->flags & MQL_STAT_NL) ? ",\n" : ",";

    /* names are the tables' own: plain ASCII, nothing to escape */
    put(o, apr_pstrcat(o->env->p, sep, "\"", row->json_name, "\":", value, NULL));
    *first = 0;
}

static void json_walk(out_t *o, const mql_stat_row_t *rows, const void *base, int *first)
{
    apr_pool_t *p = o->env->p;
    const mql_stat_row_t *row;

    for (row = rows; row->type != MQL_STAT_END; row++) {
        if (row->type == MQL_STAT_CLOSE) {
            put(o, "}");
            *first = 0;
            continue;
        }
        if (row->type == MQL_STAT_TABLE && !row->json_name) {
            json_walk(o, row->sub, at(base, row), first);
            continue;
        }
        if (!row->json_name)
            continue;
        if (row->type == MQL_STAT_OPEN) {
            json_member(o, first, row, "{");
            *first = 1;
        }
        else if (row->type == MQL_STAT_TABLE) {
            int inner = 1;

            json_member(o, first, row, "{");
            json_walk(o, row->sub, at(base, row), &inner);
            put(o, "}");
        }
        else if (row->count) {
            int i;

            json_member(o, first, row, "{");
            for (i = row->from; i < row->count; i++) {
                value_t v = read_value(row->type, elem_at(base, row, i));

                put(o, apr_pstrcat(p, i > row->from ? "," : "", "\"", row->elem_name(i), "\":",
                                   plain(p, row->type, &v), NULL));
            }
            put(o, "}");
        }
        else
            json_member(o, first, row, json_value(o->env, row, base));
    }
}

const char *mql_stat_json(const mql_stat_env_t *env, const mql_stat_row_t *rows,
                          const void *base, int first)
{
    out_t o;

    out_init(&o, env);
    json_walk(&o, rows, base, &first);
    return out_text(&o);
}

/* ---------------------------------------------------------- HTML */

const char *mql_stat_num(apr_pool_t *p, int64_t n)
{
    char digits[32], out[48];
    uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    int len, i, o = 0;

    if (n < 0)
        out[o++] = '-';
    len = apr_snprintf(digits, sizeof digits, "%" APR_UINT64_T_FMT, (apr_uint64_t)u);
    for (i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return apr_pstrdup(p, out);
}

const char *mql_stat_warn_num(apr_pool_t *p, uint64_t n)
{
    return n ? apr_psprintf(p, "<span class=\"warn\">%s</span>", mql_stat_num(p, (int64_t)n))
             : "0";
}

const char *mql_stat_ago(apr_pool_t *p, long secs)
{
    if (secs < 0)
        return "never";
    if (secs < 60)
        return apr_psprintf(p, "%lds ago", secs);
    if (secs < 3600)
        return apr_psprintf(p, "%ldm ago", secs / 60);
    if (secs < 172800)
        return apr_psprintf(p, "%ldh %ldm ago", secs / 3600, secs % 3600 / 60);
    return apr_psprintf(p, "%ldd ago", secs / 86400);
}

const char *mql_stat_stage_elem(int i)
{
    return mql_stage_name((mql_stage_t)i);
}

const char *const mql_stat_stage_keys[MQL_STAGE_COUNT] = {
    "Visitor", "MQL", "SQL", "Rejected"
};

const char *mql_stat_html_when(const mql_stat_env_t *env, const mql_stat_row_t *row,
                               const void *base)
{
    uint32_t t = *MQL_STAT_AT(row, base, uint32_t);

    return t ? mql_stat_ago(env->p, (long)env->now - (long)t)
             : "<span class=\"muted\">never</span>";
}

const char *mql_stat_html_row(apr_pool_t *p, const char *label, const char *key,
                              const char *value)
{
    return apr_psprintf(p, "<tr><td>%s</td><td class=\"n\" id=\"%s\">%s</td></tr>\n", label,
                        key ? key : "", value);
}

static const char *html_value(const mql_stat_env_t *env, const mql_stat_row_t *row,
                              const void *base)
{
    value_t v;

    if (row->html)
        return row->html(env, row, base);
    if (row->type == MQL_STAT_TEXT)
        return env->esc_html(env->p, at(base, row));
    v = read_value(row->type, at(base, row));
    if (row->flags & MQL_STAT_BOOL)
        return is_zero(&v) ? "no" : "yes";
    if (v.is_float)
        return plain(env->p, row->type, &v);
    if ((row->flags & MQL_STAT_WARN) && !is_negative(&v))
        return mql_stat_warn_num(env->p, v.is_signed ? (uint64_t)v.i : v.u);
    return mql_stat_num(env->p, v.is_signed ? v.i : (int64_t)v.u);
}

static void html_walk(out_t *o, const mql_stat_row_t *rows, const void *base)
{
    const mql_stat_row_t *row;

    for (row = rows; row->type != MQL_STAT_END; row++) {
        const char *label;

        if (row->type == MQL_STAT_TABLE) {
            html_walk(o, row->sub, at(base, row));
            continue;
        }
        label = row->label_fn ? row->label_fn(o->env, row, base) : row->label;
        if (!label || row->type == MQL_STAT_OPEN || row->type == MQL_STAT_CLOSE
            || (row->count && !row->html))
            continue;
        put(o, mql_stat_html_row(o->env->p, label, row->key, html_value(o->env, row, base)));
    }
}

const char *mql_stat_html(const mql_stat_env_t *env, const mql_stat_row_t *rows,
                          const void *base)
{
    out_t o;

    out_init(&o, env);
    html_walk(&o, rows, base);
    return out_text(&o);
}

/* ---------------------------------------------------------- the rest */

static const char *apr_html(apr_pool_t *p, const char *s)
{
    return apr_pescape_entity(p, s, 0);
}

static const char *apr_echo(apr_pool_t *p, const char *s)
{
    return apr_pescape_echo(p, s, 1);
}

void mql_stat_env_init(mql_stat_env_t *env, apr_pool_t *p, uint32_t now)
{
    env->p = p;
    env->now = now;
    env->esc_html = apr_html;
    env->esc_auto = apr_echo;
}

int mql_stat_ticks(uint64_t max, int nmax, uint64_t *ticks)
{
    static const uint64_t mult[] = { 1, 2, 5 };
    uint64_t step = 1, pow10 = 1, steps;
    int n, k = 0;

    if (nmax < 2)
        nmax = 2;
    if (max < 1)
        max = 1;
    /* the smallest of 1, 2, 5, 10, 20, 50... whose ticks reach max */
    for (;;) {
        step = mult[k] * pow10;
        steps = max / step + (max % step != 0);
        if (steps < (uint64_t)nmax)
            break;
        if (++k == 3) {
            k = 0;
            if (pow10 > UINT64_MAX / 10 / 5)
                break;
            pow10 *= 10;
        }
    }
    n = steps >= (uint64_t)nmax ? nmax : (int)steps + 1;
    for (k = 0; k < n; k++)
        ticks[k] = step * (uint64_t)k;
    return n;
}
