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
 * mqlctl's side of MQLStore redis:// (mqlctl_redis.h): one connection, or
 * on a Redis Cluster one per master (mql_redis_cluster.c), used for a
 * handful of commands by one forget.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "mql_cookie.h"
#include "mql_redis_cluster.h"
#include "mql_redis_io.h"
#include "mql_redis_sync.h"
#include "mqlctl_redis.h"

#define STORE_FILE_MAX 65536
#define SCAN_STEP "1000"             /* stream entries per mql_forget_scan: ~15 ms of Redis */
#define REDIRECTS 5

struct mqlctl_redis {
    apr_pool_t *p;
    const mql_redis_url_t *url;
    redisContext *c;                /* single Redis; on a cluster the one in use */
    mql_rc_t *rc;                   /* redis-cluster:// */
    mql_redis_wait_t wait;          /* every reply within the timeout */
    const char *error;
};

/* ---- the files the parent left ------------------------------------------ */

/* One of them, opened as mqlctl_redis_config says; 1 read, 0 absent,
 * -1 refused or unreadable (why). */
static int read_trusted(apr_pool_t *p, const char *path, apr_off_t max, int secret,
                        const char **text, const char **why)
{
    struct stat st;
    char *buf;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        *why = errno == EACCES
               ? apr_psprintf(p, "%s may be read by root only: run mqlctl as root", path)
               : apr_psprintf(p, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > max
        || (geteuid() == 0
            ? st.st_uid != 0 || st.st_nlink != 1 || (st.st_mode & (S_IWGRP | S_IWOTH))
              || (secret && (st.st_mode & (S_IRGRP | S_IROTH)))
            : st.st_uid != 0 && st.st_uid != geteuid())) {
        close(fd);
        *why = apr_psprintf(p, "%s is not a file the server's parent wrote (a regular file "
                            "of root's, one name, at most %" APR_OFF_T_FMT " bytes, that "
                            "nobody else may write); not read", path, max);
        return -1;
    }
    buf = apr_palloc(p, (apr_size_t)st.st_size + 1);
    n = read(fd, buf, (size_t)st.st_size);
    close(fd);
    if (n != (ssize_t)st.st_size) {
        *why = apr_psprintf(p, "cannot read %s", path);
        return -1;
    }
    buf[n] = '\0';
    *text = buf;
    return 1;
}

int mqlctl_redis_config(apr_pool_t *p, const char *dir, mql_redis_url_t **url,
                        const char **why)
{
    const char *path = apr_pstrcat(p, dir, "/" MQL_REDIS_STORE_NAME, NULL);
    const char *auth = apr_pstrcat(p, dir, "/" MQL_REDIS_AUTH_NAME, NULL);
    const char *text = NULL, *err;
    int rc = read_trusted(p, path, STORE_FILE_MAX, 0, &text, why);

    if (rc <= 0)
        return rc;
    *url = apr_pcalloc(p, sizeof **url);
    if ((err = mql_redis_store_parse(p, text, *url))) {
        *why = apr_psprintf(p, "%s: %s", path, err);
        return -1;
    }
    text = NULL;
    rc = read_trusted(p, auth, MQL_REDIS_AUTH_MAX, 1, &text, why);
    if (rc < 0)
        return -1;
    if (rc > 0 && !((*url)->password = mql_redis_password_text(p, text, strlen(text)))) {
        *why = apr_psprintf(p, "%s holds no password", auth);
        return -1;
    }
    return 1;
}

/* ---- commands ------------------------------------------------------------- */

static int fail(mqlctl_redis_t *r, const char *what, const char *detail)
{
    r->error = apr_pstrcat(r->p, what, detail ? ": " : "", detail ? detail : "", NULL);
    return -1;
}

/* One command on the connection in use, its whole reply within the
 * timeout (a cluster's connections are made non-blocking, so hiredis's
 * blocking calls would not wait for one): the reply, or NULL with
 * r->c->errstr saying why. */
static redisReply *call(mqlctl_redis_t *r, int argc, const char **argv)
{
    size_t *lens = apr_palloc(r->p, (apr_size_t)argc * sizeof *lens);
    int i;

    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return mql_redis_command(r->c, &r->wait, argc, argv, lens, NULL);
}

/* A command whose reply only says done: 0, or -1 with r->error. */
static int must(mqlctl_redis_t *r, int argc, const char **argv)
{
    redisReply *x = call(r, argc, argv);
    int rv = x && x->type != REDIS_REPLY_ERROR ? 0 : fail(r, argv[0], x ? x->str : r->c->errstr);

    if (x)
        freeReplyObject(x);
    return rv;
}

/* AUTH and SELECT on a new connection (a cluster's had AUTH already). */
static int prepare(mqlctl_redis_t *r)
{
    if (r->url->password && !r->rc) {
        const char *with_user[] = { "AUTH", r->url->user, r->url->password };
        const char *without[] = { "AUTH", r->url->password };

        if ((r->url->user ? must(r, 3, with_user) : must(r, 2, without)) < 0)
            return -1;
    }
    if (r->url->db && !r->rc) {
        const char *select[] = { "SELECT", apr_itoa(r->p, r->url->db) };

        if (must(r, 2, select) < 0)
            return -1;
    }
    return 0;
}

/* The connection for shard's keys (on a single Redis, the one). */
static int use_shard(mqlctl_redis_t *r, unsigned shard)
{
    char key[MQL_REDIS_KEY_LEN], err[160];
    int fresh = 0;

    if (!r->rc)
        return r->c ? 0 : -1;
    mql_redis_key_seq(key, shard);
    if (!(r->c = mql_rc_for_slot(r->rc, mql_redis_keyslot(key, strlen(key)), &fresh, err,
                                 sizeof err)))
        return fail(r, "Redis Cluster", err);
    return fresh ? prepare(r) : 0;
}

/* A command for shard's keys: its reply (not an error), or NULL with
 * r->error.  A Cluster's MOVED and ASK are followed; a library missing
 * (Redis emptied, or one of an earlier version without forget) is loaded
 * from this build's and the command sent again. */
static redisReply *command(mqlctl_redis_t *r, unsigned shard, int argc, const char **argv)
{
    redisReply *x;
    int hops, loaded = 0;

    if (use_shard(r, shard) < 0)
        return NULL;
    for (hops = 0; hops < REDIRECTS; hops++) {
        char host[256], err[160];
        unsigned slot;
        int port, fresh, kind;

        if (!(x = call(r, argc, argv))) {
            fail(r, "Redis", r->c->errstr);
            return NULL;
        }
        if (x->type != REDIS_REPLY_ERROR)
            return x;
        if (!loaded && x->str && strstr(x->str, "Function not found")) {
            const char *load[] = { "FUNCTION", "LOAD", "REPLACE",
                                   mql_redis_library(r->p, mql_redis_lua) };
            redisReply *l = call(r, 4, load);
            int ok = l && l->type != REDIS_REPLY_ERROR;

            if (!ok)
                fail(r, "FUNCTION LOAD", l ? l->str : r->c->errstr);
            if (l)
                freeReplyObject(l);
            freeReplyObject(x);
            if (!ok)
                return NULL;
            loaded = 1;
            continue;
        }
        kind = r->rc ? mql_redis_redirect(x->str, &slot, host, sizeof host, &port) : 0;
        if (!kind) {
            fail(r, argv[0], x->str);
            freeReplyObject(x);
            return NULL;
        }
        freeReplyObject(x);
        if (kind == MQL_RC_MOVED)
            mql_rc_moved(r->rc, slot, host, port);
        if (!(r->c = mql_rc_for_node(r->rc, host, port, &fresh, err, sizeof err))) {
            fail(r, "Redis Cluster", err);
            return NULL;
        }
        if (fresh && prepare(r) < 0)
            return NULL;
        if (kind == MQL_RC_ASK) {
            const char *asking[] = { "ASKING" };

            if ((x = call(r, 1, asking)))
                freeReplyObject(x);
        }
    }
    fail(r, argv[0], "redirected too often");
    return NULL;
}

mqlctl_redis_t *mqlctl_redis_open(apr_pool_t *p, const mql_redis_url_t *url,
                                  uint32_t timeout_ms, const char **why)
{
    mqlctl_redis_t *r = apr_pcalloc(p, sizeof *r);
    struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
    char err[160];

    r->p = p;
    r->url = url;
    r->wait.timeout_ms = timeout_ms;
    if (url->kind == MQL_REDIS_CLUSTER) {
        r->rc = mql_rc_make(p, url, timeout_ms);
        if (!mql_rc_refresh(r->rc, err, sizeof err)) {
            *why = apr_pstrdup(p, err);
            mql_rc_close(r->rc);
            return NULL;
        }
        return r;
    }
    r->c = url->kind == MQL_REDIS_UNIX ? redisConnectUnixWithTimeout(url->path, tv)
                                       : redisConnectWithTimeout(url->host, url->port, tv);
    if (!r->c || r->c->err) {
        *why = r->c ? apr_pstrdup(p, r->c->errstr) : "out of memory";
        if (r->c)
            redisFree(r->c);
        return NULL;
    }
    redisSetTimeout(r->c, tv);
    if (prepare(r) < 0) {
        *why = r->error;
        mqlctl_redis_close(r);
        return NULL;
    }
    return r;
}

void mqlctl_redis_close(mqlctl_redis_t *r)
{
    if (r->rc)
        mql_rc_close(r->rc);
    else if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

const char *mqlctl_redis_error(mqlctl_redis_t *r)
{
    return r->error ? r->error : "no reply";
}

/* ---- forget ----------------------------------------------------------------- */

static const char *id_text(apr_pool_t *p, const uint8_t id[MQL_ID_BYTES])
{
    char *t = apr_palloc(p, MQL_ID_TEXT_LEN + 1);

    mql_id_to_text(id, t);
    return t;
}

static const char *str_of(apr_pool_t *p, const redisReply *x)
{
    if (x->type == REDIS_REPLY_STRING || x->type == REDIS_REPLY_STATUS)
        return apr_pstrmemdup(p, x->str, x->len);
    if (x->type == REDIS_REPLY_INTEGER)
        return apr_psprintf(p, "%lld", x->integer);
    return "";
}

int mqlctl_redis_contact(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES],
                         const char **contact)
{
    char vkey[MQL_REDIS_KEY_LEN];
    const char *argv[4] = { "FCALL_RO", "mql_fields", "1", vkey };
    redisReply *x;
    size_t i;

    mql_redis_key_visitor(vkey, id);
    *contact = "";
    if (!(x = command(r, mql_redis_shard(id), 4, argv)))
        return -1;
    for (i = 0; x->type == REDIS_REPLY_ARRAY && i + 1 < x->elements; i += 2)
        if (!strcmp(str_of(r->p, x->element[i]), "contact"))
            *contact = str_of(r->p, x->element[i + 1]);
    freeReplyObject(x);
    return 0;
}

int mqlctl_redis_stream_end(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES], char *pos)
{
    char key[MQL_REDIS_KEY_LEN];
    const char *argv[6] = { "XREVRANGE", key, "+", "-", "COUNT", "1" };
    redisReply *x;

    mql_redis_key_stream(key, mql_redis_shard(id));
    apr_cpystrn(pos, "0-0", MQL_RQ_STREAM_ID);
    if (!(x = command(r, mql_redis_shard(id), 6, argv)))
        return -1;
    if (x->type == REDIS_REPLY_ARRAY && x->elements == 1
        && x->element[0]->type == REDIS_REPLY_ARRAY && x->element[0]->elements == 2)
        apr_cpystrn(pos, str_of(r->p, x->element[0]->element[0]), MQL_RQ_STREAM_ID);
    freeReplyObject(x);
    return 0;
}

/* A stream entry's field, "" when absent. */
static const char *entry_field(apr_pool_t *p, const redisReply *e, const char *name)
{
    const redisReply *fv;
    size_t j;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
        return "";
    fv = e->element[1];
    for (j = 0; j + 1 < fv->elements; j += 2)
        if (!strcmp(str_of(p, fv->element[j]), name))
            return str_of(p, fv->element[j + 1]);
    return "";
}

int mqlctl_redis_await_forget(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES],
                              const char *pos, apr_time_t deadline)
{
    char key[MQL_REDIS_KEY_LEN], from[MQL_RQ_STREAM_ID + 1];
    const char *argv[6] = { "XRANGE", key, from, "+", "COUNT", "1000" };
    const char *want = id_text(r->p, id);

    mql_redis_key_stream(key, mql_redis_shard(id));
    apr_snprintf(from, sizeof from, "(%s", pos);
    for (;;) {
        redisReply *x = command(r, mql_redis_shard(id), 6, argv);
        size_t i;
        int seen = 0;

        if (!x)
            return -1;
        for (i = 0; x->type == REDIS_REPLY_ARRAY && i < x->elements; i++) {
            const redisReply *e = x->element[i];

            if (!strcmp(entry_field(r->p, e, "type"), "f")
                && !strcmp(entry_field(r->p, e, "id"), want))
                seen = 1;
            if (e->type == REDIS_REPLY_ARRAY && e->elements == 2)
                apr_snprintf(from, sizeof from, "(%s", str_of(r->p, e->element[0]));
        }
        freeReplyObject(x);
        if (seen)
            return 1;
        if (apr_time_now() >= deadline)
            return 0;
        apr_sleep(apr_time_from_msec(50));
    }
}

int mqlctl_redis_forget(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES], int *existed,
                        const char **contact)
{
    char vkey[MQL_REDIS_KEY_LEN], stream[MQL_REDIS_KEY_LEN], totals[MQL_REDIS_KEY_LEN];
    unsigned shard = mql_redis_shard(id);
    const char *now = apr_psprintf(r->p, "%" APR_TIME_T_FMT, apr_time_sec(apr_time_now()));
    const char *argv[8] = { "FCALL", "mql_forget", "3", vkey, stream, totals,
                            id_text(r->p, id), now };
    redisReply *x;

    mql_redis_key_visitor(vkey, id);
    mql_redis_key_stream(stream, shard);
    mql_redis_key_totals(totals, shard);
    if (!(x = command(r, shard, 8, argv)))
        return -1;
    if (x->type != REDIS_REPLY_ARRAY || x->elements != 2) {
        freeReplyObject(x);
        return fail(r, "mql_forget", "an unexpected reply");
    }
    *existed = x->element[0]->type == REDIS_REPLY_INTEGER && x->element[0]->integer == 1;
    *contact = str_of(r->p, x->element[1]);
    freeReplyObject(x);
    return 0;
}

/* One shard's stream, step by step, to its end. */
static int scrub_shard(mqlctl_redis_t *r, unsigned shard, const char *id,
                       const apr_array_header_t *contacts, unsigned *deleted)
{
    char key[MQL_REDIS_KEY_LEN];
    const char *argv[16];
    const char *from = "-";
    int argc, i;

    mql_redis_key_stream(key, shard);
    for (;;) {
        redisReply *x;

        argc = 0;
        argv[argc++] = "FCALL";
        argv[argc++] = "mql_forget_scan";
        argv[argc++] = "1";
        argv[argc++] = key;
        argv[argc++] = from;
        argv[argc++] = SCAN_STEP;
        argv[argc++] = id;
        for (i = 0; i < contacts->nelts && argc < 16; i++)
            argv[argc++] = ((const char **)contacts->elts)[i];
        if (!(x = command(r, shard, argc, argv)))
            return -1;
        if (x->type != REDIS_REPLY_ARRAY || x->elements != 2) {
            freeReplyObject(x);
            return fail(r, "mql_forget_scan", "an unexpected reply");
        }
        if (x->element[1]->type == REDIS_REPLY_INTEGER)
            *deleted += (unsigned)x->element[1]->integer;
        from = str_of(r->p, x->element[0]);
        freeReplyObject(x);
        if (!*from)
            return 0;
    }
}

int mqlctl_redis_scrub(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES],
                       const apr_array_header_t *contacts, unsigned *deleted)
{
    const char *own = id_text(r->p, id);
    unsigned shard, mine = mql_redis_shard(id);

    /* a visitor's own entries are all in its shard's stream; the same
     * contact may be in another visitor's, in any */
    for (shard = 0; shard < MQL_RQ_SHARDS; shard++) {
        if (shard != mine && !contacts->nelts)
            continue;
        if (scrub_shard(r, shard, shard == mine ? own : "", contacts, deleted) < 0)
            return -1;
    }
    return 0;
}
