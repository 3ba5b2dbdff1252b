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
 * MQLWebhook (mod_mql_webhook.c): events POSTed to receivers from the
 * background writer's process, through a durable outbox in MQLStateDir.
 * The format and the outbox are in the core (mql_webhook.h).
 */
#ifndef MOD_MQL_WEBHOOK_H
#define MOD_MQL_WEBHOOK_H

#include "mod_mql_private.h"
#include "mql_webhook.h"

/* The directive (mod_mql_config.c's table). */
const char *mql_set_webhook(cmd_parms *cmd, void *dconf, int argc, char *const argv[]);

/* Parent, post_config (the writer's step): the shared counters. */
apr_status_t mql_webhook_setup(server_rec *s);

/* Writer: one event into the outbox, for every receiver that wants it.
 * A producer of a new event type fills a notification and calls this. */
void mql_webhook_enqueue(server_rec *s, const mql_notification_t *n);

/* Writer, each round: attempts started and finished, never waiting on a
 * receiver; final: the process goes away (what is in flight stays
 * pending in the outbox). */
void mql_webhook_round(server_rec *s, int final);

/* Writer: the enqueues between begin (1) and end (0) in one transaction. */
void mql_webhook_batch(server_rec *s, int begin);

/* Writer: a forgotten visitor's deliveries erased. */
void mql_webhook_forget_id(server_rec *s, const char *id_text);

/* The status page's Deliveries section (MQL_STORE_STATUS_*). */
void mql_webhook_status(request_rec *r, int how, uint32_t now);

#endif
