/*
 * What mod_mql says to Redis and reads back, without a connection: the
 * MQLStore URL, the keys of a visitor's shard, the arguments of the
 * mql_apply Function (mql_redis.lua) for a queued entry, and the record
 * in the fields Redis keeps it in.  Pure, so the unit tests check it.
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

/* The arguments of FCALL mql_apply for e (numbered by its origin's
 * queue): *argc strings (and lengths) in argv, allocated from p.
 * expire: MQLExpire in seconds (0: none). */
#define MQL_REDIS_MAX_ARGS 32
void mql_redis_apply_args(apr_pool_t *p, const mql_rq_entry_t *e, uint32_t expire,
                          int *argc, const char **argv, size_t *argvlen);

/* An entry as mql_apply_many takes it (mql_redis.lua, entry_from_binary):
 * one argument instead of mql_apply's twenty, cheaper to make here and
 * for Redis to take in.  Written to buf (MQL_REDIS_ENTRY_MAX bytes); its
 * length. */
#define MQL_REDIS_ENTRY_MAX 512
size_t mql_redis_entry_binary(const mql_rq_entry_t *e, uint32_t expire, char *buf);

/* A record from field/value pairs (the Function's reply, a stream entry,
 * HGETALL).  contact: MQL_CONTACT_LEN bytes or NULL.  0 when the pairs
 * hold no record (no score field). */
int mql_redis_record_from_pairs(const char *const *fields, const size_t *lens, int n,
                                const uint8_t id[MQL_ID_BYTES], mql_visitor_t *v,
                                char *contact);

/* A record as Redis keeps it and mql_apply_many sends it back
 * (mql_redis.lua, RECORD): little-endian, format byte 1, score (double),
 * first, last, since (uint32), seven counts (uint16), stage, trigger
 * event, site, flags, eight caps (uint8), country (2 bytes), then the
 * trigger and the contact each as a uint16 length and its bytes.  0 when
 * s is not that. */
#define MQL_REDIS_RECORD_FORMAT 1
#define MQL_REDIS_RECORD_MIN    53      /* with an empty trigger and contact */
int mql_redis_record_from_binary(const char *s, size_t len, const uint8_t id[MQL_ID_BYTES],
                                 mql_visitor_t *v, char *contact);

#endif
