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
 * mqlctl deliveries (mqlctl_deliveries.h).  A receiver's URL is shown
 * without its path (a chat service's URL is its secret); last errors
 * came from the network, so they go through mql_text_safe.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <apr_file_info.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mql_json.h"
#include "mql_log.h"
#include "mql_webhook.h"
#include "mqlctl_deliveries.h"
#include "mqlctl_out.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define LIST_MAX 10000

static const char *const state_names[] = { "pending", "delivered", "failed" };

static const char *state_name(mql_delivery_state_t s)
{
    return (unsigned)s < 3 ? state_names[s] : "?";
}

int mqlctl_deliveries(apr_pool_t *p, const char *state_dir, int failed_only, const char *retry,
                      const char *format)
{
    const char *path = apr_pstrcat(p, state_dir, "/" MQL_OUTBOX_NAME, NULL), *err = NULL;
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    int json = format && !strcmp(format, "json");
    apr_array_header_t *rows;
    mql_outbox_stats_t st;
    mql_outbox_t *o;
    apr_finfo_t fi;
    int i;

    if (format && strcmp(format, "json") && strcmp(format, "text")) {
        fprintf(stderr, "mqlctl: deliveries --format expects text or json, got '%s'\n", format);
        return EXIT_USAGE;
    }
    /* never create it: only the server's writer does */
    if (apr_stat(&fi, path, APR_FINFO_LINK | APR_FINFO_TYPE, p) != APR_SUCCESS
        || fi.filetype != APR_REG) {
        fprintf(stderr, "mqlctl: no outbox %s (no MQLWebhook, or no event yet)\n", path);
        return EXIT_FAIL;
    }
    if (mql_outbox_open(&o, path, 1, p, &err) != APR_SUCCESS) {
        fprintf(stderr, "mqlctl: cannot open the outbox %s: %s\n", path, err);
        return EXIT_FAIL;
    }
    if (retry) {
        int n = mql_outbox_retry(o, strcmp(retry, "all") ? retry : NULL, now);

        if (n < 0) {
            fprintf(stderr, "mqlctl: cannot mark deliveries for a retry: %s\n",
                    mql_outbox_error(o));
            return EXIT_FAIL;
        }
        if (n == 0 && strcmp(retry, "all")) {
            fprintf(stderr, "mqlctl: no pending or failed delivery %s\n",
                    mql_text_safe(p, retry));
            return 3;
        }
        /* a running server's writer picks them up within a second */
        printf("%d deliver%s to send again\n", n, n == 1 ? "y" : "ies");
        return 0;
    }
    if (!(rows = mql_outbox_list(o, p, failed_only, LIST_MAX))
        || mql_outbox_stats(o, p, NULL, &st) != 0) {
        fprintf(stderr, "mqlctl: cannot read the outbox: %s\n", mql_outbox_error(o));
        return EXIT_FAIL;
    }
    if (json) {
        printf("{\"pending\":%" APR_UINT64_T_FMT ",\"delivered\":%" APR_UINT64_T_FMT
               ",\"failed\":%" APR_UINT64_T_FMT ",\"oldest_pending\":%u,\"deliveries\":[",
               st.pending, st.delivered, st.failed, st.oldest_pending);
        for (i = 0; i < rows->nelts; i++) {
            const mql_delivery_t *d = &APR_ARRAY_IDX(rows, i, mql_delivery_t);

            printf("%s\n{\"id\":%s,\"receiver\":%s,\"lead\":%s,\"event\":%s,\"state\":\"%s\","
                   "\"created\":%u,\"attempts\":%u,\"next_try\":%u,\"last_try\":%u,\"done\":%u,"
                   "\"last_error\":%s}", i ? "," : "", mql_json_str(p, d->id, 0),
                   mql_json_str(p, mql_webhook_display(p, d->receiver), 0),
                   mql_json_str(p, d->lead, 0), mql_json_str(p, d->event, 0),
                   state_name(d->state), d->created, d->attempts,
                   d->state == MQL_DELIVERY_PENDING ? d->next_try : 0, d->last_try, d->done,
                   mql_json_str(p, d->last_error, 0));
        }
        printf("]}\n");
        return 0;
    }
    printf("%" APR_UINT64_T_FMT " pending, %" APR_UINT64_T_FMT " delivered, %" APR_UINT64_T_FMT
           " failed", st.pending, st.delivered, st.failed);
    if (st.oldest_pending)
        printf("; oldest pending since %s", mqlctl_iso_time(p, st.oldest_pending, "-"));
    printf("\n");
    if (rows->nelts)
        printf("%-32s  %-9s  %-8s  %-8s  %-20s  %-20s  %s\n", "DELIVERY", "STATE", "EVENT",
               "ATTEMPTS", "ENQUEUED", "NEXT/DONE", "RECEIVER / LEAD / LAST ERROR");
    for (i = 0; i < rows->nelts; i++) {
        const mql_delivery_t *d = &APR_ARRAY_IDX(rows, i, mql_delivery_t);

        printf("%-32s  %-9s  %-8s  %-8u  %-20s  %-20s  %s %s%s%s\n", d->id,
               state_name(d->state), mql_text_safe(p, d->event), d->attempts,
               mqlctl_iso_time(p, d->created, "-"),
               mqlctl_iso_time(p, d->state == MQL_DELIVERY_PENDING ? d->next_try : d->done, "-"),
               mql_text_safe(p, mql_webhook_display(p, d->receiver)),
               mql_text_safe(p, d->lead), d->last_error[0] ? " " : "",
               mql_text_safe(p, d->last_error));
    }
    return 0;
}
