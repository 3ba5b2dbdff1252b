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
 * hiredis calls with a deadline, for the sync thread (mql_redis_sync.c,
 * mql_redis_cluster.c).
 *
 * hiredis 0.14's blocking calls bound each read() by the socket's timeout,
 * not the reply: a server that sends a reply one byte at a time, each
 * within MQLRedisTimeout, holds the caller for ever, and with it the
 * child's stop.  Here a command's whole reply (a pipeline's every reply)
 * must arrive within the timeout, and a connection be made within it; the
 * waits go through poll() in short slices, so a stopping thread (cancel)
 * is let go at once.
 */
#ifndef MQL_REDIS_IO_H
#define MQL_REDIS_IO_H

#include <apr_time.h>
#include <hiredis/hiredis.h>

typedef struct mql_redis_wait {
    uint32_t timeout_ms;         /* MQLRedisTimeout: a command's whole reply */
    apr_time_t until;            /* no wait goes past this; 0: no such limit */
    const volatile int *cancel;  /* non-zero: every wait ends now; NULL: none */
} mql_redis_wait_t;

#define MQL_REDIS_IO_OK        0
#define MQL_REDIS_IO_ERR       1   /* hiredis's error (closed, refused, protocol) */
#define MQL_REDIS_IO_TIMEOUT   2   /* no whole reply by the deadline */
#define MQL_REDIS_IO_CANCELLED 3

/* A connection to host:port (path NULL) or the Unix socket path, made
 * within w's timeout, and cut short by its cancel flag: NULL (out of
 * memory), or a context whose err and errstr say whether it failed. */
redisContext *mql_redis_connect(const char *host, int port, const char *path,
                                const mql_redis_wait_t *w);

/* The deadline of a command sent now. */
apr_time_t mql_redis_deadline(const mql_redis_wait_t *w);

/* What is buffered for c sent, then its next reply read, no later than
 * deadline: MQL_REDIS_IO_OK with *reply, or another MQL_REDIS_IO_* with
 * c->errstr saying why; the connection is then out of step and must go. */
int mql_redis_get_reply(redisContext *c, const mql_redis_wait_t *w, apr_time_t deadline,
                        redisReply **reply);

/* One command and its reply within w's timeout: the reply, or NULL with
 * c->errstr saying why (why, when not NULL: the MQL_REDIS_IO_* result). */
redisReply *mql_redis_command(redisContext *c, const mql_redis_wait_t *w, int argc,
                              const char **argv, const size_t *lens, int *why);

#endif
