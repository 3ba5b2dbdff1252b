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
 * Work the parent must have done in places the server's user can write,
 * done by that user.
 *
 * httpd's parent runs as root; its children, and whatever PHP or CGI bug
 * runs in them, run as User.  So MQLStateDir (which User owns) and the
 * shared table (which every child writes) are hostile input to root: a
 * link planted there turns a create or a chown into a write anywhere, a
 * FIFO blocks an open forever, a lock held or corrupted by a child hangs
 * or steers whoever takes it next (CVE-2019-0211 was a parent trusting
 * the scoreboard).  The parent therefore forks a process that becomes
 * User and Group before it touches any of it -- creating the leads file,
 * restoring the snapshot into a new table, moving visitors into a table
 * of another size -- and waits for it at most a deadline.  What that
 * process can do is what a child can do anyway.
 *
 * Not as root (httpd started by another user, the tests' own servers as
 * a plain user), the work runs in place: there is no boundary to keep.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "apr_time.h"
#include "unixd.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"

APLOG_USE_MODULE(mql);

#define EXIT_CANNOT_DROP 111

/* Become User and Group for good; 0 when done. */
static int become_server_user(void)
{
    uid_t uid = ap_unixd_config.user_id;
    gid_t gid = ap_unixd_config.group_id;

    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        return -1;
    /* a root that could come back would be no boundary */
    if (uid != 0 && (setuid(0) == 0 || geteuid() != uid || getegid() != gid))
        return -1;
    return 0;
}

/* Wait until the process closes its end of the pipe (it exits) or the
 * deadline passes; 1 when it finished in time. */
static int wait_for_exit(int fd, apr_interval_time_t limit)
{
    apr_time_t end = apr_time_now() + limit;
    struct pollfd pfd = { fd, POLLIN, 0 };
    char buf[64];

    for (;;) {
        apr_time_t left = end - apr_time_now();
        int r;

        if (left <= 0)
            return 0;
        r = poll(&pfd, 1, (int)apr_time_as_msec(left) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        r = (int)read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            return 1;
    }
}

apr_status_t mql_as_server_user(server_rec *s, apr_pool_t *p, const char *what,
                                apr_interval_time_t limit, mql_as_user_fn *fn, void *baton)
{
    int fds[2], status = 0, in_time;
    pid_t pid;

    if (geteuid() != 0)
        return fn(baton, p);
    if (pipe(fds) != 0)
        return APR_FROM_OS_ERROR(errno);
    pid = fork();
    if (pid < 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        close(fds[0]);
        close(fds[1]);
        return rv;
    }
    if (pid == 0) {
        close(fds[0]);
        /* no pool cleanup and no atexit handler of the parent's may run
         * here: _exit, whatever happens */
        if (become_server_user() != 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s, "MQL00040: %s: cannot become "
                         "the server's user (uid %ld, gid %ld)", what,
                         (long)ap_unixd_config.user_id, (long)ap_unixd_config.group_id);
            _exit(EXIT_CANNOT_DROP);
        }
        _exit(fn(baton, p) == APR_SUCCESS ? 0 : 1);
    }
    close(fds[1]);
    in_time = wait_for_exit(fds[0], limit);
    close(fds[0]);
    if (!in_time)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!in_time) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL00041: %s did not finish within %"
                     APR_TIME_T_FMT " s as the server's user (a FIFO, or a lock a child "
                     "holds?); stopped it", what, apr_time_sec(limit));
        return APR_TIMEUP;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return APR_SUCCESS;
    if (WIFSIGNALED(status))
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL00042: %s: the server's user's "
                     "process died of signal %d", what, WTERMSIG(status));
    return APR_EGENERAL;
}
