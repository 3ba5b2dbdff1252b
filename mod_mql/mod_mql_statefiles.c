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
 * What the writer keeps in MQLStateDir for mqlctl, besides the snapshot:
 * writer.status, rewritten every round (a fresh one tells mqlctl that a
 * server runs and applies its requests), the sites file (which leads file
 * a site's name stands for) and the control directory mqlctl writes its
 * requests into (mql_control.h describes them all).
 */
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "apr_strings.h"
#include "apr_file_io.h"

#include "mod_mql_jobs.h"
#include "mod_mql_runtime.h"
#include "mql_control.h"

APLOG_USE_MODULE(mql);

static pid_t parent_pid;           /* httpd's parent: alive while the server runs */

/* MQLStateDir/writer.status: what mqlctl reads to know that a server is
 * applying its requests. */
static void write_status(apr_pool_t *p, uint32_t now, int running)
{
    const char *path = mql_state_path(p, MQL_STATUS_NAME);
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);
    mql_writer_stats_t st;
    apr_file_t *f;
    const char *text;

    mql_writer_stats(&st);
    {
        const mql_status_counter_t counters[] = {
            { "records_written", st.records_written },
            { "records_deleted", st.records_deleted },
            { "dbm_publishes", st.dbm_publishes },
            { "dbm_errors", st.dbm_errors },
            { "notify_sent", st.notify_sent },
            { "notify_dropped", st.notify_dropped },
            { "control_applied", st.control_applied },
            { "snapshots", st.snapshots },
            { "last_snapshot", st.last_snapshot },
            { "last_publish", st.last_publish },
            { "last_publish_ms", st.last_publish_ms },
            { "last_publish_cpu_ms", st.last_publish_cpu_ms },
            { "pending", st.pending },
            { "leads_restored", st.leads_restored },
            { NULL, 0 }
        };
        text = mql_status_format(p, running, (long)(parent_pid ? parent_pid : getpid()),
                                 (long)getpid(), now, counters);
    }
    apr_file_remove(tmp, p);        /* a new file, never one put in its place */
    if (apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p)
        != APR_SUCCESS)
        return;
    apr_file_puts(text, f);
    apr_file_close(f);
    apr_file_rename(tmp, path, p);
}

/* MQLStateDir/sites: each site's name, DBM type and file, so that mqlctl
 * --site NAME reads the file the status page of that name shows.  Written
 * at each start and graceful restart (sites come and go with the
 * configuration); 0640, as the leads files it names. */
static void write_sites(server_rec *s, apr_pool_t *p)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;
    mql_site_entry_t *e = apr_pcalloc(p, sizeof *e * (apr_size_t)(mql_g->sites->nelts + 1));
    const char *path = mql_state_path(p, MQL_SITES_NAME);
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);
    const char *text;
    apr_file_t *f;
    apr_status_t rv;
    int i;

    for (i = 0; i < mql_g->sites->nelts; i++) {
        e[i].name = mql_site_name(&sites[i]);
        e[i].type = sites[i].dbm_type;
        e[i].file = sites[i].dbm_file;
    }
    text = mql_sites_format(p, e, mql_g->sites->nelts);
    apr_file_remove(tmp, p);        /* a new file, never one put in its place */
    rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_puts(text, f);
        if (apr_file_close(f) != APR_SUCCESS && rv == APR_SUCCESS)
            rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmp, path, p);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "MQL03056: cannot write %s: mqlctl --site will not find the sites", path);
    }
}

/* As the server's user (mql_as_server_user): the control directory that
 * mqlctl writes requests into, a first writer.status, which tells mqlctl
 * at once that a server runs (the writer's rounds keep it fresh), and the
 * list of sites. */
static apr_status_t prepare_state_files(void *baton, apr_pool_t *p)
{
    server_rec *s = baton;
    const char *control = mql_state_path(p, MQL_CONTROL_DIR);
    apr_status_t rv;

    int fd;
    struct stat st;

    rv = apr_dir_make(control, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE
                      | APR_FPROT_GREAD | APR_FPROT_GWRITE | APR_FPROT_GEXECUTE, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv))
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "MQL03053: cannot create %s: mqlctl set/forget will not reach the "
                     "server", control);
    /* the server's group writes requests here, nobody else looks in,
     * whatever the umask made of it */
    fd = open(control, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0777) != 0770)
            (void)!fchmod(fd, 0770);
        close(fd);
    }
    write_status(p, (uint32_t)apr_time_sec(apr_time_now()), 1);
    write_sites(s, p);
    return APR_SUCCESS;
}

void mql_statefiles_status(apr_pool_t *p, uint32_t now)
{
    write_status(p, now, 1);
}

void mql_statefiles_prepare(server_rec *s, apr_pool_t *ptemp)
{
    /* a new generation has a new parent only on a full restart */
    parent_pid = getpid();
    mql_as_server_user(s, ptemp, "preparing MQLStateDir/control", MQL_AS_USER_LIMIT,
                       prepare_state_files, s);
}
