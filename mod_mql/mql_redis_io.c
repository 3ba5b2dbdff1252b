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
 * hiredis calls with a deadline (why: mql_redis_io.h).
 *
 * The connection is switched to non-blocking on first use here, and hiredis
 * is told so (REDIS_BLOCK cleared): its buffered read and write then take
 * EAGAIN as "later" instead of an error, and never block themselves, so
 * the only waits are the poll() calls below.  No blocking hiredis call
 * (redisCommand, redisGetReply) may be used on such a connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "apr_strings.h"
#include "mql_redis_io.h"

/* the longest a wait goes without looking at the cancel flag */
#define SLICE apr_time_from_msec(50)

apr_time_t mql_redis_deadline(const mql_redis_wait_t *w)
{
    return apr_time_now() + apr_time_from_msec(w->timeout_ms);
}

static int failed(redisContext *c, int why, const char *text)
{
    /* hiredis keeps err for its own failures; ours read the same way */
    c->err = REDIS_ERR_IO;
    apr_cpystrn(c->errstr, text, sizeof c->errstr);
    return why;
}

static void nonblocking(redisContext *c)
{
    int fl;

    if (!(c->flags & REDIS_BLOCK))
        return;
    fl = fcntl(c->fd, F_GETFL);
    if (fl >= 0 && fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) == 0)
        c->flags &= ~REDIS_BLOCK;
}

/* c's socket ready for events, or why not by the deadline (what: what
 * did not come in time, for the message). */
static int wait_fd(redisContext *c, short events, const mql_redis_wait_t *w,
                   apr_time_t deadline, const char *what)
{
    if (w->until && w->until < deadline)
        deadline = w->until;
    for (;;) {
        apr_time_t now = apr_time_now(), left;
        struct pollfd pfd;
        int n;

        if (w->cancel && *w->cancel)
            return failed(c, MQL_REDIS_IO_CANCELLED, "the sync thread is stopping");
        if (now >= deadline) {
            char text[sizeof c->errstr];

            apr_snprintf(text, sizeof text, "%s within %u ms (MQLRedisTimeout)", what,
                         w->timeout_ms);
            return failed(c, MQL_REDIS_IO_TIMEOUT, text);
        }
        left = deadline - now;
        if (w->cancel && left > SLICE)
            left = SLICE;
        pfd.fd = c->fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, (int)((left + 999) / 1000));
        /* POLLERR and POLLHUP too: the read or write that follows says what */
        if (n > 0)
            return MQL_REDIS_IO_OK;
        if (n < 0 && errno != EINTR)
            return failed(c, MQL_REDIS_IO_ERR, strerror(errno));
    }
}

int mql_redis_get_reply(redisContext *c, const mql_redis_wait_t *w, apr_time_t deadline,
                        redisReply **reply)
{
    void *r = NULL;
    int done = 0, rv;

    *reply = NULL;
    if (c->err)
        return MQL_REDIS_IO_ERR;
    nonblocking(c);
    if (redisGetReplyFromReader(c, &r) != REDIS_OK)
        return MQL_REDIS_IO_ERR;
    if (r) {
        *reply = r;
        return MQL_REDIS_IO_OK;
    }
    for (;;) {
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return MQL_REDIS_IO_ERR;
        if (done)
            break;
        if ((rv = wait_fd(c, POLLOUT, w, deadline, "no whole reply")) != MQL_REDIS_IO_OK)
            return rv;
    }
    for (;;) {
        if ((rv = wait_fd(c, POLLIN, w, deadline, "no whole reply")) != MQL_REDIS_IO_OK)
            return rv;
        if (redisBufferRead(c) != REDIS_OK || redisGetReplyFromReader(c, &r) != REDIS_OK)
            return MQL_REDIS_IO_ERR;
        if (r) {
            *reply = r;
            return MQL_REDIS_IO_OK;
        }
    }
}

redisContext *mql_redis_connect(const char *host, int port, const char *path,
                               const mql_redis_wait_t *w)
{
    redisContext *c = path ? redisConnectUnixNonBlock(path) : redisConnectNonBlock(host, port);
    int soerr = 0;
    socklen_t len = sizeof soerr;

    if (!c || c->err)
        return c;
    /* hiredis leaves its socket to the programs a child starts (CGI, PHP's
     * shell_exec): only this process may talk to Redis */
    fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    if (wait_fd(c, POLLOUT, w, mql_redis_deadline(w), "no connection") != MQL_REDIS_IO_OK)
        return c;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr)
        failed(c, MQL_REDIS_IO_ERR, strerror(soerr));
    return c;
}

redisReply *mql_redis_command(redisContext *c, const mql_redis_wait_t *w, int argc,
                              const char **argv, const size_t *lens, int *why)
{
    redisReply *r = NULL;
    int rv = MQL_REDIS_IO_ERR;

    if (redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK)
        rv = mql_redis_get_reply(c, w, mql_redis_deadline(w), &r);
    if (why)
        *why = rv;
    return rv == MQL_REDIS_IO_OK ? r : NULL;
}
