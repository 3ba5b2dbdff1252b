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
 * mqlctl funnel --by source|medium|campaign: the funnel per value of the
 * visitors' first touch, from the journal (mql_jtouch.h).
 */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "mql_json.h"
#include "mql_jtouch.h"
#include "mqlctl_journal.h"
#include "mqlctl_out.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

static const char *rate(apr_pool_t *p, double r)
{
    return r < 0 ? "-" : apr_psprintf(p, "%.1f%%", r * 100);
}

int mqlctl_funnel_by(apr_pool_t *p, const char *state_dir, int days, const char *by,
                     const char *format)
{
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    apr_array_header_t *rows;
    mql_journal_t *j;
    int i;

    if (!format)
        format = "text";
    if (strcmp(format, "text") && strcmp(format, "csv") && strcmp(format, "json")) {
        fprintf(stderr, "mqlctl: funnel --format expects text, csv or json, got '%s'\n",
                format);
        return EXIT_USAGE;
    }
    if (!mql_jtouch_dim_ok(by)) {
        fprintf(stderr, "mqlctl: funnel --by expects source, medium or campaign, got '%s'\n",
                mql_text_safe(p, by));
        return EXIT_USAGE;
    }
    if (days < 1 || days > MQL_JOURNAL_DAYS) {
        fprintf(stderr, "mqlctl: funnel --days expects 1 to %d\n", MQL_JOURNAL_DAYS);
        return EXIT_USAGE;
    }
    if (!(j = mqlctl_journal(p, state_dir, 0, 0)))
        return EXIT_FAIL;
    if (mql_jtouch_funnel(j, p, now, days, by, &rows) != APR_SUCCESS) {
        fprintf(stderr, "mqlctl: cannot read the journal: %s\n", mql_journal_error(j));
        return EXIT_FAIL;
    }
    if (!strcmp(format, "csv")) {
        printf("%s,new_visitors,mqls,accepted,rejected,acceptance\r\n", by);
        for (i = 0; i < rows->nelts; i++) {
            const mql_jtouch_row_t *r = &APR_ARRAY_IDX(rows, i, mql_jtouch_row_t);

            printf("%s,%llu,%llu,%llu,%llu,%s\r\n", mqlctl_csv(p, r->value, 1),
                   (unsigned long long)r->new_visitors, (unsigned long long)r->mqls,
                   (unsigned long long)r->accepted, (unsigned long long)r->rejected,
                   r->acceptance < 0 ? "" : apr_psprintf(p, "%.4f", r->acceptance));
        }
        return 0;
    }
    if (!strcmp(format, "json")) {
        printf("{\"from\":\"%s\",\"to\":\"%s\",\"by\":\"%s\",\"values\":[",
               mql_day_text(p, now / 86400 - (uint32_t)days + 1), mql_day_text(p, now / 86400),
               by);
        for (i = 0; i < rows->nelts; i++) {
            const mql_jtouch_row_t *r = &APR_ARRAY_IDX(rows, i, mql_jtouch_row_t);

            printf("%s{\"value\":%s,\"new_visitors\":%llu,\"mqls\":%llu,\"accepted\":%llu,"
                   "\"rejected\":%llu,\"acceptance\":%s}", i ? "," : "",
                   mql_json_str(p, r->value, 0), (unsigned long long)r->new_visitors,
                   (unsigned long long)r->mqls, (unsigned long long)r->accepted,
                   (unsigned long long)r->rejected,
                   r->acceptance < 0 ? "null" : apr_psprintf(p, "%.4f", r->acceptance));
        }
        printf("]}\n");
        return 0;
    }
    printf("period: %s to %s (%d days), by the first touch's %s\n\n",
           mql_day_text(p, now / 86400 - (uint32_t)days + 1), mql_day_text(p, now / 86400),
           days, by);
    printf("%-32s  %8s  %6s  %8s  %8s  %10s\n", "VALUE", "NEW", "MQLS", "ACCEPTED", "REJECTED",
           "ACCEPTANCE");
    for (i = 0; i < rows->nelts; i++) {
        const mql_jtouch_row_t *r = &APR_ARRAY_IDX(rows, i, mql_jtouch_row_t);

        printf("%-32s  %8llu  %6llu  %8llu  %8llu  %10s\n", mql_text_safe(p, r->value),
               (unsigned long long)r->new_visitors, (unsigned long long)r->mqls,
               (unsigned long long)r->accepted, (unsigned long long)r->rejected,
               rate(p, r->acceptance));
    }
    return 0;
}
