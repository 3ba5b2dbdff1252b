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
 * MQLWebhook: each event POSTed to the receivers that want it, from the
 * background writer's process and never from a request.
 *
 * An event is put in the outbox (MQLStateDir/outbox.sqlite, mql_outbox.c)
 * in the round that produced it, before the writer moves past it in the
 * change ring: from then on it survives a graceful restart, a stop and a
 * killed writer, and the next writer sends it.  Attempts run on one curl
 * multi handle driven without waiting (curl_multi_perform) from each
 * round: one request in flight per receiver, each bounded in time and in
 * the response it reads, so a receiver that is slow or down holds up
 * neither requests nor the other receivers.  A receiver that failed rests
 * as its failures in a row ask (mql_outbox_backoff), and a row that failed
 * waits for its own.
 *
 * The writer runs in a child that also serves requests, and whatever a
 * site starts from there (PHP's shell_exec, a CGI under mod_cgi) must
 * inherit nothing of the module's: connections are made close-on-exec
 * (open_socket); the socketpairs this libcurl makes for itself (the multi
 * handle's wake-up, the resolver's) are not, so the descriptors that
 * appear while curl runs are marked too (curl_fds_begin/_end).
 *
 * The counters the status page shows are copied from the outbox into
 * shared memory once a second (and after each attempt), so the page never
 * opens the database.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"

#include "mod_mql_runtime.h"
#include "mod_mql_status_int.h"
#include "mod_mql_store.h"
#include "mod_mql_webhook.h"
#include "mql_version.h"

APLOG_USE_MODULE(mql);

#define SHARED_NAME      "webhook"
#define CONNECT_MS       5000
#define TRANSFER_MS      15000
#define RESPONSE_MAX     65536      /* bytes of a response read, the rest cut off */
#define ERROR_LEN        200
#define URL_LEN          200
#define STATS_EVERY      apr_time_from_sec(1)
#define PRUNE_EVERY      3600       /* seconds */

/* ------------------------------------------------------------ shared */

typedef struct receiver_stats {
    char url[URL_LEN];              /* as shown (mql_webhook_display) */
    uint64_t pending, delivered, failed;
    uint32_t oldest_pending, last_ok, last_error_time;
    char last_error[ERROR_LEN];
} receiver_stats_t;

typedef struct webhook_shared {
    uint32_t updated;
    uint32_t n;
    receiver_stats_t r[MQL_WEBHOOK_MAX];
    uint64_t outbox_errors;
} webhook_shared_t;

static webhook_shared_t *wsh;

/* ------------------------------------------------------------ directive */

const char *mql_set_webhook(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    mql_webhook_t w;
    int i;

    if (err)
        return err;
    if ((err = mql_webhook_parse(cmd->pool, argc, argv, &w)))
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    if (!mql_g->webhooks)
        mql_g->webhooks = apr_array_make(cmd->pool, 2, sizeof(mql_webhook_t));
    /* the URL is the receiver's name in the outbox */
    for (i = 0; i < mql_g->webhooks->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(mql_g->webhooks, i, mql_webhook_t).url, w.url))
            return apr_psprintf(cmd->pool, "%s: expects each receiver once; %s is already "
                                "one", cmd->cmd->name, mql_webhook_display(cmd->pool, w.url));
    if (mql_g->webhooks->nelts >= MQL_WEBHOOK_MAX)
        return apr_psprintf(cmd->pool, "%s: expects at most %d receivers", cmd->cmd->name,
                            MQL_WEBHOOK_MAX);
    *(mql_webhook_t *)apr_array_push(mql_g->webhooks) = w;
    return NULL;
}

static int nreceivers(void)
{
    return mql_g && mql_g->webhooks ? mql_g->webhooks->nelts : 0;
}

static const mql_webhook_t *receiver(int i)
{
    return &APR_ARRAY_IDX(mql_g->webhooks, i, mql_webhook_t);
}

apr_status_t mql_webhook_setup(server_rec *s)
{
    mql_kept_t *kept;
    apr_status_t rv;
    int fresh;

    wsh = NULL;
    if (!nreceivers())
        return APR_SUCCESS;
    if (!(kept = mql_kept_shm(s, SHARED_NAME, sizeof(webhook_shared_t), 0, &fresh, &rv))) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "MQL09201: cannot create the webhooks' "
                     "shared memory: the status page shows no deliveries");
        return rv;
    }
    wsh = kept->base;
    /* another configuration's receivers are not these */
    wsh->n = 0;
    wsh->updated = 0;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------ the writer's */

typedef struct in_flight {
    CURL *easy;
    struct curl_slist *headers;
    apr_pool_t *p;                  /* the body and headers, until done */
    int64_t seq;
    apr_size_t read;                /* response bytes seen */
    int cut;                        /* ... more than RESPONSE_MAX */
    char error[CURL_ERROR_SIZE];
} in_flight_t;

static struct {
    pid_t owner;
    apr_pool_t *p;
    mql_outbox_t *outbox;
    apr_time_t retry_open;          /* after a failed open */
    CURLM *multi;
    in_flight_t *busy[MQL_WEBHOOK_MAX];
    uint32_t next_check[MQL_WEBHOOK_MAX];   /* not before (Unix seconds) */
    unsigned failures[MQL_WEBHOOK_MAX];     /* in a row, per receiver */
    int batch;                      /* in a transaction (mql_webhook_batch) */
    apr_time_t stats_at;
    uint32_t pruned_at;
} w;

static void release(void)
{
    int i;

    for (i = 0; i < MQL_WEBHOOK_MAX; i++) {
        in_flight_t *f = w.busy[i];

        if (!f)
            continue;
        /* it stays pending: the next writer sends it again */
        curl_multi_remove_handle(w.multi, f->easy);
        curl_easy_cleanup(f->easy);
        curl_slist_free_all(f->headers);
        apr_pool_destroy(f->p);
        w.busy[i] = NULL;
    }
    if (w.multi)
        curl_multi_cleanup(w.multi);
    w.multi = NULL;
    if (w.p)
        apr_pool_destroy(w.p);      /* closes the outbox */
    w.p = NULL;
    w.outbox = NULL;
}

/* The outbox of this process, opened on first use; NULL when it cannot be. */
static mql_outbox_t *outbox(server_rec *s)
{
    const char *err = NULL;
    apr_time_t now = apr_time_now();

    if (w.owner != getpid()) {
        /* a process forked from one that had them: not ours to close */
        memset(&w, 0, sizeof w);
        w.owner = getpid();
    }
    if (w.outbox)
        return w.outbox;
    if (now < w.retry_open)
        return NULL;
    if (!w.p)
        apr_pool_create(&w.p, NULL);
    if (mql_outbox_open(&w.outbox, apr_pstrcat(w.p, mql_g->state_dir, "/" MQL_OUTBOX_NAME,
                                               NULL), 0, w.p, &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL09202: cannot open %s/%s: %s; webhook "
                     "events are not kept until it opens (tried again in 10 s)", mql_g->state_dir,
                     MQL_OUTBOX_NAME, err);
        w.retry_open = now + apr_time_from_sec(10);
        apr_pool_destroy(w.p);
        w.p = NULL;
        w.outbox = NULL;
        return NULL;
    }
    return w.outbox;
}

void mql_webhook_enqueue(server_rec *s, const mql_notification_t *n)
{
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    mql_outbox_t *o;
    apr_pool_t *p;
    int i;

    if (!nreceivers())
        return;
    if (!(o = outbox(s))) {
        /* the writer moves on in the change ring all the same: counted */
        if (wsh)
            wsh->outbox_errors++;
        return;
    }
    apr_pool_create(&p, w.p);
    for (i = 0; i < nreceivers(); i++) {
        const mql_webhook_t *r = receiver(i);

        if (!mql_webhook_wants(r, n))
            continue;
        if (mql_outbox_add(o, r->url, mql_webhook_delivery_id(p, r->url, n->key), n->lead,
                           n->event, mql_webhook_body(p, r, n), now) < 0) {
            if (wsh)
                wsh->outbox_errors++;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL09203: %s event of %s not put in "
                         "the outbox for %s: %s", n->event, n->lead,
                         mql_webhook_display(p, r->url), mql_outbox_error(o));
        }
        w.next_check[i] = 0;
    }
    apr_pool_destroy(p);
}

void mql_webhook_batch(server_rec *s, int begin)
{
    mql_outbox_t *o;

    if (!nreceivers() || !(o = outbox(s)))
        return;
    /* one transaction for a round's events: one write of the WAL, not one
     * per event and receiver */
    if (begin && !w.batch)
        w.batch = mql_outbox_begin(o) == 0;
    else if (!begin && w.batch) {
        w.batch = 0;
        if (mql_outbox_commit(o) != 0)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL09208: webhook events not kept "
                         "in the outbox: %s", mql_outbox_error(o));
    }
}

void mql_webhook_forget_id(server_rec *s, const char *id_text)
{
    mql_outbox_t *o;

    if (nreceivers() && (o = outbox(s)) && mql_outbox_forget(o, id_text) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL09204: cannot erase %s's deliveries "
                     "from the outbox: %s", id_text, mql_outbox_error(o));
}

static curl_socket_t open_socket(void *baton, curlsocktype purpose, struct curl_sockaddr *a)
{
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

#define FDS_SEEN 65536
static unsigned char fds_before[FDS_SEEN / 8];

static void fds_walk(int mark)
{
    DIR *d = opendir("/proc/self/fd");     /* glibc: close-on-exec */
    struct dirent *e;

    if (!d)
        return;
    if (!mark)
        memset(fds_before, 0, sizeof fds_before);
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name), flags;
        struct stat st;

        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd < 3 || fd >= FDS_SEEN
            || fd == dirfd(d))
            continue;
        if (!mark) {
            fds_before[fd / 8] |= (unsigned char)(1u << (fd % 8));
            continue;
        }
        /* new since curl was called, a socket, open across exec: curl's */
        if (!(fds_before[fd / 8] & (1u << (fd % 8))) && fstat(fd, &st) == 0
            && S_ISSOCK(st.st_mode) && (flags = fcntl(fd, F_GETFD)) >= 0
            && !(flags & FD_CLOEXEC))
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    closedir(d);
}

static void curl_fds_begin(void)
{
    fds_walk(0);
}

static void curl_fds_end(void)
{
    fds_walk(1);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *baton)
{
    in_flight_t *f = baton;

    f->read += size * nmemb;
    if (f->read > RESPONSE_MAX) {
        f->cut = 1;
        return 0;                   /* curl stops the transfer */
    }
    return size * nmemb;
}

static void start(server_rec *s, int i, const mql_delivery_t *d)
{
    const mql_webhook_t *r = receiver(i);
    in_flight_t *f;
    apr_pool_t *p;
    const char *body;

    apr_pool_create(&p, w.p);
    f = apr_pcalloc(p, sizeof *f);
    f->p = p;
    f->seq = d->seq;
    /* curl reads it in later rounds, after the round's pool is gone */
    body = apr_pmemdup(p, d->body, d->len);
    if (!(f->easy = curl_easy_init())) {
        apr_pool_destroy(p);
        return;
    }
    f->headers = curl_slist_append(f->headers, "Content-Type: application/json");
    f->headers = curl_slist_append(f->headers, apr_pstrcat(p, "X-MQL-Delivery: ", d->id, NULL));
    if (r->secret)
        f->headers = curl_slist_append(f->headers, apr_pstrcat(p, "X-MQL-Signature: ",
                                       mql_webhook_signature(p, r->secret, d->body, d->len),
                                       NULL));
    /* no 100-continue round trip: the body is small and already here */
    f->headers = curl_slist_append(f->headers, "Expect:");
    curl_easy_setopt(f->easy, CURLOPT_URL, r->url);
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->len);
    curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "mod_mql/" MQL_VERSION);
    curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    /* a redirect is an answer, not a 2xx: the event is not handed to
     * whatever host the receiver names */
    curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
    curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long)TRANSFER_MS);
    curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->error);
    curl_easy_setopt(f->easy, CURLOPT_PRIVATE, (void *)(intptr_t)i);
    if (curl_multi_add_handle(w.multi, f->easy) != CURLM_OK) {
        curl_easy_cleanup(f->easy);
        curl_slist_free_all(f->headers);
        apr_pool_destroy(p);
        return;
    }
    w.busy[i] = f;
}

static void finish(server_rec *s, int i, CURLcode code)
{
    in_flight_t *f = w.busy[i];
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    const char *error = NULL;
    long status = 0;
    int ok, state;

    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    /* a 2xx whose body we cut off was delivered all the same */
    ok = status >= 200 && status < 300 && (code == CURLE_OK || (f->cut && code == CURLE_WRITE_ERROR));
    if (!ok) {
        if (status && (code == CURLE_OK || f->cut))
            error = apr_psprintf(f->p, "HTTP %ld", status);
        else
            error = apr_psprintf(f->p, "%s", f->error[0] ? f->error : curl_easy_strerror(code));
    }
    state = mql_outbox_result(w.outbox, f->seq, ok, error, now);
    if (state < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL09205: cannot record a delivery to %s "
                     "in the outbox: %s", mql_webhook_display(f->p, receiver(i)->url),
                     mql_outbox_error(w.outbox));
    else if (state == MQL_DELIVERY_FAILED)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL09206: webhook %s: gave up a "
                     "delivery after %d hours of attempts (%s); mqlctl deliveries --retry "
                     "sends it again", mql_webhook_display(f->p, receiver(i)->url),
                     MQL_OUTBOX_GIVE_UP / 3600, error);
    else if (!ok)
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "MQL09207: webhook %s: %s; trying again",
                     mql_webhook_display(f->p, receiver(i)->url), error);
    /* a receiver that failed rests as long as its failures in a row ask:
     * one that is down is not tried with every new event */
    if (ok)
        w.failures[i] = 0;
    else
        w.failures[i]++;
    w.next_check[i] = ok ? 0 : now + mql_outbox_backoff(w.failures[i]);
    curl_multi_remove_handle(w.multi, f->easy);
    curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->headers);
    apr_pool_destroy(f->p);
    w.busy[i] = NULL;
    w.stats_at = 0;
}

static void copy_text(char *dst, const char *src, size_t size)
{
    apr_cpystrn(dst, src ? src : "", size);
}

static void refresh_stats(apr_pool_t *p)
{
    int i, n = nreceivers();

    if (!wsh)
        return;
    for (i = 0; i < n && i < MQL_WEBHOOK_MAX; i++) {
        receiver_stats_t *rs = &wsh->r[i];
        mql_outbox_stats_t st;

        if (mql_outbox_stats(w.outbox, p, receiver(i)->url, &st) != 0)
            continue;
        copy_text(rs->url, mql_webhook_display(p, receiver(i)->url), sizeof rs->url);
        rs->pending = st.pending;
        rs->delivered = st.delivered;
        rs->failed = st.failed;
        rs->oldest_pending = st.oldest_pending;
        rs->last_ok = st.last_ok;
        rs->last_error_time = st.last_error_time;
        copy_text(rs->last_error, st.last_error, sizeof rs->last_error);
    }
    wsh->n = (uint32_t)n;
    wsh->updated = (uint32_t)apr_time_sec(apr_time_now());
}

void mql_webhook_round(server_rec *s, int final)
{
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    CURLMsg *msg;
    apr_pool_t *p;
    int i, running = 0, left;

    if (!nreceivers())
        return;
    if (final) {
        if (w.owner == getpid())
            release();
        return;
    }
    if (!outbox(s))
        return;
    if (!w.multi) {
        /* thread-safe in this libcurl (its "threadsafe" feature); once per
         * process all the same */
        static int curl_ready;

        if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
            curl_ready = 1;
        if (!curl_ready)
            return;
        curl_fds_begin();
        w.multi = curl_multi_init();
        curl_fds_end();
        if (!w.multi)
            return;
    }
    apr_pool_create(&p, w.p);
    for (i = 0; i < nreceivers(); i++) {
        mql_delivery_t d;

        if (w.busy[i] || now < w.next_check[i])
            continue;
        if (mql_outbox_next(w.outbox, p, receiver(i)->url, now, &d) == 1)
            start(s, i, &d);
        else
            /* nothing due: look again in a second (a row's back-off ends,
             * mqlctl --retry), or as soon as an event is enqueued */
            w.next_check[i] = now + 1;
    }
    for (i = 0; i < nreceivers() && !w.busy[i]; i++)
        ;
    if (i < nreceivers()) {
        curl_fds_begin();
        curl_multi_perform(w.multi, &running);
        curl_fds_end();
    }
    while ((msg = curl_multi_info_read(w.multi, &left)))
        if (msg->msg == CURLMSG_DONE) {
            void *priv = NULL;

            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            i = (int)(intptr_t)priv;
            if (i >= 0 && i < MQL_WEBHOOK_MAX && w.busy[i] && w.busy[i]->easy == msg->easy_handle)
                finish(s, i, msg->data.result);
        }
    if (apr_time_now() - w.stats_at >= STATS_EVERY) {
        refresh_stats(p);
        w.stats_at = apr_time_now();
    }
    if (now - w.pruned_at >= PRUNE_EVERY) {
        mql_outbox_prune(w.outbox, now);
        w.pruned_at = now;
    }
    apr_pool_destroy(p);
}

/* ------------------------------------------------------------ status */

typedef struct deliveries_status {
    uint64_t pending, delivered, failed;
    long oldest_age;                /* seconds, -1 = none pending */
    uint64_t outbox_errors;
    int n;
    receiver_stats_t r[MQL_WEBHOOK_MAX];
} deliveries_status_t;

typedef struct receiver_row {
    char url[URL_LEN];
    uint64_t pending, delivered, failed;
    long oldest_age;
    uint32_t last_ok, last_error_time;
    char last_error[ERROR_LEN];
} receiver_row_t;

#define D deliveries_status_t
#define R receiver_row_t

static const char *html_age(const mql_stat_env_t *env, const mql_stat_row_t *row,
                            const void *base)
{
    long age = *MQL_STAT_AT(row, base, long);

    return age < 0 ? "<span class=\"muted\">none pending</span>"
                   : apr_psprintf(env->p, "<span title=\"%ld s\">%s</span>", age,
                                  mql_stat_ago(env->p, age));
}

static const mql_stat_row_t deliveries_rows[] = {
    { MQL_STAT_ROW("deliveries-pending", "DeliveriesPending", "pending",
                   "Webhook deliveries pending", MQL_STAT_U64, D, pending) },
    { MQL_STAT_ROW("deliveries-delivered", "DeliveriesDelivered", "delivered",
                   "Webhook deliveries delivered", MQL_STAT_U64, D, delivered) },
    { MQL_STAT_ROW("deliveries-failed", "DeliveriesFailed", "failed",
                   "Webhook deliveries failed (gave up)", MQL_STAT_U64, D, failed),
      .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW("deliveries-oldest", "DeliveriesOldestPendingAge", "oldest_pending_age",
                   "Oldest pending delivery", MQL_STAT_LONG, D, oldest_age),
      .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG, .html = html_age },
    { MQL_STAT_ROW("deliveries-errors", "DeliveriesOutboxErrors", "outbox_errors",
                   "Webhook outbox errors", MQL_STAT_U64, D, outbox_errors),
      .flags = MQL_STAT_WARN },
    { 0 }
};

static const mql_stat_row_t receiver_rows[] = {
    { MQL_STAT_ROW(NULL, "Url", "url", NULL, MQL_STAT_TEXT, R, url) },
    { MQL_STAT_ROW(NULL, "Pending", "pending", NULL, MQL_STAT_U64, R, pending) },
    { MQL_STAT_ROW(NULL, "Delivered", "delivered", NULL, MQL_STAT_U64, R, delivered) },
    { MQL_STAT_ROW(NULL, "Failed", "failed", NULL, MQL_STAT_U64, R, failed) },
    { MQL_STAT_ROW(NULL, "OldestPendingAge", "oldest_pending_age", NULL, MQL_STAT_LONG, R,
                   oldest_age), .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG },
    { MQL_STAT_ROW(NULL, "LastOk", "last_ok", NULL, MQL_STAT_U32, R, last_ok) },
    { MQL_STAT_ROW(NULL, "LastErrorTime", "last_error_time", NULL, MQL_STAT_U32, R,
                   last_error_time) },
    { MQL_STAT_ROW(NULL, "LastError", "last_error", NULL, MQL_STAT_TEXT, R, last_error) },
    { 0 }
};

#undef D
#undef R

static int gather(deliveries_status_t *d, uint32_t now)
{
    int i;

    if (!wsh || !nreceivers())
        return 0;
    d->oldest_age = -1;
    d->outbox_errors = wsh->outbox_errors;
    d->n = wsh->n < MQL_WEBHOOK_MAX ? (int)wsh->n : MQL_WEBHOOK_MAX;
    for (i = 0; i < d->n; i++) {
        receiver_stats_t *r = &d->r[i];

        /* the writer rewrites it meanwhile: a torn text still ends */
        memcpy(r, &wsh->r[i], sizeof *r);
        r->url[URL_LEN - 1] = r->last_error[ERROR_LEN - 1] = '\0';
        d->pending += r->pending;
        d->delivered += r->delivered;
        d->failed += r->failed;
        if (r->oldest_pending && (d->oldest_age < 0 || (long)now - (long)r->oldest_pending > d->oldest_age))
            d->oldest_age = (long)now - (long)r->oldest_pending;
    }
    return 1;
}

static void receiver_row(receiver_row_t *row, const receiver_stats_t *r, uint32_t now)
{
    memcpy(row->url, r->url, sizeof row->url);
    row->pending = r->pending;
    row->delivered = r->delivered;
    row->failed = r->failed;
    row->oldest_age = r->oldest_pending ? (long)now - (long)r->oldest_pending : -1;
    row->last_ok = r->last_ok;
    row->last_error_time = r->last_error_time;
    memcpy(row->last_error, r->last_error, sizeof row->last_error);
}

void mql_webhook_status(request_rec *r, int how, uint32_t now)
{
    deliveries_status_t *d = apr_pcalloc(r->pool, sizeof *d);
    int shown = gather(d, now), i;
    mql_stat_env_t env;

    mql_status_env(r, &env, now);
    switch (how) {
    case MQL_STORE_STATUS_HTML:
        if (!shown)
            break;
        ap_rputs(mql_stat_html(&env, deliveries_rows, d), r);
        for (i = 0; i < d->n; i++) {
            const receiver_stats_t *rs = &d->r[i];
            const char *v = apr_psprintf(r->pool, "%s pending, %s delivered, %s failed",
                                         mql_stat_num(r->pool, (int64_t)rs->pending),
                                         mql_stat_num(r->pool, (int64_t)rs->delivered),
                                         mql_stat_warn_num(r->pool, rs->failed));

            if (rs->last_error_time)
                v = apr_pstrcat(r->pool, v, "; last error ",
                                mql_stat_ago(r->pool, (long)now - (long)rs->last_error_time),
                                ": ", ap_escape_html(r->pool, rs->last_error), NULL);
            ap_rputs(mql_stat_html_row(r->pool, apr_pstrcat(r->pool, "Webhook ",
                                       ap_escape_html(r->pool, rs->url), NULL),
                                       apr_psprintf(r->pool, "webhook-%d", i + 1), v), r);
        }
        break;
    case MQL_STORE_STATUS_AUTO:
        if (!shown)
            break;
        ap_rputs(mql_stat_auto(&env, deliveries_rows, d), r);
        for (i = 0; i < d->n; i++) {
            receiver_row_t row;
            char *lines, *line, *last;

            receiver_row(&row, &d->r[i], now);
            lines = apr_pstrdup(r->pool, mql_stat_auto(&env, receiver_rows, &row));
            for (line = apr_strtok(lines, "\n", &last); line; line = apr_strtok(NULL, "\n", &last))
                ap_rprintf(r, "Webhook%d%s\n", i + 1, line);
        }
        break;
    case MQL_STORE_STATUS_JSON:
        ap_rputs(",\n\"deliveries\":", r);
        if (!shown) {
            ap_rputs("null", r);
            break;
        }
        ap_rvputs(r, "{", mql_stat_json(&env, deliveries_rows, d, 1), ",\"receivers\":[", NULL);
        for (i = 0; i < d->n; i++) {
            receiver_row_t row;

            receiver_row(&row, &d->r[i], now);
            ap_rvputs(r, i ? "," : "", "{", mql_stat_json(&env, receiver_rows, &row, 1), "}",
                      NULL);
        }
        ap_rputs("]}", r);
        break;
    default:
        break;
    }
}
