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
 * Webhooks (MQLWebhook): what each receiver is sent, and the outbox that
 * keeps it until the receiver said 2xx.
 *
 * An event leaves the module as a notification object (mql_notification_t)
 * whoever produced it: a stage change today, any other event type the
 * same way.  Each receiver that wants it gets one row in the outbox
 * (MQLStateDir/outbox.sqlite, mql_outbox_*), with its body made then (the
 * notification's JSON, or a chat line for format=slack) and a delivery ID
 * derived from the receiver and the notification's key, so that the same
 * event enqueued twice (a writer killed between the outbox and its
 * position in the change ring) is one row, and a receiver sees the same
 * X-MQL-Delivery on every attempt.
 *
 * A row is pending until an attempt gets a 2xx (delivered); an attempt
 * that fails is tried again after mql_outbox_backoff(attempts) seconds
 * (1, 2, 4 ... capped at MQL_OUTBOX_BACKOFF_MAX) until MQL_OUTBOX_GIVE_UP
 * seconds after it was enqueued, then it is kept as failed, for
 * `mqlctl deliveries --retry`.  Per receiver, a lead's rows go in the
 * order they were enqueued: a row waits while an older one of the same
 * lead is pending.
 */
#ifndef MQL_WEBHOOK_H
#define MQL_WEBHOOK_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define MQL_WEBHOOK_MAX          16         /* MQLWebhook directives */
#define MQL_OUTBOX_NAME          "outbox.sqlite"
#define MQL_OUTBOX_BACKOFF_MAX   300        /* seconds between two attempts at most */
#define MQL_OUTBOX_GIVE_UP       (25 * 3600) /* seconds of attempts before failed */
#define MQL_OUTBOX_KEEP_DONE     (7 * 86400) /* delivered rows kept this long */

typedef enum {
    MQL_WEBHOOK_JSON = 0,
    MQL_WEBHOOK_SLACK
} mql_webhook_format_t;

/* One MQLWebhook directive. */
typedef struct mql_webhook {
    const char *url;
    const char *secret;                 /* NULL: no X-MQL-Signature */
    mql_webhook_format_t format;
    apr_array_header_t *events;         /* of const char *; NULL: every event */
} mql_webhook_t;

/*
 * An event to deliver.  A producer fills it; nothing here knows the event
 * types beyond their names.
 */
typedef struct mql_notification {
    const char *type;       /* "stage", "active", ... (the JSON's "type") */
    const char *event;      /* what events= selects: the new stage of a
                               "stage" notification, else the type */
    const char *key;        /* unique per event and stable if it is produced
                               again: the delivery ID is made of it */
    const char *lead;       /* the visitor's ID: order per lead */
    const char *json;       /* the object, as the MQLNotify line (a trailing
                               newline is dropped) */
    /* what a person reads in a chat channel */
    const char *contact;    /* NULL when none */
    const char *stage;
    long score;
    const char *trigger;    /* NULL when none */
    const char *detail;     /* NULL, or a few words more ("back on /pricing") */
} mql_notification_t;

/* The event names events= accepts: every stage, "stage" (any stage
 * change) and the other event types. */
extern const char *const mql_webhook_event_names[];

/* MQLWebhook's arguments (URL then options) into *w: NULL, or what is
 * expected. */
const char *mql_webhook_parse(apr_pool_t *p, int argc, char *const argv[], mql_webhook_t *w);

/* 1 when receiver w takes notification n. */
int mql_webhook_wants(const mql_webhook_t *w, const mql_notification_t *n);

/* The body w is sent for n. */
const char *mql_webhook_body(apr_pool_t *p, const mql_webhook_t *w, const mql_notification_t *n);

/* X-MQL-Delivery: 32 hex digits of SHA-256 over the receiver's URL and the
 * notification's key. */
const char *mql_webhook_delivery_id(apr_pool_t *p, const char *url, const char *key);

/* X-MQL-Signature: "sha256=" and the HMAC-SHA256 of the body, in hex. */
const char *mql_webhook_signature(apr_pool_t *p, const char *secret, const char *body,
                                  apr_size_t len);

/* The URL as the status page and mqlctl show it: scheme, host and port,
 * the path left out (a chat service's URL is its secret). */
const char *mql_webhook_display(apr_pool_t *p, const char *url);

/* ------------------------------------------------------------ outbox */

typedef enum {
    MQL_DELIVERY_PENDING = 0,
    MQL_DELIVERY_DELIVERED = 1,
    MQL_DELIVERY_FAILED = 2
} mql_delivery_state_t;

/* Seconds to wait after the attempts-th failed attempt (1, 2, 4, ...). */
uint32_t mql_outbox_backoff(unsigned attempts);

/* What an attempt's outcome makes of a row enqueued at created, after
 * attempts attempts (this one included): its state and, pending, when to
 * try again. */
mql_delivery_state_t mql_outbox_after(int ok, uint32_t created, unsigned attempts,
                                      uint32_t now, uint32_t *next_try);

typedef struct mql_outbox mql_outbox_t;

typedef struct mql_delivery {
    int64_t seq;
    const char *id;
    const char *receiver;
    const char *lead;
    const char *event;
    const char *body;
    apr_size_t len;
    mql_delivery_state_t state;
    uint32_t created, next_try, last_try, done;
    unsigned attempts;
    const char *last_error;     /* "" when none */
} mql_delivery_t;

/* Per receiver (or all: receiver NULL). */
typedef struct mql_outbox_stats {
    uint64_t pending, delivered, failed;
    uint32_t oldest_pending;    /* enqueued, 0 = none */
    uint32_t last_ok;           /* last 2xx, 0 = never */
    uint32_t last_error_time;   /* 0 = never */
    const char *last_error;     /* "" when none */
} mql_outbox_stats_t;

/* Open (readonly: never create) the outbox; *err says why not.  Created
 * 0640, as the server's user (the caller is). */
apr_status_t mql_outbox_open(mql_outbox_t **out, const char *path, int readonly,
                             apr_pool_t *p, const char **err);
void mql_outbox_close(mql_outbox_t *o);
const char *mql_outbox_error(mql_outbox_t *o);

/* Several adds in one transaction. */
int mql_outbox_begin(mql_outbox_t *o);
int mql_outbox_commit(mql_outbox_t *o);

/* A row for receiver url: 1 added, 0 already there (same ID), -1 error. */
int mql_outbox_add(mql_outbox_t *o, const char *url, const char *id, const char *lead,
                   const char *event, const char *body, uint32_t now);

/* The receiver's next row due at now, in order per lead: 1 and *d. */
int mql_outbox_next(mql_outbox_t *o, apr_pool_t *p, const char *url, uint32_t now,
                    mql_delivery_t *d);

/* When the receiver's next pending row is due (0 = none). */
uint32_t mql_outbox_next_due(mql_outbox_t *o, const char *url);

/* An attempt's outcome (error: NULL when ok, else what went wrong); the
 * row's new state, or -1 on a database error. */
int mql_outbox_result(mql_outbox_t *o, int64_t seq, int ok, const char *error, uint32_t now);

/* Counts for a receiver, or every row (url NULL). */
int mql_outbox_stats(mql_outbox_t *o, apr_pool_t *p, const char *url, mql_outbox_stats_t *st);

/* Rows, oldest first (failed_only: the failed ones), at most max; an
 * array of mql_delivery_t (bodies left out). */
apr_array_header_t *mql_outbox_list(mql_outbox_t *o, apr_pool_t *p, int failed_only, int max);

/* Failed rows (id NULL: all; else the row of that delivery ID, failed or
 * pending) pending again, due now, with a new day of attempts; how many,
 * -1 on error. */
int mql_outbox_retry(mql_outbox_t *o, const char *id, uint32_t now);

/* Delivered rows older than MQL_OUTBOX_KEEP_DONE, and a forgotten
 * visitor's rows (lead), removed; how many. */
int mql_outbox_prune(mql_outbox_t *o, uint32_t now);
int mql_outbox_forget(mql_outbox_t *o, const char *lead);

#endif
