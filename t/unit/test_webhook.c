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
 * Webhooks: the receiver's directive, the bodies, the signature, the
 * delivery ID, the back-off schedule and the outbox's states.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "mql_webhook.h"

static const char *parse(apr_pool_t *p, mql_webhook_t *w, const char *line)
{
    char **argv;
    int argc = 0;

    apr_tokenize_to_argv(line, &argv, p);
    while (argv[argc])
        argc++;
    return mql_webhook_parse(p, argc, argv, w);
}

static void test_parse(apr_pool_t *p)
{
    mql_webhook_t w;
    const char *err;

    ok(!parse(p, &w, "https://crm.example.com/hooks/mql"), "a bare https URL");
    ok(!w.secret && w.format == MQL_WEBHOOK_JSON && !w.events, "... json, no secret, all events");
    ok(!parse(p, &w, "http://127.0.0.1:8080/x secret=s3 format=slack events=mql,sql"),
       "every option");
    is_str(w.secret, "s3", "secret");
    is_int(w.format, MQL_WEBHOOK_SLACK, "format=slack");
    is_int(w.events->nelts, 2, "two events");
    err = parse(p, &w, "ftp://example.com/x");
    ok(err && strstr(err, "http:// or https://") && strstr(err, "ftp://"),
       "ftp refused, saying what is expected: %s", err ? err : "");
    ok(parse(p, &w, "example.com/hook") != NULL, "no scheme refused");
    ok(parse(p, &w, "https:///nohost") != NULL, "no host refused");
    err = parse(p, &w, "https://x.example/ retries=5");
    ok(err && strstr(err, "retries=5") && strstr(err, "secret=SECRET"),
       "unknown option refused: %s", err ? err : "");
    err = parse(p, &w, "https://x.example/ format=xml");
    ok(err && strstr(err, "json or slack"), "bad format refused: %s", err ? err : "");
    err = parse(p, &w, "https://x.example/ events=mql,lunch");
    ok(err && strstr(err, "lunch") && strstr(err, "mql, sql"), "unknown event refused: %s",
       err ? err : "");
    ok(parse(p, &w, "https://x.example/ secret=") != NULL, "empty secret refused");
    ok(parse(p, &w, "https://x.example/ events=") != NULL, "empty event list refused");
    ok(!parse(p, &w, "https://x.example/ events=active,sla,recycled,stage"),
       "the other event types are known");
}

static void test_wants(apr_pool_t *p)
{
    mql_webhook_t w;
    mql_notification_t n = { .type = "stage", .event = "sql" };

    parse(p, &w, "https://x.example/");
    ok(mql_webhook_wants(&w, &n), "no events=: everything");
    parse(p, &w, "https://x.example/ events=mql");
    ok(!mql_webhook_wants(&w, &n), "events=mql: not an sql change");
    n.event = "mql";
    ok(mql_webhook_wants(&w, &n), "events=mql: an mql change");
    parse(p, &w, "https://x.example/ events=stage");
    n.event = "rejected";
    ok(mql_webhook_wants(&w, &n), "events=stage: any stage change");
    n.type = n.event = "active";
    ok(!mql_webhook_wants(&w, &n), "events=stage: not an active event");
}

static void test_bodies(apr_pool_t *p)
{
    mql_webhook_t w;
    mql_notification_t n = {
        .type = "stage", .event = "mql", .key = "k", .lead = "AbC", .stage = "mql",
        .json = "{\"type\":\"stage\",\"visitor\":\"AbC\"}\n", .contact = "ann \"the\" buyer",
        .score = 42, .trigger = "form:/contact"
    };
    const char *b;

    parse(p, &w, "https://x.example/");
    is_str(mql_webhook_body(p, &w, &n), "{\"type\":\"stage\",\"visitor\":\"AbC\"}",
           "json: the notification object, without its newline");
    parse(p, &w, "https://x.example/ format=slack");
    b = mql_webhook_body(p, &w, &n);
    is_str(b, "{\"text\":\"ann \\\"the\\\" buyer is now MQL (score 42), trigger: form:/contact\"}",
           "slack: one text naming the contact, stage, score and trigger");
    n.contact = NULL;
    n.trigger = NULL;
    b = mql_webhook_body(p, &w, &n);
    ok(strstr(b, "visitor AbC") && !strstr(b, "trigger"), "slack: the ID without a contact: %s", b);
    n.type = "active";
    n.detail = "back on /pricing";
    b = mql_webhook_body(p, &w, &n);
    ok(strstr(b, "active:") && strstr(b, "back on /pricing"), "slack: another event type: %s", b);
}

static void test_ids(apr_pool_t *p)
{
    const char *a = mql_webhook_delivery_id(p, "https://a.example/", "stage:X:1");

    ok(a && strlen(a) == 32, "a delivery ID is 32 hex digits: %s", a ? a : "");
    is_str(mql_webhook_delivery_id(p, "https://a.example/", "stage:X:1"), a,
           "the same event and receiver: the same ID");
    ok(strcmp(mql_webhook_delivery_id(p, "https://b.example/", "stage:X:1"), a),
       "another receiver: another ID");
    ok(strcmp(mql_webhook_delivery_id(p, "https://a.example/", "stage:X:2"), a),
       "another event: another ID");
    /* RFC 4231, test case 2 */
    is_str(mql_webhook_signature(p, "Jefe", "what do ya want for nothing?", 28),
           "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "HMAC-SHA256 as RFC 4231 gives it");
    is_str(mql_webhook_display(p, "https://hooks.slack.com/services/T0/B0/secret"),
           "https://hooks.slack.com/...", "the path is not shown");
    is_str(mql_webhook_display(p, "http://127.0.0.1:8080/"), "http://127.0.0.1:8080/",
           "host and port are");
}

static void test_backoff(void)
{
    uint32_t next, total = 0;
    unsigned a;

    is_int(mql_outbox_backoff(1), 1, "first retry after 1 s (within 2 s)");
    is_int(mql_outbox_backoff(2), 2, "then 2 s");
    is_int(mql_outbox_backoff(3), 4, "then 4 s");
    is_int(mql_outbox_backoff(9), 256, "256 s at the 9th");
    is_int(mql_outbox_backoff(10), MQL_OUTBOX_BACKOFF_MAX, "capped");
    is_int(mql_outbox_backoff(1000), MQL_OUTBOX_BACKOFF_MAX, "capped for ever");
    for (a = 1; a <= 400; a++)
        total += mql_outbox_backoff(a);
    ok(total >= 24 * 3600, "400 attempts span more than a day (%u s)", total);

    is_int(mql_outbox_after(1, 1000, 1, 1001, &next), MQL_DELIVERY_DELIVERED, "a 2xx: delivered");
    is_int(mql_outbox_after(0, 1000, 1, 1001, &next), MQL_DELIVERY_PENDING, "a failure: pending");
    is_int(next, 1002, "... due 1 s later");
    is_int(mql_outbox_after(0, 1000, 5, 1100, &next), MQL_DELIVERY_PENDING, "5th failure");
    is_int(next, 1116, "... due 16 s later");
    is_int(mql_outbox_after(0, 1000, 300, 1000 + 24 * 3600, &next), MQL_DELIVERY_PENDING,
           "still tried after 24 hours");
    is_int(mql_outbox_after(0, 1000, 300, 1000 + MQL_OUTBOX_GIVE_UP, &next),
           MQL_DELIVERY_FAILED, "failed after MQL_OUTBOX_GIVE_UP");
    ok(MQL_OUTBOX_GIVE_UP >= 24 * 3600, "which is at least 24 hours");
    is_int(mql_outbox_after(0, 5000, 2, 1000, &next), MQL_DELIVERY_PENDING,
           "a clock set back does not give up");
}

static void test_outbox(apr_pool_t *p)
{
    char dir[] = "/tmp/test_webhook.XXXXXX";
    const char *path, *err = NULL;
    mql_outbox_t *o, *ro;
    mql_delivery_t d;
    mql_outbox_stats_t st;
    apr_array_header_t *rows;
    struct stat sb;
    const char *A = "https://a.example/", *B = "https://b.example/";

    ok(mkdtemp(dir) != NULL, "a directory");
    path = apr_pstrcat(p, dir, "/" MQL_OUTBOX_NAME, NULL);
    ok(mql_outbox_open(&o, path, 0, p, &err) == APR_SUCCESS, "open: %s", err ? err : "");
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "created 0640 (%o)",
       sb.st_mode & 0777);
    is_int(mql_outbox_add(o, A, "id1", "L1", "mql", "{\"n\":1}", 100), 1, "a row");
    is_int(mql_outbox_add(o, A, "id1", "L1", "mql", "{\"n\":1}", 100), 0,
           "the same delivery ID again: one row");
    is_int(mql_outbox_add(o, A, "id2", "L1", "sql", "{\"n\":2}", 101), 1, "L1's second event");
    is_int(mql_outbox_add(o, A, "id3", "L2", "mql", "{\"n\":3}", 102), 1, "L2's event");
    is_int(mql_outbox_add(o, B, "id4", "L1", "mql", "{\"n\":4}", 102), 1, "B's");

    is_int(mql_outbox_next(o, p, A, 200, &d), 1, "A has a row due");
    is_str(d.id, "id1", "the oldest");
    is_str(d.body, "{\"n\":1}", "with its body");
    is_int(d.len, 7, "and length");
    is_int(mql_outbox_result(o, d.seq, 0, "HTTP 503", 200), MQL_DELIVERY_PENDING,
           "a 503: pending");
    is_int(mql_outbox_next(o, p, A, 200, &d), 1, "another lead goes meanwhile");
    is_str(d.id, "id3", "L2's, not L1's second (order per lead)");
    is_int(mql_outbox_result(o, d.seq, 1, NULL, 200), MQL_DELIVERY_DELIVERED, "delivered");
    is_int(mql_outbox_next(o, p, A, 200, &d), 0, "nothing due at 200");
    is_int(mql_outbox_next_due(o, A), 201, "due again at 201");
    is_int(mql_outbox_next(o, p, A, 201, &d), 1, "at 201");
    is_str(d.id, "id1", "the failed row again");
    is_int(d.attempts, 1, "one attempt so far");
    is_int(mql_outbox_result(o, d.seq, 1, NULL, 201), MQL_DELIVERY_DELIVERED, "delivered now");
    is_int(mql_outbox_next(o, p, A, 201, &d), 1, "then");
    is_str(d.id, "id2", "L1's second");

    ok(mql_outbox_stats(o, p, A, &st) == 0, "A's figures");
    is_int(st.pending, 1, "1 pending");
    is_int(st.delivered, 2, "2 delivered");
    is_int(st.failed, 0, "0 failed");
    is_int(st.oldest_pending, 101, "oldest pending enqueued at 101");
    is_int(st.last_ok, 201, "last 2xx");
    is_int(st.last_error_time, 200, "last error at 200");
    is_str(st.last_error, "HTTP 503", "last error");

    /* a day and more of failures */
    is_int(mql_outbox_result(o, d.seq, 0, "connection refused", 101 + MQL_OUTBOX_GIVE_UP),
           MQL_DELIVERY_FAILED, "failed after giving up");
    is_int(mql_outbox_next(o, p, A, 999999, &d), 0, "a failed row is not sent");
    ok(mql_outbox_stats(o, p, NULL, &st) == 0 && st.failed == 1 && st.pending == 1,
       "all receivers: 1 failed, 1 pending (B's)");
    rows = mql_outbox_list(o, p, 1, 100);
    ok(rows && rows->nelts == 1 && !strcmp(APR_ARRAY_IDX(rows, 0, mql_delivery_t).id, "id2"),
       "--failed lists it");
    rows = mql_outbox_list(o, p, 0, 100);
    is_int(rows ? rows->nelts : -1, 4, "every row listed");

    /* mqlctl's side: an existing file, retried there */
    ok(mql_outbox_open(&ro, path, 1, p, &err) == APR_SUCCESS, "opened as mqlctl does");
    is_int(mql_outbox_retry(ro, "nosuch", 500), 0, "an unknown ID: nothing");
    is_int(mql_outbox_retry(ro, "id3", 500), 0, "a delivered one: nothing");
    is_int(mql_outbox_retry(ro, NULL, 500), 1, "--retry all: the failed one");
    mql_outbox_close(ro);
    is_int(mql_outbox_next(o, p, A, 500, &d), 1, "pending again, due now");
    is_str(d.id, "id2", "the same delivery ID");
    is_int(d.attempts, 0, "with a new day of attempts");
    is_int(mql_outbox_after(0, d.created, 1, 500 + 3600, &d.next_try), MQL_DELIVERY_PENDING,
           "counted from the retry");

    is_int(mql_outbox_forget(o, "L1"), 3, "a forgotten lead's rows go");
    is_int(mql_outbox_prune(o, 201 + MQL_OUTBOX_KEEP_DONE + 1), 1,
           "delivered rows go after MQL_OUTBOX_KEEP_DONE");
    ok(mql_outbox_stats(o, p, A, &st) == 0 && st.delivered == 2,
       "the delivered count outlives its rows");
    mql_outbox_close(o);
    ok(mql_outbox_open(&o, apr_pstrcat(p, dir, "/none.sqlite", NULL), 1, p, &err)
       != APR_SUCCESS, "mqlctl's open never creates");
    unlink(path);
    unlink(apr_pstrcat(p, path, "-wal", NULL));
    unlink(apr_pstrcat(p, path, "-shm", NULL));
    rmdir(dir);
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_parse(p);
    test_wants(p);
    test_bodies(p);
    test_ids(p);
    test_backoff();
    test_outbox(p);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
