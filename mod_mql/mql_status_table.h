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
 * The status page's figures described as tables: one row per figure
 * (its HTML id, ?auto name, JSON name, label, type and offset into the
 * struct a section gathers), walked by one emitter per format.  A counter
 * added to a gathered struct is shown everywhere by one row here, the way
 * mod_md's status describes its items once for every format.
 *
 * A section is a table plus the function that fills its struct
 * (mql_status_section_t); a store backend describes its own part of the
 * page that way.  The emitters only read the struct, so the figures are
 * copied out of shared memory before anything is written.
 *
 *   ?auto   "Name: value" lines, in table order (mod_status' format)
 *   ?json   members "name":value, in table order; OPEN/CLOSE rows and
 *           TABLE rows nest objects
 *   HTML    <tr> rows of a key/value table, for rows with a label
 *
 * A row absent from a format has no name for it (NULL).  Where the two
 * interfaces list a figure at different places (kept as 1.0 shipped
 * them), it has one row per place, each naming one format only.
 */
#ifndef MQL_STATUS_TABLE_H
#define MQL_STATUS_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

typedef enum mql_stat_type {
    MQL_STAT_END = 0,           /* ends a table */
    MQL_STAT_U32,               /* uint32_t */
    MQL_STAT_U64,               /* uint64_t */
    MQL_STAT_INT,               /* int */
    MQL_STAT_LONG,              /* long */
    MQL_STAT_I64,               /* int64_t */
    MQL_STAT_PCT,               /* double, one decimal: 12.5 */
    MQL_STAT_RATE,              /* double, four decimals: 0.1250 */
    MQL_STAT_SECS,              /* double, whole: 3600 */
    MQL_STAT_TEXT,              /* char array (NUL-terminated) in the struct */
    MQL_STAT_OPEN,              /* JSON: opens object NAME; elsewhere nothing */
    MQL_STAT_CLOSE,             /* JSON: closes it */
    MQL_STAT_TABLE              /* rows of .sub, their offsets from .offset */
} mql_stat_type_t;

/* Flags of a row */
#define MQL_STAT_NL        0x01 /* JSON: the member starts a line */
#define MQL_STAT_BOOL      0x02 /* a number shown as a flag: true/false, 1/0 */
#define MQL_STAT_NULL_NEG  0x04 /* JSON: null while negative (not known) */
#define MQL_STAT_SKIP_NEG  0x08 /* ?auto: no line while negative */
#define MQL_STAT_WARN      0x10 /* HTML: a warning when not zero */
#define MQL_STAT_GATE      0x20 /* ?auto: the table's lines stop after a zero here */

typedef struct mql_stat_env mql_stat_env_t;
typedef struct mql_stat_row mql_stat_row_t;

/* A row's own rendering of a value (or label) when the type's is not
 * enough; base is the struct the row's offset is from.  A label function
 * returning NULL leaves the row out of the page. */
typedef const char *mql_stat_fn(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                const void *base);

struct mql_stat_row {
    const char *key;            /* HTML id, NULL = not on the page */
    const char *auto_name;      /* ?auto key, NULL = not there */
    const char *json_name;      /* ?json member, NULL = not there */
    const char *label;          /* HTML label */
    mql_stat_type_t type;
    apr_size_t offset;          /* into the struct the walk is given */
    unsigned flags;
    const mql_stat_row_t *sub;  /* MQL_STAT_TABLE */
    /* A vector (count > 0): elements from..count-1 of type; ?auto keys
     * are auto_name + auto_suffix[i], JSON an object of elem_name(i) (both
     * given, indexed from 0); on the page only with an html cell. */
    int from, count;
    const char *const *auto_suffix;
    const char *(*elem_name)(int i);
    /* optional overrides */
    mql_stat_fn *json;          /* the JSON value */
    mql_stat_fn *html;          /* the HTML cell */
    mql_stat_fn *label_fn;      /* a label made of settings, or none */
};

/* A row's six columns; further fields are added by name after it:
 * { MQL_STAT_ROW("errors", "MQLErrors", "errors", "Errors", MQL_STAT_U64,
 *                my_stats_t, errors), .flags = MQL_STAT_WARN } */
#define MQL_STAT_ROW(k, a, j, l, t, type_of_base, field)                        \
    .key = (k), .auto_name = (a), .json_name = (j), .label = (l), .type = (t),  \
    .offset = offsetof(type_of_base, field)

/* What the emitters need besides the struct: the pool, the page's time,
 * and the escapes of the surrounding server (httpd's in the module). */
struct mql_stat_env {
    apr_pool_t *p;
    uint32_t now;
    const char *(*esc_html)(apr_pool_t *p, const char *s);
    const char *(*esc_auto)(apr_pool_t *p, const char *s);
};

/* An environment with APR's escapes (entities for HTML, echo escapes for
 * ?auto): for the tests and mqlctl. */
void mql_stat_env_init(mql_stat_env_t *env, apr_pool_t *p, uint32_t now);

/* The lines, members and rows of a table over the struct at base. */
const char *mql_stat_auto(const mql_stat_env_t *env, const mql_stat_row_t *rows,
                          const void *base);
/* first: no separator before the first member (it opens an object) */
const char *mql_stat_json(const mql_stat_env_t *env, const mql_stat_row_t *rows,
                          const void *base, int first);
const char *mql_stat_html(const mql_stat_env_t *env, const mql_stat_row_t *rows,
                          const void *base);

/* One row of the HTML key/value table, the way mql_stat_html writes it. */
const char *mql_stat_html_row(apr_pool_t *p, const char *label, const char *key,
                              const char *value);

/* The row's value in the struct at base. */
#define MQL_STAT_AT(row, base, type) ((const type *)((const char *)(base) + (row)->offset))

/* 1234567 -> "1,234,567" */
const char *mql_stat_num(apr_pool_t *p, int64_t n);
/* The number, in a warning when not zero. */
const char *mql_stat_warn_num(apr_pool_t *p, uint64_t n);
/* "5s ago", "3m ago", "2h 5m ago", "4d ago"; "never" when negative */
const char *mql_stat_ago(apr_pool_t *p, long secs);

/* Cells the page's sections share: a stage's JSON name and ?auto suffix
 * by index ("mql", "MQL"), and a time (uint32_t) as how long ago, a
 * muted "never" when 0. */
const char *mql_stat_stage_elem(int i);
extern const char *const mql_stat_stage_keys[];
const char *mql_stat_html_when(const mql_stat_env_t *env, const mql_stat_row_t *row,
                               const void *base);

/*
 * A chart's y axis for counts up to max: integer ticks from 0, a step of
 * 1, 2 or 5 times a power of ten, at most nmax ticks (at least 2), the
 * last at or above max (the chart's top).  Each label differs from the
 * others.  Returns how many were written to ticks.
 */
int mql_stat_ticks(uint64_t max, int nmax, uint64_t *ticks);

/* A section of the status page: a table and the function that fills its
 * struct (size bytes, zeroed first) from inst (a store's instance).
 * gather returns 0 when the section has nothing to show: ?json then has
 * NAME: null, ?auto and HTML nothing. */
typedef struct mql_status_section {
    const char *name;           /* its JSON member; its rows join the page's health table */
    const mql_stat_row_t *rows;
    apr_size_t size;
    int (*gather)(void *data, const void *inst, apr_pool_t *p, uint32_t now);
} mql_status_section_t;

#endif
