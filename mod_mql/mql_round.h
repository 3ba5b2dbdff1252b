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
 * The background writer's decisions in a round (mod_mql_writer.c runs
 * the round; these say what it does, so they can be tested without a
 * server).  Times in seconds unless said otherwise.
 */
#ifndef MQL_ROUND_H
#define MQL_ROUND_H

#include <stdint.h>
#include <apr_time.h>

#define MQL_ROUND_MIN_INTERVAL   2    /* seconds between routine rewrites of a lead */
#define MQL_ROUND_SNAPSHOT_EVERY 60

/* Whether the leads are collected and published this round.  Leads are
 * collected when a publication is due (now has reached next_publish, as
 * mql_dbm_next_publish paced it), not before, so a lead that keeps
 * changing while the writer keeps its pace is taken once.  A stopping
 * child (final) and a forget request do not wait. */
int mql_round_publish_due(int final, int forget, apr_time_t now, apr_time_t next_publish);

/* How long a lead's changes wait before the lead is collected again:
 * MQL_ROUND_MIN_INTERVAL, none in the last round of a stopping child
 * (everything dirty goes out now). */
uint32_t mql_round_min_interval(int final);

/* Whether the snapshot is saved (and expired visitors reclaimed): every
 * MQL_ROUND_SNAPSHOT_EVERY seconds after the last one, at once after a
 * forget (the ID must leave the snapshot too), never in a stopping
 * child's last round (the parent saves at its exit). */
int mql_round_snapshot_due(int final, int forget, uint32_t now, uint32_t last_snapshot);

/* Whether the round's applied control requests may be removed: a forget
 * request goes once the DBM files and the snapshot lost the ID (a
 * publication went through); until then it is applied again. */
int mql_round_controls_done(int forget, int published);

#endif
