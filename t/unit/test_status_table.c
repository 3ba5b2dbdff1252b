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

/* The status tables' emitters (mql_status_table.c): one table, three
 * formats, and the charts' y axes. */
#include "tap.h"
#include <stddef.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "mql_status_table.h"

static apr_pool_t *pool;

typedef struct inner {
    uint64_t sent;
    uint32_t pid;
} inner_t;

typedef struct data {
    uint32_t used;
    double pct;
    long age;
    double rate;
    uint64_t errors;
    uint32_t stages[3];
    char last[16];
    inner_t in;
    int on;
} data_t;

static const char *const suffix[] = { "Zero", "One", "Two" };
static const char *elem(int i)
{
    return suffix[i];
}

static const char *age_html(const mql_stat_env_t *env, const mql_stat_row_t *row,
                            const void *base)
{
    return mql_stat_ago(env->p, *MQL_STAT_AT(row, base, long));
}

static const mql_stat_row_t inner_rows[] = {
    { MQL_STAT_ROW("sent", "XSent", "sent", "Sent", MQL_STAT_U64, inner_t, sent) },
    { MQL_STAT_ROW("pid", "XRunning", "running", NULL, MQL_STAT_U32, inner_t, pid),
      .flags = MQL_STAT_BOOL },
    { 0 }
};

static const mql_stat_row_t rows[] = {
    { .json_name = "box", .type = MQL_STAT_OPEN, .flags = MQL_STAT_NL },
    { MQL_STAT_ROW("used", "XUsed", "used", "Used", MQL_STAT_U32, data_t, used) },
    { MQL_STAT_ROW("pct", "XPct", "pct", NULL, MQL_STAT_PCT, data_t, pct) },
    { .type = MQL_STAT_CLOSE },
    { MQL_STAT_ROW(NULL, "XStage", "stages", NULL, MQL_STAT_U32, data_t, stages),
      .flags = MQL_STAT_NL, .from = 1, .count = 3, .auto_suffix = suffix, .elem_name = elem },
    { MQL_STAT_ROW(NULL, "XAutoOnly", NULL, NULL, MQL_STAT_U32, data_t, used) },
    { MQL_STAT_ROW("age", "XAge", "age", "Age", MQL_STAT_LONG, data_t, age),
      .flags = MQL_STAT_NULL_NEG, .html = age_html },
    { MQL_STAT_ROW(NULL, "XRate", "rate", NULL, MQL_STAT_RATE, data_t, rate),
      .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG },
    { MQL_STAT_ROW("errors", "XErrors", "errors", "Errors", MQL_STAT_U64, data_t, errors),
      .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW("last", "XLast", "last", "Last", MQL_STAT_TEXT, data_t, last) },
    { MQL_STAT_ROW(NULL, NULL, "inner", NULL, MQL_STAT_TABLE, data_t, in), .sub = inner_rows },
    { MQL_STAT_ROW(NULL, "XOn", "on", NULL, MQL_STAT_INT, data_t, on), .flags = MQL_STAT_GATE },
    { MQL_STAT_ROW(NULL, "XAfterGate", NULL, NULL, MQL_STAT_U32, data_t, used) },
    { 0 }
};

static void test_formats(void)
{
    data_t d = { .used = 1234567, .pct = 12.345, .age = -1, .rate = -1, .errors = 0,
                 .stages = { 9, 1, 2 }, .last = "a\"<b>\n", .in = { 42, 0 }, .on = 0 };
    mql_stat_env_t env;

    mql_stat_env_init(&env, pool, 1000);
    is_str(mql_stat_auto(&env, rows, &d),
           "XUsed: 1234567\nXPct: 12.3\nXStageOne: 1\nXStageTwo: 2\nXAutoOnly: 1234567\n"
           "XAge: -1\nXErrors: 0\nXLast: a\\\"<b>\\n\nXSent: 42\nXRunning: 0\nXOn: 0\n",
           "?auto: table order, vectors, bools, skipped negatives, escaped text, the gate");
    is_str(mql_stat_json(&env, rows, &d, 1),
           "\"box\":{\"used\":1234567,\"pct\":12.3},\n\"stages\":{\"One\":1,\"Two\":2},"
           "\"age\":null,\"rate\":null,\"errors\":0,\"last\":\"a\\\"\\u003cb\\u003e\\u000a\","
           "\"inner\":{\"sent\":42,\"running\":false},\"on\":0",
           "?json: objects, new lines, nulls, escaped strings, a nested table");
    is_str(mql_stat_json(&env, rows + 5, &d, 0), ",\"age\":null,\"rate\":null,\"errors\":0,"
           "\"last\":\"a\\\"\\u003cb\\u003e\\u000a\",\"inner\":{\"sent\":42,\"running\":false},"
           "\"on\":0", "?json: members after others get a separator");
    is_str(mql_stat_html(&env, rows, &d),
           "<tr><td>Used</td><td class=\"n\" id=\"used\">1,234,567</td></tr>\n"
           "<tr><td>Age</td><td class=\"n\" id=\"age\">never</td></tr>\n"
           "<tr><td>Errors</td><td class=\"n\" id=\"errors\">0</td></tr>\n"
           "<tr><td>Last</td><td class=\"n\" id=\"last\">a&quot;&lt;b&gt;\n</td></tr>\n"
           "<tr><td>Sent</td><td class=\"n\" id=\"sent\">42</td></tr>\n",
           "HTML: labelled rows only, numbers grouped, text escaped, own cells");

    d.age = 75;
    d.rate = 0.125;
    d.errors = 3;
    d.in.pid = 77;
    d.on = 1;
    is_str(mql_stat_auto(&env, rows + 6, &d),
           "XAge: 75\nXRate: 0.1250\nXErrors: 3\nXLast: a\\\"<b>\\n\nXSent: 42\nXRunning: 1\n"
           "XOn: 1\nXAfterGate: 1234567\n", "?auto: the gate open, values known");
    ok(strstr(mql_stat_json(&env, rows, &d, 1), "\"age\":75,\"rate\":0.1250,\"errors\":3,")
       != NULL, "?json: known values");
    ok(strstr(mql_stat_json(&env, rows, &d, 1), "\"running\":true") != NULL, "?json: true");
    ok(strstr(mql_stat_html(&env, rows, &d), "id=\"errors\"><span class=\"warn\">3</span>")
       != NULL, "HTML: a warning when not zero");
    ok(strstr(mql_stat_html(&env, rows, &d), "id=\"age\">1m ago<") != NULL,
       "HTML: a row's own cell");
}

static void test_num(void)
{
    is_str(mql_stat_num(pool, 0), "0", "num 0");
    is_str(mql_stat_num(pool, 999), "999", "num 999");
    is_str(mql_stat_num(pool, 1000), "1,000", "num 1000");
    is_str(mql_stat_num(pool, -1234567), "-1,234,567", "num negative");
    is_str(mql_stat_num(pool, INT64_MIN), "-9,223,372,036,854,775,808", "num INT64_MIN");
    is_str(mql_stat_ago(pool, -1), "never", "ago: never");
    is_str(mql_stat_ago(pool, 59), "59s ago", "ago: seconds");
    is_str(mql_stat_ago(pool, 7260), "2h 1m ago", "ago: hours");
    is_str(mql_stat_ago(pool, 200000), "2d ago", "ago: days");
}

static const char *ticks_text(uint64_t max, int nmax)
{
    uint64_t t[16];
    int n = mql_stat_ticks(max, nmax, t), i;
    const char *s = "";

    for (i = 0; i < n; i++)
        s = apr_psprintf(pool, "%s%s%" APR_UINT64_T_FMT, s, i ? "," : "", (apr_uint64_t)t[i]);
    return s;
}

static void test_ticks(void)
{
    uint64_t max;

    is_str(ticks_text(0, 5), "0,1", "ticks: nothing counted");
    is_str(ticks_text(1, 5), "0,1", "ticks: max 1");
    is_str(ticks_text(2, 5), "0,1,2", "ticks: max 2");
    is_str(ticks_text(4, 5), "0,1,2,3,4", "ticks: max 4");
    is_str(ticks_text(5, 5), "0,2,4,6", "ticks: max 5");
    is_str(ticks_text(7, 5), "0,2,4,6,8", "ticks: max 7");
    is_str(ticks_text(10, 5), "0,5,10", "ticks: max 10");
    is_str(ticks_text(1234, 5), "0,500,1000,1500", "ticks: max 1234");
    is_str(ticks_text(1000000, 5), "0,500000,1000000", "ticks: max 1000000");
    is_str(ticks_text(3, 1), "0,5", "ticks: two at least");
    /* every max: distinct ascending integer ticks from 0, the last reaching max */
    for (max = 0; max <= 100000; max++) {
        uint64_t t[5];
        int n = mql_stat_ticks(max, 5, t), i, good = n >= 2 && n <= 5 && t[0] == 0
                                                      && t[n - 1] >= max;

        for (i = 1; good && i < n; i++)
            good = t[i] > t[i - 1] && t[i] - t[i - 1] == t[1];
        if (!good) {
            ok(0, "ticks: max %" APR_UINT64_T_FMT " gives %s", (apr_uint64_t)max,
               ticks_text(max, 5));
            return;
        }
    }
    ok(1, "ticks: 0..100000 each distinct, evenly spaced, reaching the maximum");
    ok(mql_stat_ticks(UINT64_MAX, 5, (uint64_t[5]){ 0 }) >= 2, "ticks: the largest count");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_formats();
    test_num();
    test_ticks();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
