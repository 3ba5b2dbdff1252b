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
 * mqlctl: the leads of mod_mql from the command line, for sales and admins.
 *
 *   mqlctl [--dbm PATH [--type TYPE] | --site NAME] [--state-dir DIR] [--wait SECS]
 *          COMMAND
 *     list                         one line per lead, highest score first
 *     show ID                      every field of one lead
 *     export --format csv|json     for CRM imports
 *     set ID stage=sql|rejected|mql   sales' decision
 *     set ID stage=rejected reason=TEXT   ... with why
 *     adjust ID +N|-N --reason TEXT   sales' own points (a trade show)
 *     forget ID                    erase a visitor everywhere
 *     stats                        leads per stage, and the server's writer
 *     sites                        the server's sites: name, DBM type and file
 *     funnel [--days N] [--format text|csv|json]   the funnel, day by day
 *     funnel --by source|medium|campaign           ... per value of the first touch
 *     criteria [--format text|json]  signals and scores against sales' verdicts
 *     whatif --threshold N [--require download|form|country=CC,...]
 *                                  how many would qualify under other criteria
 *     accounts [--format text|csv|json]  the companies behind the people
 *
 * A site is a leads file of its own (MQLDBMFile in a virtual host); --site
 * NAME takes its file and type from the list the server leaves in
 * MQLStateDir/sites, by the name its status page gives it.
 *
 * It reads the DBM file itself.  Changes (set, forget) go three ways
 * (adjust: to the running server, or else to the snapshot and the leads
 * file, never both, as its points add up):
 *   - straight into the DBM file (the same copy-and-rename publication the
 *     server uses, under the same lock), so they show at once, server or no;
 *   - to a running server as a request file in MQLStateDir/control/, which
 *     its background writer applies to the shared table within a second
 *     (and so to the environment variables, later DBM writes and snapshots);
 *   - to MQLStateDir/visitors.snapshot when no server is running, so the
 *     next start does not bring the old state back.
 * With MQLStore redis:// a forget also reaches Redis (mqlctl_redis.h):
 * the record, and every entry of the fleet's streams that carries the
 * visitor's ID or contact; with the server stopped, its other sites'
 * leads files and its spill file too.  When Redis cannot be reached,
 * forget says so and fails rather than leave a copy behind unsaid.
 *
 * Run as root, it first becomes the owner of the state directory (the
 * server's user): see drop_root().
 *
 * Exit status: 0 done, 1 failure (missing file, I/O), 2 bad usage or
 * argument (an unknown --site too), 3 unknown ID.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_general.h>
#include <apr_dbm.h>
#include <apr_portable.h>
#include <apr_sdbm.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_getopt.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "mql_types.h"
#include "mql_cookie.h"
#include "mql_dbmpub.h"
#include "mql_log.h"
#include "mql_json.h"
#include "mql_record.h"
#include "mql_visitors.h"
#include "mql_control.h"
#include "mql_manual.h"
#include "mql_version.h"
#include "mqlctl_accounts.h"
#include "mqlctl_deliveries.h"
#include "mqlctl_journal.h"
#include "mqlctl_out.h"
#include "mqlctl_redis.h"
#include "mql_redis_sync.h"

#define DEFAULT_STATE_DIR "/var/lib/apache2/mql"
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_UNKNOWN 3
#define STORY_EVENTS 1000            /* all the journal keeps of one lead */
#define WRITER_FRESH 2               /* seconds: writer.status younger = server up */

typedef struct ctl {
    apr_pool_t *p;
    const char *state_dir;
    const char *dbm;
    const char *type;
    const char *site;               /* --site: the site whose leads file is read */
    double wait;
    int redis_state;                /* forget: 1 the server uses Redis, 0 not, -1 unknown */
    mql_redis_url_t *redis;         /* ... which (mqlctl_redis_config) */
    const char *redis_why;          /* ... why unknown */
} ctl_t;

typedef struct lead_row {
    const char *id;
    mql_lead_t l;
} lead_row_t;

static const char *prog = "mqlctl";

static void usage(FILE *out)
{
    fprintf(out,
        "usage: mqlctl [--dbm PATH [--type TYPE] | --site NAME] [--state-dir DIR] [--wait SECS]\n"
        "              COMMAND\n"
        "\n"
        "commands:\n"
        "  list                          leads, highest score first\n"
        "  show ID                       every field of one lead\n"
        "  export --format csv|json      all leads, for a CRM import\n"
        "  set ID stage=sql|rejected|mql sales' decision on a lead\n"
        "  set ID stage=rejected reason=TEXT          ... and why (shown by show)\n"
        "  adjust ID +N|-N --reason TEXT sales' own points (-1000 to +1000), with why\n"
        "  forget ID                     erase a visitor: DBM files, server, snapshot, Redis\n"
        "  stats                         leads per stage and the server's writer\n"
        "  sites                         the server's sites: name, DBM type and file\n"
        "  funnel [--days N] [--format text|csv|json]\n"
        "                                new visitors, MQLs, verdicts per day; rates, medians\n"
        "  funnel --by source|medium|campaign [--days N] [--format text|csv|json]\n"
        "                                the same per value of the visitors' first touch\n"
        "  criteria [--format text|json] each signal's acceptance by sales; scores\n"
        "  whatif --threshold N [--require download|form|country=CC,...]\n"
        "                                how many would qualify under these criteria\n"
        "  accounts [--format text|csv|json]\n"
        "                                the companies behind the people: people, leads, score\n"
        "  deliveries [--failed] [--retry ID|all] [--format text|json]\n"
        "                                the webhooks' outbox; --retry sends again\n"
        "\n"
        "options:\n"
        "  --state-dir DIR  MQLStateDir of the server (default " DEFAULT_STATE_DIR ")\n"
        "  --dbm PATH       the MQLDBMFile (default STATE-DIR/leads)\n"
        "  --type TYPE      its MQLDBMType: gdbm (default), sdbm, db\n"
        "  --site NAME      the leads file and type of that site (see: mqlctl sites)\n"
        "  --wait SECS      how long set/forget/adjust wait for a running server (default 5)\n"
        "  --reason TEXT    adjust: why (1 to 120 bytes), shown in the lead's story\n"
        "  --days N         funnel: the last N days, 1 to 400 (default 30)\n"
        "  --version        print mqlctl's version and exit\n"
        "\n"
        "exit status: 0 done, 1 failure, 2 bad usage or an unknown site, 3 unknown ID\n");
}

static int die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(try: mqlctl --help)\n");
    return EXIT_USAGE;
}

static void log_stderr(void *baton, int level, const char *msg)
{
    fprintf(stderr, "%s: %s\n", prog, msg);
}

/*
 * A small file of the state directory (writer.status, sites) opened for
 * reading only when it is a regular file of at most max bytes reached
 * without a link: the server's user can put a FIFO there, on which an open
 * would wait forever, or a sparse file of a terabyte.  *size (may be NULL)
 * gets its size.  With root_made, root takes only a file of root's that
 * nobody else may write: mqlctl is still root when the state directory is
 * root's own, and what the file says is then acted on as root.
 */
#define SMALL_FILE_MAX 65536
#define SITES_FILE_MAX (1 << 20)     /* 255 sites with long names and paths */

static apr_status_t open_bounded(ctl_t *c, const char *path, apr_off_t max, int root_made,
                                 apr_file_t **f, apr_off_t *size)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return APR_FROM_OS_ERROR(errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > max
        || (root_made && geteuid() == 0
            && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))) {
        close(fd);
        return APR_EGENERAL;
    }
    if (size)
        *size = (apr_off_t)st.st_size;
    return apr_os_file_put(f, &fd, APR_FOPEN_READ, c->p);
}

static apr_status_t open_regular(ctl_t *c, const char *path, apr_file_t **f)
{
    return open_bounded(c, path, SMALL_FILE_MAX, 0, f, NULL);
}

static const char *tty(apr_pool_t *p, const char *s);
static apr_array_header_t *read_sites(ctl_t *c, int quiet);

/* ---- the DBM file --------------------------------------------------- */

/* 1 when the file is there; -1 when one of its names is not a regular
 * file (a FIFO would stop apr_dbm's open for good). */
static int dbm_exists(ctl_t *c)
{
    const char *f[2] = { NULL, NULL };
    struct stat st;
    int i;

    if (apr_dbm_get_usednames_ex(c->p, c->type, c->dbm, &f[0], &f[1]) != APR_SUCCESS
        || lstat(f[0], &st) != 0)
        return 0;
    for (i = 0; i < 2; i++) {
        if (f[i] && lstat(f[i], &st) == 0 && !S_ISREG(st.st_mode)) {
            fprintf(stderr, "%s: %s is not a regular file; not opened\n", prog, f[i]);
            return -1;
        }
    }
    return 1;
}

static int open_dbm(ctl_t *c, apr_dbm_t **db)
{
    apr_status_t rv;
    char err[128];

    if (apr_dbm_get_usednames_ex(c->p, c->type, c->dbm, &(const char *){ NULL },
                                 &(const char *){ NULL }) != APR_SUCCESS) {
        fprintf(stderr, "%s: DBM type '%s' is not available (sdbm, gdbm, db)\n", prog, c->type);
        return EXIT_USAGE;
    }
    switch (dbm_exists(c)) {
    case 0:
        if (c->site)
            fprintf(stderr, "%s: no leads file %s (type %s) for site %s\n", prog, c->dbm,
                    c->type, tty(c->p, c->site));
        else
            fprintf(stderr, "%s: no leads file %s (type %s); give --dbm/--type, --site or "
                    "--state-dir\n", prog, c->dbm, c->type);
        return EXIT_FAIL;
    case -1:
        return EXIT_FAIL;
    }
    rv = apr_dbm_open_ex(db, c->type, c->dbm, APR_DBM_READONLY, 0, c->p);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "%s: cannot open %s (type %s): %s\n", prog, c->dbm, c->type,
                apr_strerror(rv, err, sizeof err));
        return EXIT_FAIL;
    }
    return 0;
}

static int cmp_rows(const void *a, const void *b)
{
    const lead_row_t *x = a, *y = b;

    if (x->l.score != y->l.score)
        return x->l.score < y->l.score ? 1 : -1;
    return strcmp(x->id, y->id);
}

/* A reader that stops at a damaged page must not pass for the end of the
 * file: the admin would take a short list for all the leads.  Nothing is
 * printed then, and the exit status says it failed. */
static int damaged(ctl_t *c, apr_dbm_t *db, apr_status_t rv, const char *what)
{
    char err[128];
    int code = 0;

    err[0] = '\0';
    if (db)
        apr_dbm_geterror(db, &code, err, sizeof err);
    fprintf(stderr, "%s: %s is damaged: %s%s%s; no lead is shown rather than some of them "
            "(the server rebuilds the file from its table when a write to it fails, "
            "MQL05011)\n", prog, c->dbm, what, err[0] ? ": " : "", err);
    return EXIT_FAIL;
}

/* apr_dbm's sdbm driver drops apr_sdbm_nextkey's status, so a page it
 * refuses looks like the end of the keys: the file is walked again with
 * apr_sdbm itself, which tells the end (APR_EOF) from a damaged page. */
static apr_status_t sdbm_check(ctl_t *c, unsigned *keys)
{
    apr_sdbm_t *db;
    apr_sdbm_datum_t key;
    apr_status_t rv;

    *keys = 0;
    if (strcmp(c->type, "sdbm") && strcmp(c->type, "default"))
        return APR_SUCCESS;
    rv = apr_sdbm_open(&db, c->dbm, APR_FOPEN_READ | APR_FOPEN_SHARELOCK, APR_OS_DEFAULT, c->p);
    if (rv != APR_SUCCESS)
        return rv;
    for (rv = apr_sdbm_firstkey(db, &key); rv == APR_SUCCESS && key.dptr;
         rv = apr_sdbm_nextkey(db, &key))
        ++*keys;
    apr_sdbm_close(db);
    return rv == APR_EOF || (rv == APR_SUCCESS && !key.dptr) ? APR_SUCCESS : rv;
}

/* Every lead, sorted by score; records that do not decode are reported. */
static int read_all(ctl_t *c, apr_array_header_t **rows)
{
    apr_dbm_t *db;
    apr_datum_t key, val;
    apr_status_t rv;
    int rc = open_dbm(c, &db), bad = 0;

    if (rc)
        return rc;
    *rows = apr_array_make(c->p, 64, sizeof(lead_row_t));
    for (rv = apr_dbm_firstkey(db, &key); rv == APR_SUCCESS && key.dptr;
         rv = apr_dbm_nextkey(db, &key)) {
        lead_row_t *r;
        apr_status_t frv = apr_dbm_fetch(db, key, &val);

        if (frv != APR_SUCCESS || !val.dptr) {
            rc = damaged(c, db, frv, apr_psprintf(c->p, "cannot read the record of %s",
                                                  mql_text_safe(c->p, apr_pstrmemdup(
                                                      c->p, key.dptr, key.dsize))));
            break;
        }
        r = apr_array_push(*rows);
        r->id = apr_pstrmemdup(c->p, key.dptr, key.dsize);
        if (!mql_record_decode(c->p, val.dptr, val.dsize, &r->l)) {
            fprintf(stderr, "%s: skipped a malformed record for %s\n", prog,
                    mql_text_safe(c->p, r->id));
            apr_array_pop(*rows);
            bad++;
        }
    }
    /* sdbm says APR_EOF where the keys end, and for the first key of an
     * empty file (no lead yet): that is no damage */
    if (!rc && rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv))
        rc = damaged(c, db, rv, "cannot walk its keys");
    if (!rc) {
        unsigned keys;

        rv = sdbm_check(c, &keys);
        if (rv != APR_SUCCESS)
            rc = damaged(c, NULL, rv, apr_psprintf(c->p, "the page after its key %u is not a "
                                                    "valid sdbm page", keys));
    }
    apr_dbm_close(db);
    if (rc)
        return rc;
    qsort((*rows)->elts, (size_t)(*rows)->nelts, sizeof(lead_row_t), cmp_rows);
    return 0;
}

/* 0 found, EXIT_UNKNOWN absent, other codes on failure */
static int read_one(ctl_t *c, const char *id, mql_lead_t *l, const char **raw)
{
    apr_dbm_t *db;
    apr_datum_t key, val;
    apr_status_t rv;
    int rc = open_dbm(c, &db);

    if (rc)
        return rc;
    key.dptr = (char *)id;
    key.dsize = strlen(id);
    rv = apr_dbm_fetch(db, key, &val);
    if (rv != APR_SUCCESS) {
        /* absent is success with no value; an error is a page APR refused */
        rc = damaged(c, db, rv, "cannot read the record");
        apr_dbm_close(db);
        return rc;
    }
    if (!val.dptr) {
        apr_dbm_close(db);
        return EXIT_UNKNOWN;
    }
    *raw = apr_pstrmemdup(c->p, val.dptr, val.dsize);
    apr_dbm_close(db);
    if (!mql_record_decode(c->p, *raw, strlen(*raw), l)) {
        fprintf(stderr, "%s: the record of %s is malformed: %s\n", prog, id,
                mql_text_safe(c->p, *raw));
        return EXIT_FAIL;
    }
    return 0;
}

static int publish(ctl_t *c, const char *id, const char *value, int compact)
{
    apr_array_header_t *ch = apr_array_make(c->p, 1, sizeof(mql_dbm_change_t));
    mql_dbm_change_t *e = apr_array_push(ch);
    const char *why = NULL;

    e->key = id;
    e->value = value;
    if (mql_dbm_publish(c->dbm, c->type, ch, compact, -1, -1, NULL, &why, c->p)
        != APR_SUCCESS) {
        fprintf(stderr, "%s: cannot update %s: %s\n", prog, c->dbm, why ? why : "error");
        return EXIT_FAIL;
    }
    return 0;
}

/* ---- output --------------------------------------------------------- */

/* What reaches a terminal: contacts echo form input and triggers any
 * client's URL path, so control bytes, C1 controls, bidirectional
 * overrides and invalid UTF-8 are shown escaped (\x1b), never raw. */
static const char *tty(apr_pool_t *p, const char *s)
{
    return mql_text_safe(p, s);
}

static const char *json(apr_pool_t *p, const char *s)
{
    return mql_json_str(p, s, 0);
}

static int cmd_list(ctl_t *c)
{
    apr_array_header_t *rows;
    int rc = read_all(c, &rows), i;

    if (rc)
        return rc;
    printf("%-22s  %-8s  %6s  %-20s  %-20s  %s\n", "ID", "STAGE", "SCORE", "SINCE", "LAST SEEN",
           "CONTACT");
    for (i = 0; i < rows->nelts; i++) {
        lead_row_t *r = &((lead_row_t *)rows->elts)[i];
        printf("%-22s  %-8s  %6ld  %-20s  %-20s  %s\n", tty(c->p, r->id),
               mql_stage_name((mql_stage_t)r->l.stage), r->l.score,
               mqlctl_iso_time(c->p, r->l.since, ""), mqlctl_iso_time(c->p, r->l.last, ""),
               r->l.contact ? tty(c->p, r->l.contact) : "-");
    }
    return 0;
}

static int check_id(const char *id)
{
    uint8_t raw[MQL_ID_BYTES];

    if (!id || !mql_id_from_text(id, strlen(id), raw)) {
        fprintf(stderr, "%s: '%s' is not a visitor ID (22 characters of A-Z a-z 0-9 - _, "
                "as in MQL_VISITOR)\n", prog, id ? id : "");
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_show(ctl_t *c, const char *id)
{
    mql_lead_t l;
    mql_journal_t *j;
    const char *raw, *reason;
    int rc = check_id(id), ev;

    if (rc || (rc = read_one(c, id, &l, &raw)) == EXIT_UNKNOWN) {
        if (rc == EXIT_UNKNOWN)
            fprintf(stderr, "%s: no lead %s in %s\n", prog, id, c->dbm);
        return rc;
    }
    if (rc)
        return rc;
    printf("id: %s\nstage: %s\nscore: %ld\nsince: %s\nlast_seen: %s\n", id,
           mql_stage_name((mql_stage_t)l.stage), l.score, mqlctl_iso_time(c->p, l.since, ""),
           mqlctl_iso_time(c->p, l.last, ""));
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        printf("%s: %u\n", mql_record_count_name((mql_event_t)ev), l.counts[ev]);
    printf("country: %s\ntrigger: %s\ncontact: %s\n",
           l.country[0] ? tty(c->p, l.country) : "-", l.trigger ? tty(c->p, l.trigger) : "-",
           l.contact ? tty(c->p, l.contact) : "-");
    for (ev = 0; ev < MQL_FIELD_COUNT; ev++)
        if (mql_fields[ev].lead)
            printf("%s: %s\n", mql_fields[ev].lead, l.text[ev] ? tty(c->p, l.text[ev]) : "-");
    printf("record: %s\n", tty(c->p, raw));
    /* why it has its verdict, and its last interactions, when the server
     * keeps a journal */
    j = mqlctl_journal(c->p, c->state_dir, 0, 1);
    /* a fleet's servers each journal the changes they take: a reason is
     * shown with the verdict it explains */
    if (l.stage == MQL_STAGE_REJECTED && (reason = mql_journal_lead_reason(j, id, c->p)))
        printf("reason: %s\n", tty(c->p, reason));
    mqlctl_print_story(c->p, j, id, STORY_EVENTS);
    return 0;
}

static int cmd_export(ctl_t *c, const char *format)
{
    mql_journal_t *journal = NULL;
    apr_array_header_t *rows;
    int rc, i, ev;

    if (!format || (strcmp(format, "csv") && strcmp(format, "json")))
        return die_usage("export needs --format csv or --format json, got '%s'",
                         format ? format : "");
    if ((rc = read_all(c, &rows)))
        return rc;
    if (strcmp(format, "csv"))
        journal = mqlctl_journal(c->p, c->state_dir, 0, 1);
    if (!strcmp(format, "csv")) {
        printf("id,stage,score,since,last_seen");
        for (ev = 0; ev < MQL_EV_COUNT; ev++)
            printf(",%s", mql_record_count_name((mql_event_t)ev));
        printf(",country,trigger,contact");
        for (ev = 0; ev < MQL_FIELD_COUNT; ev++)
            if (mql_fields[ev].lead)
                printf(",%s", mql_fields[ev].lead);
        for (ev = 0; ev < MQL_ATTR_FIELDS; ev++)
            printf(",%s", mql_record_attr_name(ev));
        printf("\r\n");
    }
    else
        printf("[");
    for (i = 0; i < rows->nelts; i++) {
        lead_row_t *r = &((lead_row_t *)rows->elts)[i];
        if (!strcmp(format, "csv")) {
            printf("%s,%s,%ld,%s,%s", r->id, mql_stage_name((mql_stage_t)r->l.stage),
                   r->l.score, mqlctl_iso_time(c->p, r->l.since, ""), mqlctl_iso_time(c->p, r->l.last, ""));
            for (ev = 0; ev < MQL_EV_COUNT; ev++)
                printf(",%u", r->l.counts[ev]);
            printf(",%s,%s,%s", r->l.country, mqlctl_csv(c->p, r->l.trigger, 1),
                   mqlctl_csv(c->p, r->l.contact, 1));
            for (ev = 0; ev < MQL_FIELD_COUNT; ev++)
                if (mql_fields[ev].lead)
                    printf(",%s", mqlctl_csv(c->p, r->l.text[ev], 1));
            for (ev = 0; ev < MQL_ATTR_FIELDS; ev++)
                printf(",%s", mqlctl_csv(c->p, r->l.attr[ev], 1));
            printf("\r\n");
            continue;
        }
        printf("%s\n  {\"id\":%s,\"stage\":%s,\"score\":%ld,\"since\":%u,\"last_seen\":%u,"
               "\"counts\":{", i ? "," : "", json(c->p, r->id),
               json(c->p, mql_stage_name((mql_stage_t)r->l.stage)), r->l.score, r->l.since,
               r->l.last);
        for (ev = 0; ev < MQL_EV_COUNT; ev++)
            printf("%s\"%s\":%u", ev ? "," : "", mql_record_count_name((mql_event_t)ev),
                   r->l.counts[ev]);
        printf("},\"country\":%s,\"trigger\":%s,\"contact\":%s",
               r->l.country[0] ? json(c->p, r->l.country) : "null", json(c->p, r->l.trigger),
               json(c->p, r->l.contact));
        for (ev = 0; ev < MQL_FIELD_COUNT; ev++)
            if (mql_fields[ev].lead)
                printf(",\"%s\":%s", mql_fields[ev].lead, json(c->p, r->l.text[ev]));
        for (ev = 0; ev < MQL_ATTR_FIELDS; ev++)
            printf(",\"%s\":%s", mql_record_attr_name(ev), json(c->p, r->l.attr[ev]));
        printf(",\"story\":%s}", mql_journal_story_json(journal, c->p, r->id, STORY_EVENTS));
    }
    if (strcmp(format, "csv"))
        printf("%s]\n", rows->nelts ? "\n" : "");
    return 0;
}

/* ---- the running server and its snapshot ----------------------------- */

/* A server is running when the httpd parent named in writer.status (the
 * server writes it at start and its writer every round) is alive, and it
 * did not say it stopped. */
static int server_alive(ctl_t *c)
{
    const char *path = apr_pstrcat(c->p, c->state_dir, "/" MQL_STATUS_NAME, NULL);
    const char *name, *value;
    apr_finfo_t fi;
    apr_file_t *f;
    char line[128];
    int alive, named = 0;

    if (apr_stat(&fi, path, APR_FINFO_MTIME, c->p) != APR_SUCCESS)
        return 0;
    alive = apr_time_now() - fi.mtime < apr_time_from_sec(WRITER_FRESH);
    if (open_regular(c, path, &f) == APR_SUCCESS) {
        while (apr_file_gets(line, sizeof line, f) == APR_SUCCESS) {
            if (!mql_status_line(c->p, line, &name, &value))
                continue;
            if (!strcmp(name, "running") && !strcmp(value, "0"))
                return apr_file_close(f), 0;
            if (!strcmp(name, "server")) {
                pid_t pid = (pid_t)atol(value);
                named = 1;
                alive = pid > 1 && (kill(pid, 0) == 0 || errno != ESRCH);
            }
        }
        apr_file_close(f);
    }
    return alive || named ? alive : 0;
}

/* Queue a request line for the server; returns its path, or NULL. */
static const char *send_control_text(ctl_t *c, const char *text)
{
    const char *dir = apr_pstrcat(c->p, c->state_dir, "/" MQL_CONTROL_DIR, NULL);
    uint32_t rnd = 0;
    const char *tmp, *req;
    apr_file_t *f;
    apr_status_t rv;
    char err[128];

    apr_generate_random_bytes((unsigned char *)&rnd, sizeof rnd);
    tmp = apr_pstrcat(c->p, dir, "/", mql_control_temp_name(c->p, (long)getpid(), rnd), NULL);
    req = apr_pstrcat(c->p, dir, "/",
                      mql_control_request_name(c->p, apr_time_now(), (long)getpid(), rnd), NULL);
    rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, c->p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_puts(text, f);
        apr_file_close(f);
    }
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmp, req, c->p);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, c->p);
        fprintf(stderr, "%s: cannot queue the request for the server in %s: %s\n", prog, dir,
                apr_strerror(rv, err, sizeof err));
        return NULL;
    }
    return req;
}

static const char *send_control(ctl_t *c, mql_control_verb_t verb, const char *id,
                                mql_stage_t stage)
{
    return send_control_text(c, mql_control_format(c->p, verb, id, stage));
}

/* 1 when the server took the request within --wait seconds */
static int await_control(ctl_t *c, const char *req)
{
    apr_time_t end = apr_time_now() + (apr_time_t)(c->wait * APR_USEC_PER_SEC);
    apr_finfo_t fi;

    do {
        if (apr_stat(&fi, req, APR_FINFO_TYPE, c->p) != APR_SUCCESS)
            return 1;
        apr_sleep(apr_time_from_msec(50));
    } while (apr_time_now() < end);
    return 0;
}

typedef enum { SNAP_SET, SNAP_FORGET, SNAP_ADJUST } snap_op_t;

typedef struct snap_change {
    const uint8_t *id;
    snap_op_t op;
    int stage;                  /* SNAP_SET; SNAP_ADJUST: the points */
    uint32_t now;
    int found;
    double score;               /* SNAP_ADJUST: the record's score after */
} snap_change_t;

static int change_one(mql_visitor_t *v, char *contact, void *baton)
{
    snap_change_t *e = baton;

    if (memcmp(v->id, e->id, MQL_ID_BYTES) != 0)
        return 1;
    e->found = 1;
    if (e->op == SNAP_FORGET)
        return 0;
    if (e->op == SNAP_ADJUST) {
        /* the server's half-life and threshold are not known here: the
         * points join the score as kept (as of the last visit), and the
         * server's next hit of the visitor promotes it if they suffice */
        v->score += e->stage;
        e->score = v->score;
        return 1;
    }
    if (v->stage != (uint8_t)e->stage) {
        v->stage = (uint8_t)e->stage;
        v->stage_since = e->now;
    }
    return 1;
}

/* Apply a change to the snapshot a stopped server left (read and written
 * again by the core, whatever its format's version).  Returns 1 when the
 * visitor was in it, 0 when not (or no snapshot), -1 on failure. */
static int edit_snapshot_e(ctl_t *c, snap_change_t *ep);

static int edit_snapshot(ctl_t *c, const uint8_t id[MQL_ID_BYTES], snap_op_t op, int stage)
{
    snap_change_t e = { id, op, stage, (uint32_t)apr_time_sec(apr_time_now()), 0, 0 };

    return edit_snapshot_e(c, &e);
}

static int edit_snapshot_e(ctl_t *c, snap_change_t *ep)
{
    const char *path = apr_pstrcat(c->p, c->state_dir, "/" MQL_SNAPSHOT_NAME, NULL);
    const char *why = NULL;
    snap_change_t e = *ep;
    apr_finfo_t fi;

    if (apr_stat(&fi, path, APR_FINFO_LINK, c->p) != APR_SUCCESS)
        return 0;
    if (mql_snapshot_edit(path, c->p, change_one, &e, NULL, &why) != APR_SUCCESS) {
        fprintf(stderr, "%s: cannot read the snapshot %s: %s\n", prog, path,
                why ? why : "unreadable");
        return -1;
    }
    *ep = e;
    return e.found;
}

static int cmd_set(ctl_t *c, const char *id, const char *arg, const char *reason_arg)
{
    uint8_t raw[MQL_ID_BYTES];
    mql_lead_t l;
    mql_journal_t *j;
    const char *rec = NULL, *req = NULL, *reason = NULL, *why;
    int rc, stage = -1, alive, in_snap = 0;

    if ((rc = check_id(id)))
        return rc;
    if (!arg || strncmp(arg, "stage=", 6) || (stage = mql_stage_from_name(arg + 6)) <= 0)
        return die_usage("set needs stage=sql, stage=rejected or stage=mql, got '%s'",
                         arg ? arg : "");
    if (reason_arg) {
        if (strncmp(reason_arg, "reason=", 7) || stage != MQL_STAGE_REJECTED)
            return die_usage("set takes reason=TEXT after stage=rejected only, got '%s'",
                             reason_arg);
        reason = reason_arg + 7;
        if ((why = mql_adjust_reason(reason)))
            return die_usage("%s", apr_psprintf(c->p, "reason= expects %s", why));
    }
    mql_id_from_text(id, strlen(id), raw);
    rc = read_one(c, id, &l, &rec);
    if (rc && rc != EXIT_UNKNOWN)
        return rc;
    alive = server_alive(c);
    /* a stopped server's snapshot holds every site's visitors: with
     * --site, only a lead of that site's file is taken */
    if (rc == EXIT_UNKNOWN
        && (alive || c->site || (in_snap = edit_snapshot(c, raw, SNAP_SET, stage)) <= 0)) {
        fprintf(stderr, "%s: no lead %s in %s\n", prog, id, c->dbm);
        return in_snap < 0 ? EXIT_FAIL : EXIT_UNKNOWN;
    }
    if (rc == 0) {
        if (l.stage != stage) {
            l.stage = stage;
            l.since = (uint32_t)apr_time_sec(apr_time_now());
        }
        if ((rc = publish(c, id, mql_record_encode(c->p, &l), 0)))
            return rc;
    }
    /* the server: a request it applies on its next round (idempotent, so
     * it is also left for a server that is not running now) */
    req = reason ? send_control_text(c, mql_control_format_reject(c->p, id, reason))
                 : send_control(c, MQL_CONTROL_SET, id, (mql_stage_t)stage);
    if (alive) {
        if (req && !await_control(c, req))
            fprintf(stderr, "%s: warning: the server has not taken the request yet; it "
                    "stays queued in %s/control\n", prog, c->state_dir);
    }
    else {
        if (!in_snap && edit_snapshot(c, raw, SNAP_SET, stage) < 0)
            return EXIT_FAIL;
        /* the journal is mqlctl's to write with the server stopped (the
         * request left queued writes the same again at its start) */
        if (reason && (j = mqlctl_journal(c->p, c->state_dir, 1, 1))
            && mql_journal_reason(j, id, (uint32_t)apr_time_sec(apr_time_now()), reason)
               != APR_SUCCESS)
            fprintf(stderr, "%s: warning: the reason is not in the journal: %s\n", prog,
                    mql_journal_error(j));
    }
    printf("%s: stage=%s\n", id, mql_stage_name(stage));
    return 0;
}

/*
 * Sales' own points: to the running server, which applies them as a hit
 * (mql_manual.h: the threshold promotes, the change is notified once),
 * or to a stopped server's snapshot.  Never both: points, unlike a
 * stage, add up.
 */
static int cmd_adjust(ctl_t *c, const char *id, const char *arg, const char *reason)
{
    uint8_t raw[MQL_ID_BYTES];
    snap_change_t e;
    mql_journal_t *j;
    mql_story_event_t ev;
    mql_lead_t l;
    const char *why, *req, *rec;
    int rc, points = 0;

    if ((rc = check_id(id)))
        return rc;
    if ((why = mql_adjust_points(arg, &points)))
        return die_usage("%s", apr_psprintf(c->p, "adjust expects %s, got '%s'", why, arg));
    if (!reason)
        return die_usage("adjust needs --reason TEXT: why sales give these points%s", "");
    if ((why = mql_adjust_reason(reason)))
        return die_usage("%s", apr_psprintf(c->p, "--reason expects %s", why));
    mql_id_from_text(id, strlen(id), raw);
    if (server_alive(c)) {
        if (!(req = send_control_text(c, mql_control_format_adjust(c->p, id, points, reason))))
            return EXIT_FAIL;
        if (!await_control(c, req)) {
            fprintf(stderr, "%s: warning: the server has not taken the points yet; they stay "
                    "queued in %s/control\n", prog, c->state_dir);
            return 0;
        }
        printf("%s: %+d manual points sent to the server (its error log says if it does not "
               "know the visitor)\n", id, points);
        return 0;
    }
    memset(&e, 0, sizeof e);
    e.id = raw;
    e.op = SNAP_ADJUST;
    e.stage = points;
    e.now = (uint32_t)apr_time_sec(apr_time_now());
    if ((rc = edit_snapshot_e(c, &e)) <= 0) {
        if (rc == 0)
            fprintf(stderr, "%s: no visitor %s in the snapshot of the stopped server (%s/"
                    MQL_SNAPSHOT_NAME ")\n", prog, id, c->state_dir);
        return rc < 0 ? EXIT_FAIL : EXIT_UNKNOWN;
    }
    /* a lead's published score shows the points at once */
    if (read_one(c, id, &l, &rec) == 0) {
        l.score += points;
        if ((rc = publish(c, id, mql_record_encode(c->p, &l), 0)))
            return rc;
    }
    if ((j = mqlctl_journal(c->p, c->state_dir, 1, 1))) {
        memset(&ev, 0, sizeof ev);
        ev.visitor = id;
        ev.time = e.now;
        ev.event = MQL_MANUAL_NAME;
        ev.points = points;
        ev.rule = mql_manual_label(c->p, reason);
        ev.score = e.score;
        if (mql_journal_add_event(j, &ev) != APR_SUCCESS)
            fprintf(stderr, "%s: warning: the points are not in the journal: %s\n", prog,
                    mql_journal_error(j));
    }
    printf("%s: %+d manual points; score %.1f (the server promotes at the visitor's next "
           "visit if it qualifies)\n", id, points, e.score);
    return 0;
}

/* A contact to take out of Redis' streams, once (case aside). */
static void add_contact(apr_array_header_t *contacts, const char *contact)
{
    int i;

    if (!contact || !*contact)
        return;
    for (i = 0; i < contacts->nelts; i++)
        if (!strcasecmp(((const char **)contacts->elts)[i], contact))
            return;
    *(const char **)apr_array_push(contacts) = contact;
}

/* The visitor out of the leads file c->dbm (rebuilt, so that no byte of
 * the record stays in it): 1 when it was there, 0 not, -1 failed (said). */
static int forget_in_dbm(ctl_t *c, const char *id, apr_array_header_t *contacts)
{
    mql_lead_t l;
    const char *rec;
    int rc;

    switch (dbm_exists(c)) {
    case 0:
        return 0;
    case -1:
        return -1;
    }
    rc = read_one(c, id, &l, &rec);
    if (rc == EXIT_UNKNOWN)
        return 0;
    if (rc)
        return -1;
    add_contact(contacts, l.contact);
    return publish(c, id, NULL, 1) ? -1 : 1;
}

/* A stopped server's other leads files (MQLStateDir/sites), as its writer
 * takes a forgotten visitor out of all of them: 1 when it was in one, 0
 * not, -1 failed (said). */
static int forget_in_sites(ctl_t *c, const char *id, apr_array_header_t *contacts)
{
    apr_array_header_t *sites = read_sites(c, 1);
    const char *dbm = c->dbm, *type = c->type;
    int i, found = 0, rc = 0;

    for (i = 0; sites && i < sites->nelts && rc >= 0; i++) {
        const mql_site_entry_t *e = &((const mql_site_entry_t *)sites->elts)[i];

        if (!strcmp(e->file, dbm) && !strcmp(e->type, type))
            continue;
        c->dbm = e->file;
        c->type = e->type;
        rc = forget_in_dbm(c, id, contacts);
        found |= rc > 0;
    }
    c->dbm = dbm;
    c->type = type;
    return rc < 0 ? -1 : found;
}

static const char *redis_where(ctl_t *c)
{
    const mql_redis_url_t *u = c->redis;

    return u->kind == MQL_REDIS_UNIX ? u->path : apr_psprintf(c->p, "%s:%d", u->host, u->port);
}

static int redis_failed(ctl_t *c, mqlctl_redis_t *r, const char *done)
{
    fprintf(stderr, "%s: Redis at %s: %s; %s\n", prog, redis_where(c), mqlctl_redis_error(r),
            done);
    mqlctl_redis_close(r);
    return EXIT_FAIL;
}

static int cmd_forget(ctl_t *c, const char *id)
{
    uint8_t raw[MQL_ID_BYTES];
    apr_array_header_t *contacts = apr_array_make(c->p, 2, sizeof(const char *));
    mqlctl_redis_t *r = NULL;
    const char *why = NULL, *contact = "", *redis_done = "";
    char pos[MQL_RQ_STREAM_ID];
    int rc, alive, where = 0;

    if ((rc = check_id(id)))
        return rc;
    mql_id_from_text(id, strlen(id), raw);
    /* Redis first: unreachable, nothing is touched, and the admin can
     * run the same command again later */
    if (c->redis_state < 0) {
        fprintf(stderr, "%s: the server keeps its visitors in Redis, but %s; nothing was "
                "forgotten\n", prog, c->redis_why);
        return EXIT_FAIL;
    }
    alive = server_alive(c);
    if (c->redis_state > 0) {
        if (!(r = mqlctl_redis_open(c->p, c->redis, 2000, &why))) {
            fprintf(stderr, "%s: Redis at %s (MQLStore) is unreachable: %s; nothing was "
                    "forgotten: run mqlctl forget again once Redis is back\n", prog,
                    redis_where(c), why);
            return EXIT_FAIL;
        }
        if (mqlctl_redis_contact(r, raw, &contact) < 0
            || (alive && mqlctl_redis_stream_end(r, raw, pos) < 0))
            return redis_failed(c, r, "nothing was forgotten");
        add_contact(contacts, contact);
    }
    if ((rc = forget_in_dbm(c, id, contacts)) < 0)
        return EXIT_FAIL;
    where |= rc;
    if (alive) {
        const char *req = send_control(c, MQL_CONTROL_FORGET, id, MQL_STAGE_VISITOR);
        if (!req)
            return EXIT_FAIL;
        if (!await_control(c, req)) {
            fprintf(stderr, "%s: the server has not taken the request within %.0f s; it "
                    "stays queued in %s/control until it does\n", prog, c->wait, c->state_dir);
            return EXIT_FAIL;
        }
        /* the server's own queue carries the forget to Redis after what it
         * queued before for this visitor: once Redis has applied it, no
         * entry still on its way brings the record back */
        if (r && (rc = mqlctl_redis_await_forget(r, raw, pos, apr_time_now()
                  + (apr_time_t)(c->wait * APR_USEC_PER_SEC))) <= 0) {
            if (rc < 0)
                return redis_failed(c, r, "the server forgot the visitor, Redis may not "
                                    "have: run mqlctl forget again");
            fprintf(stderr, "%s: the server forgot the visitor, but its forget has not "
                    "reached Redis at %s within %.0f s (the server's Redis sync is behind or "
                    "cannot reach it; the forget stays queued there): run mqlctl forget "
                    "again to confirm\n", prog, redis_where(c), c->wait);
            mqlctl_redis_close(r);
            return EXIT_FAIL;
        }
    }
    else {
        int s = edit_snapshot(c, raw, SNAP_FORGET, 0);
        mql_journal_t *j;
        if (s < 0)
            return EXIT_FAIL;
        where |= s;
        if ((s = forget_in_sites(c, id, contacts)) < 0)
            return EXIT_FAIL;
        where |= s;
        /* a running server's writer erases the story; without one, here */
        if ((j = mqlctl_journal(c->p, c->state_dir, 1, 1))
            && mql_journal_forget(j, id) != APR_SUCCESS) {
            fprintf(stderr, "%s: cannot erase the story from the journal: %s\n", prog,
                    mql_journal_error(j));
            return EXIT_FAIL;
        }
        if (r) {
            const char *spill = apr_pstrcat(c->p, c->state_dir, "/" MQL_REDIS_SPILL_NAME,
                                            NULL);
            unsigned removed = 0;
            int existed = 0;

            /* what the server had not sent Redis yet would make the
             * visitor again at its next start */
            if (mql_redis_spill_forget(spill, raw, c->p, &removed, &why) != APR_SUCCESS) {
                fprintf(stderr, "%s: %s: %s\n", prog, spill, why);
                mqlctl_redis_close(r);
                return EXIT_FAIL;
            }
            if (mqlctl_redis_forget(r, raw, &existed, &contact) < 0)
                return redis_failed(c, r, "the visitor is forgotten here but not in Redis: "
                                    "run mqlctl forget again");
            add_contact(contacts, contact);
            where |= existed || removed;
        }
    }
    if (r) {
        unsigned gone = 0;

        if (mqlctl_redis_scrub(r, raw, contacts, &gone) < 0)
            return redis_failed(c, r, "the record is gone, some stream entries may not be: "
                                "run mqlctl forget again");
        mqlctl_redis_close(r);
        redis_done = apr_psprintf(c->p, "; Redis: record and %u stream entr%s", gone,
                                  gone == 1 ? "y" : "ies");
        where |= gone > 0;
    }
    printf("%s: forgotten%s%s%s\n", id, alive ? " (DBM file, running server and snapshot"
                                            : where ? " (DBM file and snapshot"
                                                    : " (was not recorded",
           redis_done, ")");
    return 0;
}

static int cmd_stats(ctl_t *c)
{
    apr_array_header_t *rows;
    unsigned stages[MQL_STAGE_COUNT] = { 0 }, contacts = 0;
    const char *status = apr_pstrcat(c->p, c->state_dir, "/" MQL_STATUS_NAME, NULL);
    apr_file_t *f;
    apr_finfo_t fi;
    int rc = read_all(c, &rows), i;

    if (rc)
        return rc;
    for (i = 0; i < rows->nelts; i++) {
        lead_row_t *r = &((lead_row_t *)rows->elts)[i];
        if (r->l.stage >= 0 && r->l.stage < MQL_STAGE_COUNT)
            stages[r->l.stage]++;
        contacts += r->l.contact != NULL;
    }
    if (c->site)
        printf("site: %s\n", tty(c->p, c->site));
    printf("dbm_file: %s\ndbm_type: %s\nleads: %d\n", tty(c->p, c->dbm), tty(c->p, c->type),
           rows->nelts);
    for (i = MQL_STAGE_MQL; i < MQL_STAGE_COUNT; i++)
        printf("%s: %u\n", mql_stage_name((mql_stage_t)i), stages[i]);
    printf("with_contact: %u\n", contacts);
    if (apr_stat(&fi, status, APR_FINFO_MTIME, c->p) == APR_SUCCESS
        && open_regular(c, status, &f) == APR_SUCCESS) {
        char line[256];
        printf("server: %s (writer reported %" APR_TIME_T_FMT " s ago)\n",
               server_alive(c) ? "running" : "not running",
               apr_time_sec(apr_time_now() - fi.mtime));
        while (apr_file_gets(line, sizeof line, f) == APR_SUCCESS) {
            const char *name, *value;
            if (!mql_status_line(c->p, line, &name, &value) || !strcmp(name, "pid")
                || !strcmp(name, "time") || !strcmp(name, "running") || !strcmp(name, "server"))
                continue;
            printf("writer_%s: %s\n", tty(c->p, name), tty(c->p, value));
        }
        apr_file_close(f);
    }
    else
        printf("server: no writer status in %s\n", c->state_dir);
    return 0;
}

/* ---- sites ------------------------------------------------------------ */

/*
 * The sites the server listed in MQLStateDir/sites when it last started
 * (mql_control.h).  Read after drop_root(): as the server's user, or as
 * root only when root wrote it.  NULL when there is no usable list, with
 * the reason said.
 */
static apr_array_header_t *read_sites(ctl_t *c, int quiet)
{
    const char *path = apr_pstrcat(c->p, c->state_dir, "/" MQL_SITES_NAME, NULL);
    apr_array_header_t *sites;
    apr_file_t *f;
    apr_off_t size = 0;
    apr_size_t got = 0;
    apr_status_t rv;
    char *text, err[128];
    int bad = 0;

    /* the file names the DBM file that set and forget rewrite */
    rv = open_bounded(c, path, SITES_FILE_MAX, 1, &f, &size);
    if (APR_STATUS_IS_ENOENT(rv) || APR_STATUS_IS_ENOTDIR(rv)) {
        if (quiet)
            return NULL;
        fprintf(stderr, "%s: no list of sites in %s: the server writes it when it starts "
                "(is --state-dir its MQLStateDir?)\n", prog, path);
        return NULL;
    }
    if (rv == APR_EGENERAL) {
        fprintf(stderr, "%s: %s is not a regular file of at most %d bytes%s; not read\n",
                prog, path, SITES_FILE_MAX, geteuid() == 0 ? " that only root may write" : "");
        return NULL;
    }
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, apr_strerror(rv, err, sizeof err));
        return NULL;
    }
    text = apr_palloc(c->p, (apr_size_t)size + 1);
    rv = size ? apr_file_read_full(f, text, (apr_size_t)size, &got) : APR_SUCCESS;
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv)) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, apr_strerror(rv, err, sizeof err));
        return NULL;
    }
    text[got] = '\0';
    sites = mql_sites_parse(c->p, text, &bad);
    if (bad)
        fprintf(stderr, "%s: warning: %d malformed line%s in %s skipped\n", prog, bad,
                bad == 1 ? "" : "s", path);
    return sites;
}

/* The names of the sites, for a message: "a.test, b.test". */
static const char *site_names(ctl_t *c, const apr_array_header_t *sites)
{
    const mql_site_entry_t *e = (const mql_site_entry_t *)sites->elts;
    const char *names = NULL;
    int i;

    for (i = 0; i < sites->nelts; i++)
        names = apr_pstrcat(c->p, names ? names : "", names ? ", " : "",
                            e[i].name[0] ? tty(c->p, e[i].name) : "\"\"", NULL);
    return names ? names : "(none)";
}

/* --site NAME: that site's leads file and type in place of --dbm and
 * --type.  A site the list does not name, or no list, is bad usage. */
static int use_site(ctl_t *c)
{
    apr_array_header_t *sites = read_sites(c, 0);
    const mql_site_entry_t *e;

    if (!sites)
        return EXIT_USAGE;
    e = mql_sites_find(sites, c->site);
    if (!e) {
        fprintf(stderr, "%s: no site '%s' in %s/" MQL_SITES_NAME "; the sites are: %s\n",
                prog, tty(c->p, c->site), c->state_dir, site_names(c, sites));
        return EXIT_USAGE;
    }
    c->dbm = e->file;
    c->type = e->type;
    return 0;
}

static int cmd_sites(ctl_t *c)
{
    apr_array_header_t *sites = read_sites(c, 0);
    const mql_site_entry_t *e;
    int i;

    if (!sites)
        return EXIT_FAIL;
    e = (const mql_site_entry_t *)sites->elts;
    printf("%-30s  %-7s  %s\n", "SITE", "TYPE", "FILE");
    for (i = 0; i < sites->nelts; i++)
        printf("%-30s  %-7s  %s\n", e[i].name[0] ? tty(c->p, e[i].name) : "\"\"",
               tty(c->p, e[i].type), tty(c->p, e[i].file));
    return 0;
}

/* The directory that holds path. */
static const char *dir_of(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return ".";
    return slash == path ? "/" : apr_pstrndup(p, path, (apr_size_t)(slash - path));
}

/*
 * As root, become the owner of the state directory -- the server's user
 * -- before touching anything.  Everything mqlctl opens, creates or
 * renames there (control requests, the DBM file and its lock, the
 * snapshot) is in a directory that user can write, where a link or a
 * FIFO put in place of a name would otherwise aim root's writes anywhere
 * or block it.  The DBM file's directory counts the same way.  Both of
 * root's own: mqlctl stays root, unless others may write there.
 */
static int drop_root(ctl_t *c)
{
    const char *dirs[2];
    struct stat st;
    int i;

    if (geteuid() != 0)
        return 0;
    dirs[0] = c->state_dir;
    dirs[1] = dir_of(c->p, c->dbm);
    for (i = 0; i < 2; i++) {
        gid_t gid;

        if (stat(dirs[i], &st) != 0)
            continue;
        if (st.st_uid == 0) {
            if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
                continue;
            fprintf(stderr, "%s: %s belongs to root but others may write into it; run "
                    "mqlctl as the server's user instead\n", prog, dirs[i]);
            return -1;
        }
        gid = st.st_gid;
        if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(st.st_uid) != 0
            || setuid(0) == 0) {
            fprintf(stderr, "%s: cannot become uid %ld, the owner of %s: %s\n", prog,
                    (long)st.st_uid, dirs[i], strerror(errno));
            return -1;
        }
        return 0;
    }
    return 0;
}

int main(int argc, const char *const *argv)
{
    /* long options only (optch above 255): IDs are base64url, and one may
     * begin with '-' */
    enum { O_DBM = 256, O_TYPE, O_SITE, O_STATE, O_FORMAT, O_WAIT, O_DAYS, O_THRESHOLD,
           O_REQUIRE, O_HELP, O_VERSION, O_REASON, O_FAILED, O_RETRY, O_BY };
    static const apr_getopt_option_t opts[] = {
        { "dbm", O_DBM, 1, "DBM file" },
        { "type", O_TYPE, 1, "DBM type" },
        { "site", O_SITE, 1, "site name" },
        { "state-dir", O_STATE, 1, "state directory" },
        { "format", O_FORMAT, 1, "export format" },
        { "wait", O_WAIT, 1, "seconds to wait for the server" },
        { "days", O_DAYS, 1, "days of the funnel" },
        { "by", O_BY, 1, "the funnel by source, medium or campaign" },
        { "threshold", O_THRESHOLD, 1, "whatif threshold" },
        { "require", O_REQUIRE, 1, "whatif requirement" },
        { "reason", O_REASON, 1, "adjust reason" },
        { "failed", O_FAILED, 0, "deliveries: the failed ones" },
        { "retry", O_RETRY, 1, "deliveries: send again" },
        { "help", O_HELP, 0, "help" },
        { "version", O_VERSION, 0, "version" },
        { NULL, 0, 0, NULL }
    };
    apr_getopt_t *os;
    apr_status_t st;
    const char *val;
    int optch;
    ctl_t c;
    const char *format = NULL, *cmd, **args, *threshold = NULL, *reason = NULL;
    const char *retry = NULL;
    const char *by = NULL;
    apr_array_header_t *require;
    int days = 30;
    int nargs, type_given = 0, rc, failed_only = 0;

    apr_app_initialize(&argc, &argv, NULL);
    atexit(apr_terminate);
    memset(&c, 0, sizeof c);
    apr_pool_create(&c.p, NULL);
    mql_log_set(log_stderr, NULL, MQL_LOG_WARNING);
    c.state_dir = DEFAULT_STATE_DIR;
    c.type = MQL_DBM_DEFAULT_TYPE;
    c.wait = 5;

    /* options may come before or after the command: --name VALUE or --name=VALUE */
    apr_getopt_init(&os, c.p, argc, argv);
    os->interleave = 1;
    os->errfn = NULL;
    require = apr_array_make(c.p, 2, sizeof(const char *));
    while ((st = apr_getopt_long(os, opts, &optch, &val)) != APR_EOF) {
        const char *a = os->argv[os->ind - 1];

        if (st == APR_BADCH && a[0] == '-' && a[1] != '-') {
            /* "-" or "-xyz" is an operand, an ID say: extend the run of
             * operands APR has skipped over to take it in */
            os->skip_end = os->ind;
            continue;
        }
        if (st == APR_BADCH)
            return die_usage("unknown option %s", a);
        if (st != APR_SUCCESS)
            return die_usage(strchr(a, '=') ? "option %s takes no value"
                                            : "option %s needs a value", a);
        switch (optch) {
        case O_DBM: c.dbm = val; break;
        case O_TYPE: c.type = val; type_given = 1; break;
        case O_SITE: c.site = val; break;
        case O_STATE: c.state_dir = val; break;
        case O_FORMAT: format = val; break;
        case O_WAIT: c.wait = atof(val); break;
        case O_DAYS: days = atoi(val); break;
        case O_BY: by = val; break;
        case O_THRESHOLD: threshold = val; break;
        case O_REQUIRE: *(const char **)apr_array_push(require) = val; break;
        case O_REASON: reason = val; break;
        case O_FAILED: failed_only = 1; break;
        case O_RETRY: retry = val; break;
        case O_HELP: usage(stdout); return 0;
        case O_VERSION: printf("mqlctl %s\n", MQL_VERSION); return 0;
        }
    }
    if (c.site && (c.dbm || type_given))
        return die_usage("--site %s names the leads file and its type: give it without "
                         "--dbm and --type", c.site);
    if (c.site && !c.site[0])
        return die_usage("--site needs a site's name (see: mqlctl sites)%s", "");
    if (!c.dbm)
        c.dbm = apr_pstrcat(c.p, c.state_dir, "/leads", NULL);
    if (strcmp(c.type, "sdbm") && strcmp(c.type, "gdbm") && strcmp(c.type, "db")
        && strcmp(c.type, "ndbm") && strcmp(c.type, "default"))
        return die_usage("--type expects gdbm, sdbm or db, got '%s'", c.type);
    /* which Redis the server uses, read while still root: its password
     * is root's alone (mqlctl_redis_config) */
    nargs = argc - os->ind;
    args = os->argv + os->ind;
    if (nargs && !strcmp(args[0], "forget"))
        c.redis_state = mqlctl_redis_config(c.p, c.state_dir, &c.redis, &c.redis_why);
    if (drop_root(&c) != 0)
        return EXIT_FAIL;
    if (nargs < 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = args[0];
    if (!strcmp(cmd, "sites") && nargs == 1)
        return cmd_sites(&c);
    if (c.site && strcmp(cmd, "help")) {
        /* the site's file may be elsewhere: its directory counts for
         * drop_root() as the one given with --dbm would */
        if ((rc = use_site(&c)) != 0)
            return rc;
        if (drop_root(&c) != 0)
            return EXIT_FAIL;
    }
    if (!strcmp(cmd, "list") && nargs == 1)
        return cmd_list(&c);
    if (!strcmp(cmd, "show") && nargs == 2)
        return cmd_show(&c, args[1]);
    if (!strcmp(cmd, "export") && nargs == 1)
        return cmd_export(&c, format);
    if (!strcmp(cmd, "set") && (nargs == 3 || nargs == 4))
        return cmd_set(&c, args[1], args[2], nargs == 4 ? args[3] : NULL);
    if (!strcmp(cmd, "forget") && nargs == 2)
        return cmd_forget(&c, args[1]);
    if (!strcmp(cmd, "adjust") && nargs == 3)
        return cmd_adjust(&c, args[1], args[2], reason);
    if (!strcmp(cmd, "stats") && nargs == 1)
        return cmd_stats(&c);
    if (!strcmp(cmd, "funnel") && nargs == 1)
        return by ? mqlctl_funnel_by(c.p, c.state_dir, days, by, format)
                  : mqlctl_funnel(c.p, c.state_dir, days, format);
    if (!strcmp(cmd, "criteria") && nargs == 1)
        return mqlctl_criteria(c.p, c.state_dir, format);
    if (!strcmp(cmd, "whatif") && nargs == 1)
        return mqlctl_whatif(c.p, c.state_dir, threshold, require, format);
    if (!strcmp(cmd, "accounts") && nargs == 1)
        return mqlctl_accounts(c.p, c.state_dir, c.site, format);
    if (!strcmp(cmd, "deliveries") && nargs == 1)
        return mqlctl_deliveries(c.p, c.state_dir, failed_only, retry, format);
    if (!strcmp(cmd, "help"))
        return usage(stdout), 0;
    if (strcmp(cmd, "list") && strcmp(cmd, "show") && strcmp(cmd, "export")
        && strcmp(cmd, "set") && strcmp(cmd, "forget") && strcmp(cmd, "stats")
        && strcmp(cmd, "sites") && strcmp(cmd, "funnel") && strcmp(cmd, "criteria")
        && strcmp(cmd, "whatif") && strcmp(cmd, "accounts") && strcmp(cmd, "adjust")
        && strcmp(cmd, "deliveries"))
        return die_usage("unknown command '%s'", cmd);
    return die_usage("wrong number of arguments for '%s'", cmd);
}
