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
 * hiredis calls with a deadline (mql_redis_io.c), against the other end
 * of a socket pair written by a thread: a reply in pieces is read whole;
 * a reply trickled a byte at a time, each well within the timeout, ends
 * at the deadline all the same; the cancel flag ends a wait at once; a
 * stop's limit cuts a wait short; a closed connection is an error; a
 * connection is made without blocking, or refused with the reason.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_time.h>

#include "tap.h"
#include "mql_redis_io.h"

typedef struct peer {
    int fd;
    const char *text;             /* written a byte every gap_ms */
    unsigned gap_ms;
    unsigned repeat;              /* then the last byte this many times more */
    volatile int *cancel;         /* set after cancel_ms, when not NULL */
    unsigned cancel_ms;
    int hang_up;                  /* then close the connection */
} peer_t;

static void *peer_main(void *data)
{
    peer_t *p = data;
    size_t i, n = strlen(p->text);
    apr_time_t start = apr_time_now();

    for (i = 0; i < n + p->repeat; i++) {
        char c = p->text[i < n ? i : n - 1];

        if (p->cancel && apr_time_now() - start >= apr_time_from_msec(p->cancel_ms))
            *p->cancel = 1;
        if (write(p->fd, &c, 1) != 1)
            break;
        apr_sleep(apr_time_from_msec(p->gap_ms));
    }
    if (p->hang_up)
        shutdown(p->fd, SHUT_WR);
    return NULL;
}

/* A context on one end of a pair, a thread writing p to the other; the
 * command "PING" sent, the reply read under w.  Its result; *ms: how long. */
static int run(peer_t *p, mql_redis_wait_t *w, redisReply **r, long *ms, char *err, size_t len)
{
    int sv[2], rv;
    pthread_t th;
    redisContext *c;
    const char *argv[1] = { "PING" };
    size_t lens[1] = { 4 };
    apr_time_t t0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    c = redisConnectFd(sv[0]);
    p->fd = sv[1];
    pthread_create(&th, NULL, peer_main, p);
    t0 = apr_time_now();
    redisAppendCommandArgv(c, 1, argv, lens);
    rv = mql_redis_get_reply(c, w, mql_redis_deadline(w), r);
    *ms = (long)((apr_time_now() - t0) / 1000);
    snprintf(err, len, "%s", c->errstr);
    /* the peer stops at its next write */
    shutdown(sv[1], SHUT_RDWR);
    redisFree(c);
    pthread_join(th, NULL);
    close(sv[1]);
    return rv;
}

int main(void)
{
    mql_redis_wait_t w;
    volatile int cancel = 0;
    redisReply *r = NULL;
    char err[128];
    long ms;
    peer_t p;

    apr_initialize();
    /* the peer may write after this end has closed: EPIPE, not a signal */
    signal(SIGPIPE, SIG_IGN);
    memset(&w, 0, sizeof w);
    w.timeout_ms = 300;

    memset(&p, 0, sizeof p);
    p.text = "$5\r\nhello\r\n";
    p.gap_ms = 10;
    is_int(run(&p, &w, &r, &ms, err, sizeof err), MQL_REDIS_IO_OK,
           "a reply in pieces, each 10 ms apart: read whole");
    ok(r && r->type == REDIS_REPLY_STRING && r->len == 5 && !memcmp(r->str, "hello", 5),
       "... as it was sent");
    if (r)
        freeReplyObject(r);
    r = NULL;

    /* a bulk string that never ends: a byte every 50 ms, for 6 s */
    p.text = "$100000\r\nx";
    p.gap_ms = 50;
    p.repeat = 120;
    is_int(run(&p, &w, &r, &ms, err, sizeof err), MQL_REDIS_IO_TIMEOUT,
           "a byte every 50 ms with a timeout of 300 ms: timed out all the same");
    ok(ms >= 290 && ms < 2000, "... at the deadline (%ld ms)", ms);
    ok(strstr(err, "no whole reply within 300 ms") != NULL, "... saying so (%s)", err);
    ok(r == NULL, "... with no reply");

    w.timeout_ms = 60000;
    w.cancel = &cancel;
    p.cancel = (volatile int *)&cancel;
    p.cancel_ms = 200;
    is_int(run(&p, &w, &r, &ms, err, sizeof err), MQL_REDIS_IO_CANCELLED,
           "a timeout of 60 s, the thread told to stop after 200 ms: the wait ends");
    ok(ms < 1500, "... at once (%ld ms)", ms);

    cancel = 0;
    p.cancel = NULL;
    w.cancel = NULL;
    w.until = apr_time_now() + apr_time_from_msec(250);
    is_int(run(&p, &w, &r, &ms, err, sizeof err), MQL_REDIS_IO_TIMEOUT,
           "a timeout of 60 s, a stop's limit 250 ms away: the limit ends the wait");
    ok(ms < 1500, "... in time (%ld ms)", ms);

    w.until = 0;
    w.timeout_ms = 300;
    p.text = "+O";
    p.repeat = 0;
    p.gap_ms = 1;
    p.hang_up = 1;
    is_int(run(&p, &w, &r, &ms, err, sizeof err), MQL_REDIS_IO_ERR,
           "half a reply, then the connection closed: an error (%s)", err);
    ok(r == NULL && ms < 290, "... at once, with no reply (%ld ms)", ms);

    /* connections: a listening port, then the same port closed */
    {
        int l = socket(AF_INET, SOCK_STREAM, 0), port;
        struct sockaddr_in a;
        socklen_t alen = sizeof a;
        redisContext *c;

        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(l, (struct sockaddr *)&a, sizeof a);
        listen(l, 4);
        getsockname(l, (struct sockaddr *)&a, &alen);
        port = ntohs(a.sin_port);
        c = mql_redis_connect("127.0.0.1", port, NULL, &w);
        ok(c && !c->err, "a connection to a listening port (%s)", c ? c->errstr : "none");
        if (c)
            redisFree(c);
        close(l);
        c = mql_redis_connect("127.0.0.1", port, NULL, &w);
        ok(c && c->err && strstr(c->errstr, "refused"), "... closed: refused (%s)",
           c ? c->errstr : "none");
        if (c)
            redisFree(c);
    }
    return done_testing();
}
