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
 * MQLStore redis-cluster://: what hiredis 0.14 (Debian 12) does not do for
 * a Redis Cluster.  The pure part (the CRC16 key slot, the MOVED and ASK
 * replies read) is unit-tested; the rest keeps the slot map (CLUSTER
 * SLOTS) and one connection per master, used by the sync thread alone
 * (mql_redis_sync.c), never by a request.
 */
#ifndef MQL_REDIS_CLUSTER_H
#define MQL_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include <hiredis/hiredis.h>
#include "mql_redis_proto.h"
#include "mql_redis_io.h"

#define MQL_REDIS_SLOTS 16384

/* CRC16-CCITT (XModem), as Redis Cluster computes it. */
uint16_t mql_redis_crc16(const char *buf, size_t len);

/* The key's slot: of its hash tag ({...}, non-empty) when it has one. */
unsigned mql_redis_keyslot(const char *key, size_t len);

/* A Cluster redirection in an error reply: MQL_RC_MOVED or MQL_RC_ASK with
 * the slot and the node (host of at most hostlen - 1 bytes), or 0. */
#define MQL_RC_MOVED 1
#define MQL_RC_ASK   2
int mql_redis_redirect(const char *err, unsigned *slot, char *host, size_t hostlen,
                       int *port);

typedef struct mql_rc mql_rc_t;

mql_rc_t *mql_rc_make(apr_pool_t *p, const mql_redis_url_t *url, uint32_t timeout_ms);

/* The waits of the caller's thread (its cancel flag, its stop's limit)
 * for every command sent here; NULL: timeout_ms alone. */
void mql_rc_set_wait(mql_rc_t *rc, const mql_redis_wait_t *w);

/* A new round of calls.  A node whose connection has been handed out
 * (mql_rc_master, _for_slot, _for_node) since the round began is pinned:
 * a full table never frees it to make room, since the caller may have
 * calls sent there whose replies it has yet to read; the new node is
 * refused instead.  The caller begins a round once it has read every
 * reply it waited for. */
void mql_rc_new_round(mql_rc_t *rc);

/* The slot map again, from the first node that answers (the known masters,
 * then the seed nodes): 1, or 0 with why in err. */
int mql_rc_refresh(mql_rc_t *rc, char *err, size_t errlen);

/* The masters of the last map: how many, and the connection to the i-th
 * (opened, AUTH sent, when needed; *fresh then 1: the caller prepares it). */
int mql_rc_masters(const mql_rc_t *rc);
redisContext *mql_rc_master(mql_rc_t *rc, int i, int *fresh, char *err, size_t errlen);

/* The connection to the master of slot, or NULL with why in err. */
redisContext *mql_rc_for_slot(mql_rc_t *rc, unsigned slot, int *fresh, char *err,
                              size_t errlen);

/* The connection to host:port (an ASK target), added when unknown; NULL
 * with why in err when the table is full of nodes in use this round. */
redisContext *mql_rc_for_node(mql_rc_t *rc, const char *host, int port, int *fresh,
                              char *err, size_t errlen);

/* MOVED: slot is served by host:port from now on. */
void mql_rc_moved(mql_rc_t *rc, unsigned slot, const char *host, int port);

/* A CLUSTER SLOTS reply into the map (asked: the node that gave it, for
 * a master listed without an address): 1 when it held a slot range.  The
 * master of slot after it: its host and port (0 when none).  For tests. */
int mql_rc_take_slots(mql_rc_t *rc, const redisReply *r, const char *asked);
int mql_rc_slot_master(const mql_rc_t *rc, unsigned slot, const char **host);

/* Every connection closed (the next use opens them again). */
void mql_rc_close(mql_rc_t *rc);

#endif
