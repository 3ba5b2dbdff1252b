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
 * The MQLNotify program, started by the background writer.
 *
 * httpd's own piped logs are started by the parent, as root, and every
 * child inherits the pipe's write end: whatever a site runs in a child
 * (PHP's shell_exec, a CGI bug) could feed forged lines to a root
 * program.  So the program is started here, from the writer's process,
 * which already runs as User and Group; the pipe is made close-on-exec,
 * and that process is the only one that holds its write end.
 *
 * The writer also keeps the read end, as httpd does for its reliable
 * piped logs: while a program that died is started again, lines wait in
 * the pipe instead of being lost.  When the writer's process goes away
 * (graceful restart, stop, a crash), the program reads what is left and
 * sees the end of its input; the next writer starts its own.
 *
 * The writer's notification job is here too: each round drains the
 * store's change ring into the program, one JSON line per stage change
 * (mql_notify.c builds it), without ever blocking on the pipe, and puts
 * the same object in the webhooks' outbox (mod_mql_webhook.c).  The
 * position in the ring lives in the writer's shared segment, so no
 * notification is sent twice when the writer moves to another child.
 */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "apr_strings.h"

#include "mod_mql_jobs.h"
#include "mod_mql_journal.h"
#include "mod_mql_notify.h"
#include "mod_mql_webhook.h"
#include "mql_cookie.h"
#include "mql_notify.h"
#include "mql_record.h"

APLOG_USE_MODULE(mql);

extern char **environ;

#define RESTART_GAP     apr_time_from_sec(1)    /* between two starts */
#define FAILED_GAP_MAX  apr_time_from_sec(60)   /* a program that cannot run */
#define CHANGES_BATCH   64

static const char *program;        /* as configured, for the log */
static char **argv;                /* made in the parent: no malloc after fork */
static int pipe_rd = -1, pipe_wr = -1;
static pid_t running;              /* the program's PID, 0 = none */
static pid_t owner;                /* the process these belong to */
static apr_time_t next_start;
static apr_interval_time_t failed_gap = RESTART_GAP;

apr_status_t mql_notify_setup(apr_pool_t *pconf, server_rec *s)
{
    const char *prog = mql_g->notify;

    argv = NULL;
    program = NULL;
    if (!prog)
        return APR_SUCCESS;
    prog++;                                  /* past the '|' */
    if (*prog == '$') {                      /* "|$cmd": through the shell, as httpd's logs */
        argv = apr_pcalloc(pconf, 4 * sizeof *argv);
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = apr_pstrdup(pconf, prog + 1);
    }
    else if (apr_tokenize_to_argv(prog, &argv, pconf) != APR_SUCCESS || !argv[0]) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL03052: MQLNotify: cannot start %s", prog);
        return APR_EGENERAL;
    }
    program = prog;
    return APR_SUCCESS;
}

/* In the new process, before exec: only async-signal-safe calls (the
 * writer's process has other threads, whose locks may be held). */
static void child_exec(int report)
{
    struct sigaction dfl;
    sigset_t none;
    int sig, err;

    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    /* httpd ignores or catches these; the program starts as any program */
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(pipe_rd, STDIN_FILENO) < 0)
        goto fail;
    /* nothing of the writer's but its input (everything the module opens
     * is close-on-exec already; other modules' descriptors may not be) */
#ifdef SYS_close_range
    if (report > 3)
        syscall(SYS_close_range, 3, (unsigned)report - 1, 0);
    if (syscall(SYS_close_range, (unsigned)report + 1, ~0U, 0) != 0)
#endif
    {
        int fd;

        for (fd = 3; fd < 4096; fd++)
            if (fd != report)
                close(fd);
    }
    execve(argv[0], argv, environ);
fail:
    err = errno;
    if (write(report, &err, sizeof err) < 0) {
        /* the writer then sees an exit of 127 */
    }
    _exit(127);
}

/* Start the program; 1 when it runs. */
static int start(server_rec *s)
{
    int report[2], err = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(report, O_CLOEXEC) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                     "MQL08003: MQLNotify: cannot start %s", program);
        return 0;
    }
    pid = fork();
    if (pid == 0) {
        close(report[0]);
        child_exec(report[1]);
    }
    close(report[1]);
    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                     "MQL08003: MQLNotify: cannot start %s", program);
        close(report[0]);
        return 0;
    }
    /* the report pipe closes at exec (nothing read), or says why not */
    do
        n = read(report[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof err) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        ap_log_error(APLOG_MARK, APLOG_ERR, err, s, "MQL08002: MQLNotify: cannot run %s as "
                     "the server's user (uid %ld); trying again in %" APR_TIME_T_FMT " s",
                     program, (long)geteuid(), apr_time_sec(failed_gap));
        next_start = apr_time_now() + failed_gap;
        failed_gap = failed_gap * 2 > FAILED_GAP_MAX ? FAILED_GAP_MAX : failed_gap * 2;
        return 0;
    }
    failed_gap = RESTART_GAP;
    running = pid;
    return 1;
}

/* The program died (or was killed): said, and it is started again. */
static void check_running(server_rec *s)
{
    int status = 0;
    pid_t r;

    do
        r = waitpid(running, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return;
    if (r == running) {
        if (WIFSIGNALED(status))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL08001: MQLNotify program %s "
                         "(pid %ld) was killed by signal %d; starting it again", program,
                         (long)running, WTERMSIG(status));
        else
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL08001: MQLNotify program %s "
                         "(pid %ld) exited with status %d; starting it again", program,
                         (long)running, WEXITSTATUS(status));
    }
    running = 0;
}

int mql_notify_ready(server_rec *s)
{
    apr_time_t now;
    int fds[2];

    if (!argv)
        return 0;
    if (owner != getpid()) {
        /* a process forked from one that had them (none should) */
        pipe_rd = pipe_wr = -1;
        running = 0;
        owner = getpid();
    }
    if (pipe_wr < 0) {
        if (pipe2(fds, O_CLOEXEC) != 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                         "MQL08003: MQLNotify: cannot start %s", program);
            return 1;
        }
        pipe_rd = fds[0];
        pipe_wr = fds[1];
    }
    if (running)
        check_running(s);
    now = apr_time_now();
    if (!running && now >= next_start) {
        next_start = now + RESTART_GAP;
        start(s);
    }
    return 1;
}

int mql_notify_write(const char *line)
{
    struct pollfd pfd;
    size_t len = strlen(line);
    ssize_t n;

    if (pipe_wr < 0 || owner != getpid())
        return 0;
    pfd.fd = pipe_wr;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    /* POLLOUT on a pipe: at least a page free, and a write below PIPE_BUF
     * is atomic, so this write neither blocks nor splits */
    if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT))
        return 0;
    do
        n = write(pipe_wr, line, len);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len;
}

void mql_notify_release(void)
{
    if (owner != getpid())
        return;
    if (pipe_wr >= 0)
        close(pipe_wr);
    if (pipe_rd >= 0)
        close(pipe_rd);
    pipe_rd = pipe_wr = -1;
    if (running)
        waitpid(running, NULL, WNOHANG);
    running = 0;
}

/* ------------------------------------------------------------------ */
/* Stage changes, one line each                                        */

static const char *story_of(apr_pool_t *p, int max, void *baton)
{
    return mql_journal_story_of(p, baton, max);
}

static char *change_json(apr_pool_t *p, const mql_change_t *c, uint64_t seq,
                         mql_notification_t *ev)
{
    char stream[MQL_SOURCE_LEN], stream_id[MQL_SOURCE_LEN];
    char id[MQL_ID_TEXT_LEN + 1], contact[MQL_CONTACT_LEN];
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    mql_visitor_t v;
    mql_lead_t lead;
    int known, streamed = 0;

    mql_id_to_text(c->id, id);
    known = mql_visitors_get_id(mql_g->store, c->id, now, &v, contact);
    if (known)
        mql_lead_from_visitor(&lead, &v, contact, now, (uint32_t)mql_g->half_life, p);
    /* a store shared by a fleet (MQLStore redis://): its stream and entry */
    streamed = mql_visitors_change_source(mql_g->store, seq, stream, stream_id);
    memset(ev, 0, sizeof *ev);
    ev->type = "stage";
    ev->event = ev->stage = mql_stage_name((mql_stage_t)c->new_stage);
    /* the same event produced again (a writer killed before it moved on
     * in the ring, or a fleet stream entry delivered twice) has the same
     * key, hence the same delivery ID */
    ev->key = streamed ? apr_pstrcat(p, "stream:", stream, ":", stream_id, NULL)
                       : apr_psprintf(p, "stage:%s:%u:%u:%u:%" APR_UINT64_T_FMT, id, c->time,
                                      c->old_stage, c->new_stage, seq);
    ev->lead = apr_pstrdup(p, id);
    ev->score = lround(c->score);
    if (known) {
        ev->contact = lead.contact;
        ev->trigger = lead.trigger;
    }
    if ((!ev->trigger || !*ev->trigger) && c->new_stage == MQL_STAGE_MQL
        && c->trigger_event < MQL_EV_COUNT)
        ev->trigger = mql_event_name((mql_event_t)c->trigger_event);
    ev->json = mql_notify_line(p, c, known ? &lead : NULL, streamed ? stream : NULL,
                               streamed ? stream_id : NULL, mql_g->journal ? story_of : NULL, id);
    return (char *)ev->json;
}

void mql_notify_changes(server_rec *s, apr_pool_t *p, uint64_t *next, mql_writer_stats_t *st)
{
    mql_change_t ch[CHANGES_BATCH];
    uint64_t seq = *next, lost = 0, first;
    unsigned n, i;
    int notify = mql_notify_ready(s), hooks = mql_g->webhooks != NULL;

    while ((n = mql_visitors_stage_changes(mql_g->store, &seq, ch, CHANGES_BATCH, &lost)) > 0 || lost) {
        first = seq - n;
        if (lost) {
            MQL_STAT_ADD(st, notify_dropped, lost);
            if (notify)
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             "MQL03020: %" APR_UINT64_T_FMT " stage changes came faster "
                             "than the writer and were not notified", lost);
            lost = 0;
        }
        mql_journal_stage_changes(s, ch, n);
        if (hooks)
            mql_webhook_batch(s, 1);
        for (i = 0; i < n && (notify || hooks); i++) {
            mql_notification_t ev;
            const char *line;
            apr_pool_t *lp;
            apr_pool_create(&lp, p);
            line = change_json(lp, &ch[i], first + i, &ev);
            if (hooks)
                mql_webhook_enqueue(s, &ev);
            if (!notify) {
                /* webhooks only */
            }
            else if (mql_notify_write(line)) {
                MQL_STAT_ADD(st, notify_sent, 1);
            }
            else {
                uint64_t d = MQL_STAT_ADD(st, notify_dropped, 1);
                if (!(d & (d - 1)))
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                                 "MQL03021: MQLNotify program is not reading: "
                                 "notification dropped (%" APR_UINT64_T_FMT " so far)", d);
            }
            apr_pool_destroy(lp);
        }
        /* in the outbox before the position moves past them */
        if (hooks)
            mql_webhook_batch(s, 0);
        *next = seq;
        if (n < CHANGES_BATCH)
            break;
    }
    *next = seq;
}
