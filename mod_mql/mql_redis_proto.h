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
 * What mod_mql says to Redis and reads back, without a connection: the
 * MQLStore URL, the keys of a visitor's shard, a queued entry as the
 * Functions (mql_redis.lua) take it, and the record in the fields Redis
 * keeps it in.  Pure, so the unit tests check it.
 */
#ifndef MQL_REDIS_PROTO_H
#define MQL_REDIS_PROTO_H

#include <apr_pools.h>
#include "mql_types.h"
#include "mql_control.h"
#include "mql_redis_queue.h"

#define MQL_REDIS_TCP     1
#define MQL_REDIS_UNIX    2
#define MQL_REDIS_CLUSTER 3

typedef struct mql_redis_node {
    const char *host;
    int port;
} mql_redis_node_t;

typedef struct mql_redis_url {
    int kind;                    /* MQL_REDIS_* */
    const char *user;            /* NULL: AUTH with the password alone */
    const char *password;        /* NULL: no AUTH */
    const char *host;            /* first node (TCP, cluster) */
    int port;
    const char *path;            /* MQL_REDIS_UNIX */
    int db;                      /* SELECT, 0 by default; not on a cluster */
    mql_redis_node_t *nodes;     /* MQL_REDIS_CLUSTER: the seed nodes */
    int nnodes;
} mql_redis_url_t;

/* NULL and *out, or what is wrong with text (for the directive's error). */
const char *mql_redis_url_parse(apr_pool_t *p, const char *text, mql_redis_url_t *out);

/*
 * MQLStateDir/store and store.auth: the Redis a server uses, so that
 * mqlctl forget reaches it while the server is stopped.  The parent (root)
 * writes both at each start: store holds "url=" (the MQLStore URL without
 * its user and password) and "user=" lines, store.auth the password
 * alone, root's only (0600).  With MQLStore shm neither is there.
 */
#define MQL_REDIS_STORE_NAME MQL_STORE_FILE_NAME
#define MQL_REDIS_AUTH_NAME  MQL_STORE_AUTH_FILE_NAME
#define MQL_REDIS_AUTH_MAX   4096    /* a password file's bytes, at most */

/* store's text for url (no password in it). */
const char *mql_redis_store_format(apr_pool_t *p, const mql_redis_url_t *url);
/* store's text back into *out (password NULL): NULL, or what is wrong. */
const char *mql_redis_store_parse(apr_pool_t *p, const char *text, mql_redis_url_t *out);
/* A password as a file holds it: up to one trailing newline (LF or CRLF)
 * left out.  NULL when nothing is left, or it holds a NUL byte. */
const char *mql_redis_password_text(apr_pool_t *p, const char *buf, size_t len);

/* The visitor's shard, 0 .. MQL_RQ_SHARDS - 1. */
unsigned mql_redis_shard(const uint8_t id[MQL_ID_BYTES]);

/* Keys, all with the shard's hash tag "{mqlN}" so that one Function call's
 * keys share a Cluster slot.  buf holds at least MQL_REDIS_KEY_LEN. */
#define MQL_REDIS_KEY_LEN 64
void mql_redis_key_visitor(char *buf, const uint8_t id[MQL_ID_BYTES]);
void mql_redis_key_seq(char *buf, unsigned shard);
void mql_redis_key_stream(char *buf, unsigned shard);
/* The shard's totals (a hash the Function counts into, for the fleet's
 * figures on the status page). */
void mql_redis_key_totals(char *buf, unsigned shard);
/* The fleet's servers heard from lately (mql_heartbeat): one key, kept
 * with shard 0's keys. */
void mql_redis_key_servers(char *buf);
#define MQL_REDIS_GROUP "mql-notify"

/* An entry as mql_apply_many and mql_apply_batch take it (mql_redis.lua,
 * entry_from_binary), one argument, little-endian: KIND (1 byte) ORIGIN
 * (16, hex) SEQ (double) ID (22, text) NOW (uint32), then by kind: a hit
 * EXPIRE (uint32) and its delta (mql_delta_encode), a stage STAGE (uint8)
 * EXPIRE, a contact CONTACT (uint16 length, bytes) EXPIRE, a forget
 * nothing.  expire: MQLExpire in seconds (0: none).  Written to buf
 * (MQL_REDIS_ENTRY_MAX bytes); its length. */
#define MQL_REDIS_ENTRY_MAX 512
size_t mql_redis_entry_binary(const mql_rq_entry_t *e, uint32_t expire, char *buf);

/* A record from field/value pairs (a stream entry, mql_fields' reply):
 * one pair per field of mql_fields.h with a Redis name (an array's per
 * element), and the contact.  contact: MQL_CONTACT_LEN bytes or NULL.  0 when the pairs
 * hold no record (no score field). */
/* Elements a stream entry holds at most: its own four pairs, the
 * contact's, and a pair per byte of the record, more than any field takes. */
#define MQL_REDIS_PAIRS_MAX (2 * (4 + 1 + (int)sizeof(mql_visitor_t)))
int mql_redis_record_from_pairs(const char *const *fields, const size_t *lens, int n,
                                const uint8_t id[MQL_ID_BYTES], mql_visitor_t *v,
                                char *contact);

/*
 * A record as Redis keeps it and the Function library sends it back: the
 * format byte, the number of fields that follow the contact, the contact
 * as a uint16 length and its bytes, then the fields mql_fields.h gives a
 * Redis name, in its order, little-endian, a TEXT one as a uint16 length
 * and its bytes.  A record of a build with fewer fields reads with the
 * rest zero.  Format 1 (score, first, last, since, seven counts, stage,
 * trigger event, site, flags, eight caps, country, then the trigger and
 * the contact as length and bytes) is still read.  0 when s is neither.
 */
#define MQL_REDIS_RECORD_FORMAT 2
#define MQL_REDIS_RECORD_MIN    53      /* format 1, with an empty trigger and contact */
int mql_redis_record_from_binary(const char *s, size_t len, const uint8_t id[MQL_ID_BYTES],
                                 mql_visitor_t *v, char *contact);

/* The record in format 2 into buf (MQL_REDIS_RECORD_MAX bytes); its length. */
#define MQL_REDIS_RECORD_MAX (4 + MQL_CONTACT_LEN + 2 * MQL_FIELD_COUNT + sizeof(mql_visitor_t))
size_t mql_redis_record_binary(const mql_visitor_t *v, const char *contact, char *buf);

/*
 * The Function library's knowledge of the record's layout, made from
 * mql_fields.h: Lua that defines RECORD_FORMAT, RECORD_LAYOUT and
 * RECORD_FORMATS, which mql_redis.lua's pack and unpack walk.  The library
 * as loaded is its source with the line that holds MQL_REDIS_LAYOUT_MARK
 * replaced by that (mql_redis_library), so that no field is written by
 * hand in Lua.
 */
#define MQL_REDIS_LAYOUT_MARK "@RECORD_LAYOUT@"
char *mql_redis_layout_lua(apr_pool_t *p);
char *mql_redis_library(apr_pool_t *p, const char *source);

#endif
