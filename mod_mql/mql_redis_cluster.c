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
 * MQLStore redis-cluster:// (mql_redis_cluster.h): the key slot, the slot
 * map and a connection per master.  Used by the sync thread only: every
 * call here may wait up to MQLRedisTimeout, which no request does.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "apr_strings.h"
#include "mql_redis_cluster.h"
#include "mql_redis_io.h"

#define MAX_NODES 64              /* masters, ASK targets: far above any fleet's cluster */
#define HOST_LEN  256

uint16_t mql_redis_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    size_t i;
    int b;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint8_t)buf[i] << 8);
        for (b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned mql_redis_keyslot(const char *key, size_t len)
{
    size_t s, e;

    /* the first '{' and the first '}' after it; an empty tag is no tag */
    for (s = 0; s < len && key[s] != '{'; s++)
        ;
    if (s < len) {
        for (e = s + 1; e < len && key[e] != '}'; e++)
            ;
        if (e < len && e > s + 1)
            return mql_redis_crc16(key + s + 1, e - s - 1) & (MQL_REDIS_SLOTS - 1);
    }
    return mql_redis_crc16(key, len) & (MQL_REDIS_SLOTS - 1);
}

int mql_redis_redirect(const char *err, unsigned *slot, char *host, size_t hostlen, int *port)
{
    int kind;
    const char *p, *colon;
    char *end;
    unsigned long sl;
    long pt;

    if (!err)
        return 0;
    if (!strncmp(err, "MOVED ", 6))
        kind = MQL_RC_MOVED, p = err + 6;
    else if (!strncmp(err, "ASK ", 4))
        kind = MQL_RC_ASK, p = err + 4;
    else
        return 0;
    sl = strtoul(p, &end, 10);
    if (end == p || *end != ' ' || sl >= MQL_REDIS_SLOTS)
        return 0;
    p = end + 1;
    /* host:port, the host possibly an IPv6 address: the last colon */
    colon = strrchr(p, ':');
    if (!colon || colon == p || (size_t)(colon - p) >= hostlen)
        return 0;
    pt = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || pt <= 0 || pt > 65535)
        return 0;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    *slot = (unsigned)sl;
    *port = (int)pt;
    return kind;
}

typedef struct rc_node {
    char host[HOST_LEN];
    int port;
    int master;                   /* serves slots in the last map */
    unsigned pinned;              /* == the round's number: its connection is in use */
    redisContext *c;
} rc_node_t;

struct mql_rc {
    const mql_redis_url_t *url;
    mql_redis_wait_t own_wait;
    const mql_redis_wait_t *wait; /* the sync thread's, or own_wait */
    unsigned round;               /* from 1: a node pinned in round 0 is none */
    rc_node_t node[MAX_NODES];
    int nnodes;
    int16_t slot[MQL_REDIS_SLOTS];   /* node index, -1: not served */
};

mql_rc_t *mql_rc_make(apr_pool_t *p, const mql_redis_url_t *url, uint32_t timeout_ms)
{
    mql_rc_t *rc = apr_pcalloc(p, sizeof *rc);
    int i;

    rc->url = url;
    rc->own_wait.timeout_ms = timeout_ms;
    rc->wait = &rc->own_wait;
    rc->round = 1;
    for (i = 0; i < MQL_REDIS_SLOTS; i++)
        rc->slot[i] = -1;
    return rc;
}

void mql_rc_set_wait(mql_rc_t *rc, const mql_redis_wait_t *w)
{
    rc->wait = w ? w : &rc->own_wait;
}

void mql_rc_new_round(mql_rc_t *rc)
{
    /* 0 would pin every node never used */
    if (++rc->round == 0)
        rc->round = 1;
}

static void set_err(char *err, size_t errlen, const char *a, const char *b)
{
    if (err && errlen)
        apr_snprintf(err, errlen, "%s%s%s", a, b ? ": " : "", b ? b : "");
}

/* A connection to host:port with AUTH sent; NULL with why in err. */
static redisContext *open_node(mql_rc_t *rc, const char *host, int port, char *err,
                               size_t errlen)
{
    redisContext *c = mql_redis_connect(host, port, NULL, rc->wait);
    char where[HOST_LEN + 16];

    apr_snprintf(where, sizeof where, "%s:%d", host, port);
    if (!c || c->err) {
        set_err(err, errlen, where, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    if (rc->url->password) {
        const char *argv[3];
        size_t lens[3];
        int n = 0;
        redisReply *r;

        argv[n] = "AUTH", lens[n++] = 4;
        if (rc->url->user)
            argv[n] = rc->url->user, lens[n] = strlen(argv[n]), n++;
        argv[n] = rc->url->password, lens[n] = strlen(argv[n]), n++;
        r = mql_redis_command(c, rc->wait, n, argv, lens, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            set_err(err, errlen, where, r && r->str ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}

static int find_node(mql_rc_t *rc, const char *host, int port, int add)
{
    int i;

    for (i = 0; i < rc->nnodes; i++)
        if (rc->node[i].port == port && !strcmp(rc->node[i].host, host))
            return i;
    if (!add || strlen(host) >= HOST_LEN)
        return -1;
    if (rc->nnodes == MAX_NODES) {
        /* full: the first node that is no master gives its place, unless
         * its connection is in use this round (a call sent there, its
         * reply not read yet): freeing it would leave the caller reading
         * freed memory.  A table full of those refuses the new node. */
        for (i = 0; i < rc->nnodes && (rc->node[i].master || rc->node[i].pinned == rc->round);
             i++)
            ;
        if (i == rc->nnodes)
            return -1;
        if (rc->node[i].c)
            redisFree(rc->node[i].c);
    }
    else
        i = rc->nnodes++;
    memset(&rc->node[i], 0, sizeof rc->node[i]);
    apr_cpystrn(rc->node[i].host, host, HOST_LEN);
    rc->node[i].port = port;
    return i;
}

/* CLUSTER SLOTS as one node answers it into the map: 1 when it holds
 * at least one range. */
int mql_rc_take_slots(mql_rc_t *rc, const redisReply *r, const char *asked)
{
    int16_t map[MQL_REDIS_SLOTS];
    char master[MAX_NODES];       /* the old map stays whole until the new one is good */
    size_t i;
    int j, any = 0;

    if (r->type != REDIS_REPLY_ARRAY)
        return 0;
    for (j = 0; j < MQL_REDIS_SLOTS; j++)
        map[j] = -1;
    memset(master, 0, sizeof master);
    for (i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i], *m;
        const char *host;
        long long a, b, k;
        int n;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            continue;
        m = e->element[2];
        if (m->element[0]->type != REDIS_REPLY_STRING || m->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        /* an empty host: the node asked (Redis does not know its own address) */
        host = m->element[0]->len ? m->element[0]->str : asked;
        if ((n = find_node(rc, host, (int)m->element[1]->integer, 1)) < 0)
            continue;
        master[n] = 1;
        a = e->element[0]->integer;
        b = e->element[1]->integer;
        for (k = a < 0 ? 0 : a; k <= b && k < MQL_REDIS_SLOTS; k++)
            map[k] = (int16_t)n;
        any = 1;
    }
    if (any) {
        memcpy(rc->slot, map, sizeof map);
        for (j = 0; j < rc->nnodes; j++)
            rc->node[j].master = master[j];
    }
    return any;
}

static int ask_slots(mql_rc_t *rc, redisContext *c, const char *host, char *err, size_t errlen)
{
    const char *argv[2] = { "CLUSTER", "SLOTS" };
    const size_t lens[2] = { 7, 5 };
    redisReply *r = mql_redis_command(c, rc->wait, 2, argv, lens, NULL);
    int ok;

    if (!r) {
        set_err(err, errlen, host, c->errstr[0] ? c->errstr : "no reply");
        return -1;                 /* the connection is lost */
    }
    ok = mql_rc_take_slots(rc, r, host);
    if (!ok)
        set_err(err, errlen, host, r->type == REDIS_REPLY_ERROR && r->str ? r->str
                : "CLUSTER SLOTS: no slot served");
    freeReplyObject(r);
    return ok;
}

int mql_rc_refresh(mql_rc_t *rc, char *err, size_t errlen)
{
    int i, got;

    set_err(err, errlen, "no cluster node answered", NULL);
    /* the connections already open, then every node known, then the seeds:
     * after a master's failure any node still up knows the new map */
    for (i = 0; i < rc->nnodes; i++) {
        if (!rc->node[i].c)
            continue;
        got = ask_slots(rc, rc->node[i].c, rc->node[i].host, err, errlen);
        if (got > 0)
            return 1;
        if (got < 0) {
            redisFree(rc->node[i].c);
            rc->node[i].c = NULL;
        }
    }
    for (i = 0; i < rc->nnodes + rc->url->nnodes; i++) {
        const char *host = i < rc->nnodes ? rc->node[i].host : rc->url->nodes[i - rc->nnodes].host;
        int port = i < rc->nnodes ? rc->node[i].port : rc->url->nodes[i - rc->nnodes].port;
        char h[HOST_LEN];
        redisContext *c;

        if (i < rc->nnodes && rc->node[i].c)
            continue;
        apr_cpystrn(h, host, sizeof h);
        if (!(c = open_node(rc, h, port, err, errlen)))
            continue;
        got = ask_slots(rc, c, h, err, errlen);
        redisFree(c);
        if (got > 0)
            return 1;
    }
    return 0;
}

int mql_rc_slot_master(const mql_rc_t *rc, unsigned slot, const char **host)
{
    int n = slot < MQL_REDIS_SLOTS ? rc->slot[slot] : -1;

    if (n < 0)
        return 0;
    *host = rc->node[n].host;
    return rc->node[n].port;
}

int mql_rc_masters(const mql_rc_t *rc)
{
    int i, n = 0;

    for (i = 0; i < rc->nnodes; i++)
        n += rc->node[i].master;
    return n;
}

static redisContext *node_conn(mql_rc_t *rc, int n, int *fresh, char *err, size_t errlen)
{
    *fresh = 0;
    rc->node[n].pinned = rc->round;
    if (!rc->node[n].c) {
        if (!(rc->node[n].c = open_node(rc, rc->node[n].host, rc->node[n].port, err, errlen)))
            return NULL;
        *fresh = 1;
    }
    return rc->node[n].c;
}

redisContext *mql_rc_master(mql_rc_t *rc, int i, int *fresh, char *err, size_t errlen)
{
    int n;

    for (n = 0; n < rc->nnodes; n++)
        if (rc->node[n].master && i-- == 0)
            return node_conn(rc, n, fresh, err, errlen);
    set_err(err, errlen, "no such master", NULL);
    return NULL;
}

redisContext *mql_rc_for_slot(mql_rc_t *rc, unsigned slot, int *fresh, char *err,
                              size_t errlen)
{
    int n = slot < MQL_REDIS_SLOTS ? rc->slot[slot] : -1;

    if (n < 0) {
        set_err(err, errlen, "a slot of mod_mql's keys is served by no master", NULL);
        return NULL;
    }
    return node_conn(rc, n, fresh, err, errlen);
}

redisContext *mql_rc_for_node(mql_rc_t *rc, const char *host, int port, int *fresh,
                              char *err, size_t errlen)
{
    int n = find_node(rc, host, port, 1);

    if (n < 0) {
        set_err(err, errlen, "too many cluster nodes", NULL);
        return NULL;
    }
    return node_conn(rc, n, fresh, err, errlen);
}

void mql_rc_moved(mql_rc_t *rc, unsigned slot, const char *host, int port)
{
    int n = find_node(rc, host, port, 1);

    if (n >= 0 && slot < MQL_REDIS_SLOTS) {
        rc->slot[slot] = (int16_t)n;
        rc->node[n].master = 1;
    }
}

void mql_rc_close(mql_rc_t *rc)
{
    int i;

    for (i = 0; i < rc->nnodes; i++)
        if (rc->node[i].c) {
            redisFree(rc->node[i].c);
            rc->node[i].c = NULL;
        }
}
