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
 * Copy-and-rename publication of the leads DBM file (see mql_dbmpub.h).
 *
 *   PATH.mqllock          flock'ed by whoever publishes (writer, mqlctl)
 *   PATH[.dir|.pag]       the live file(s): never written in place
 *   PATH.mqlnew[.dir|...] the next generation, built from the live file
 *                         plus the batch, fsync'ed, then renamed over it
 *
 * SDBM's directory file is a bitmap of split pages that only grows.  A
 * directory whose bits 0 .. 2^D - 2 are set (every node above depth D
 * split) puts every key at depth D (page = hash & (2^D - 1)), so as long
 * as no page overflows, the .dir
 * of one generation is byte-for-byte the .dir of the next: renaming .pag
 * and .dir one after the other cannot give a reader a mismatched pair.
 * The directory is written in whole 4 KiB blocks: sdbm (APR's and Perl's)
 * reads it a block at a time and APR treats a short block as all zeros.
 * The .pag is sparse (pages nobody hashed to are holes, read as empty),
 * and the copy keeps the holes (SEEK_DATA / SEEK_HOLE).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_dbm.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_hash.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "mql_dbmopen.h"
#include "mql_dbmpub.h"
#include "mql_log.h"

#define LOCK_EXT ".mqllock"
#define NEW_EXT ".mqlnew"
#define DEEP_EXT ".mqldeep"
#define BOTH_EXT ".mqlboth.pag"
#define SDBM_PBLK 1024            /* sdbm page size */
#define SDBM_DBLK 4096            /* sdbm reads its directory in 4 KiB blocks */
#define SDBM_MIN_DEPTH 12         /* the least depth of a file laid out by us */
#define SDBM_NEW_DEPTH 14         /* 16384 pages (16 MiB sparse): new files take */
                                  /* tens of thousands of leads before they deepen */
#define SDBM_MAX_DEPTH 22
#define SDBM_DEEPEN_GRACE apr_time_from_sec(1) /* longer than a reader's stall */
#define COPY_BLOCK 65536
#define DEFAULT_PERMS (APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD)

typedef struct pub {
    const char *path, *type, *newpath;
    const char *live1, *live2;      /* live2 NULL: single-file type */
    const char *new1, *new2;
    int sdbm;                       /* pre-split directory */
    apr_fileperms_t perms;
    long uid, gid;
    const char *why;
    apr_pool_t *p;
} pub_t;

static apr_status_t fail(pub_t *b, apr_status_t rv, const char *what, const char *file)
{
    char err[128];

    if (!b->why)
        b->why = apr_psprintf(b->p, "%s %s: %s", what, file ? file : b->path,
                              apr_strerror(rv, err, sizeof err));
    return rv;
}

static void remove_new(pub_t *b)
{
    apr_file_remove(b->new1, b->p);
    if (b->new2)
        apr_file_remove(b->new2, b->p);
}

apr_time_t mql_dbm_next_publish(apr_time_t end, apr_time_t cpu, apr_time_t wall)
{
    apr_time_t wait;

    /* a clock that went back counts as no time */
    cpu = cpu > 0 ? cpu : 0;
    wall = wall > 0 ? wall : 0;
    if (cpu >= MQL_DBM_PUBLISH_MAX_WAIT / MQL_DBM_PUBLISH_CPU_PACE
        || wall >= MQL_DBM_PUBLISH_MAX_WAIT / MQL_DBM_PUBLISH_WALL_PACE)
        return end + MQL_DBM_PUBLISH_MAX_WAIT;
    wait = MQL_DBM_PUBLISH_CPU_PACE * cpu;
    if (MQL_DBM_PUBLISH_WALL_PACE * wall > wait)
        wait = MQL_DBM_PUBLISH_WALL_PACE * wall;
    return end + wait;
}

void mql_dbm_cleanup(const char *path, const char *type, apr_pool_t *p)
{
    const char *n1 = NULL, *n2 = NULL;

    if (apr_dbm_get_usednames_ex(p, type, apr_pstrcat(p, path, NEW_EXT, NULL), &n1, &n2)
        != APR_SUCCESS)
        return;
    apr_file_remove(n1, p);
    if (n2)
        apr_file_remove(n2, p);
}

/* Mode and owner of a new file: those of the live one. */
static void adopt(pub_t *b, const char *file)
{
    apr_file_perms_set(file, b->perms);
    if (geteuid() == 0 && b->uid >= 0)
        if (chown(file, (uid_t)b->uid, (gid_t)b->gid) != 0)
            mql_log(MQL_LOG_WARNING, "MQL03001: cannot give %s to uid %ld", file, b->uid);
}

/* The kernel copies page cache to page cache, or shares the blocks where
 * the file system can; -1 where it cannot (another file system, an old
 * kernel, another system), and the caller copies through a buffer. */
static ssize_t copy_range(int in, int out, off_t pos, size_t len)
{
#ifdef __linux__
    off_t from = pos, to = pos;

    return copy_file_range(in, &from, out, &to, len, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/*
 * Copy the data (not the holes: sdbm .pag files are sparse) of from's
 * bytes [start, end) to the same offsets of to, which is created when
 * create is set, then make to at least size bytes long.
 */
static apr_status_t copy_extents(pub_t *b, const char *from, const char *to, apr_off_t start,
                                 int create)
{
    apr_file_t *in, *out;
    apr_os_file_t ifd, ofd;
    apr_finfo_t fi, fo;
    apr_status_t rv;
    off_t pos = start, data, hole;
    char *buf = apr_palloc(b->p, COPY_BLOCK);
    int in_kernel = 1;

    if ((rv = apr_file_open(&in, from, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, b->p))
        != APR_SUCCESS)
        return fail(b, rv, "cannot read", from);
    rv = apr_file_open(&out, to, APR_FOPEN_WRITE | APR_FOPEN_BINARY
                       | (create ? APR_FOPEN_CREATE | APR_FOPEN_EXCL : 0), b->perms, b->p);
    if (rv != APR_SUCCESS) {
        apr_file_close(in);
        return fail(b, rv, "cannot create", to);
    }
    apr_os_file_get(&ifd, in);
    apr_os_file_get(&ofd, out);
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, in);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&fo, APR_FINFO_SIZE, out);
    while (rv == APR_SUCCESS && pos < fi.size) {
        data = lseek(ifd, pos, SEEK_DATA);
        if (data < 0)
            break;                          /* only a hole is left */
        hole = lseek(ifd, data, SEEK_HOLE);
        if (hole < 0)
            hole = fi.size;
        for (pos = data; pos < hole; ) {
            size_t want = (size_t)(hole - pos < COPY_BLOCK ? hole - pos : COPY_BLOCK);
            ssize_t n = in_kernel ? copy_range(ifd, ofd, pos, (size_t)(hole - pos)) : 0;

            if (n <= 0) {
                in_kernel = 0;          /* not on this file system: through a buffer */
                n = pread(ifd, buf, want, pos);
                if (n <= 0 || pwrite(ofd, buf, (size_t)n, pos) != n) {
                    rv = n == 0 ? APR_EOF : APR_FROM_OS_ERROR(errno);
                    break;
                }
            }
            pos += n;
        }
    }
    if (rv == APR_SUCCESS && fo.size < fi.size && ftruncate(ofd, fi.size) != 0)
        rv = APR_FROM_OS_ERROR(errno);
    apr_file_close(in);
    if (apr_file_close(out) != APR_SUCCESS && rv == APR_SUCCESS)
        rv = APR_EGENERAL;
    return rv == APR_SUCCESS ? rv : fail(b, rv, "cannot copy to", to);
}

static apr_status_t copy_file(pub_t *b, const char *from, const char *to)
{
    return copy_extents(b, from, to, 0, 1);
}

static apr_status_t sync_file(pub_t *b, const char *file)
{
    apr_file_t *f;
    apr_status_t rv = apr_file_open(&f, file, APR_FOPEN_READ | APR_FOPEN_WRITE, 0, b->p);

    if (rv != APR_SUCCESS)
        return fail(b, rv, "cannot open", file);
    rv = apr_file_sync(f);
    apr_file_close(f);
    return rv == APR_SUCCESS ? rv : fail(b, rv, "cannot sync", file);
}

static apr_size_t dir_bytes(int depth)
{
    apr_size_t bits = ((apr_size_t)1 << depth) - 1;
    apr_size_t bytes = (bits + 7) / 8;

    return (bytes + SDBM_DBLK - 1) / SDBM_DBLK * SDBM_DBLK;
}

static void fill_dir(char *buf, apr_size_t size, int depth)
{
    apr_size_t bits = ((apr_size_t)1 << depth) - 1, i;

    memset(buf, 0, size);
    for (i = 0; i < bits / 8; i++)
        buf[i] = (char)0xFF;
    for (i = 0; i < bits % 8; i++)
        buf[bits / 8] |= (char)(1 << i);
}

/* The depth D of a directory that splits every node above D and nothing
 * else, or -1 (an empty file, or one that grew through a page split). */
static int sdbm_dir_depth(pub_t *b, const char *file)
{
    apr_finfo_t fi;
    apr_file_t *f;
    char *buf, *want;
    apr_size_t n;
    int depth = -1, d, ok;

    if (apr_stat(&fi, file, APR_FINFO_SIZE, b->p) != APR_SUCCESS || fi.size == 0
        || fi.size % SDBM_DBLK || fi.size > (apr_off_t)dir_bytes(SDBM_MAX_DEPTH))
        return -1;
    if (apr_file_open(&f, file, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, b->p) != APR_SUCCESS)
        return -1;
    n = (apr_size_t)fi.size;
    buf = apr_palloc(b->p, n);
    want = apr_palloc(b->p, n);
    ok = apr_file_read_full(f, buf, n, &n) == APR_SUCCESS && n == (apr_size_t)fi.size;
    apr_file_close(f);
    for (d = 1; ok && d <= SDBM_MAX_DEPTH && depth < 0; d++) {
        if (dir_bytes(d) != n)
            continue;
        fill_dir(want, n, d);
        if (!memcmp(buf, want, n))
            depth = d;
    }
    return depth;
}

static apr_status_t make_sdbm(pub_t *b, int depth)
{
    apr_file_t *f;
    apr_status_t rv;
    apr_size_t size = dir_bytes(depth);
    char *buf = apr_palloc(b->p, size);

    fill_dir(buf, size, depth);
    rv = apr_file_open(&f, b->new1, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL
                       | APR_FOPEN_BINARY, b->perms, b->p);
    if (rv != APR_SUCCESS)
        return fail(b, rv, "cannot create", b->new1);
    rv = apr_file_write_full(f, buf, size, NULL);
    apr_file_close(f);
    if (rv != APR_SUCCESS)
        return fail(b, rv, "cannot write", b->new1);
    rv = apr_file_open(&f, b->new2, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL
                       | APR_FOPEN_BINARY, b->perms, b->p);
    if (rv != APR_SUCCESS)
        return fail(b, rv, "cannot create", b->new2);
    apr_file_close(f);
    return APR_SUCCESS;
}

static apr_datum_t datum(const char *s)
{
    apr_datum_t d;

    d.dptr = (char *)s;
    d.dsize = strlen(s);
    return d;
}

/*
 * Copy every record of the live file whose key is not in skip.  The keys
 * are gathered before any is fetched: an sdbm fetch reads its page into
 * the buffer the walk is using, so fetching a key that lives on another
 * page (a doubled record of a deepened file, see deepen) would derail it.
 */
static apr_status_t copy_records(pub_t *b, apr_dbm_t *to, apr_hash_t *skip)
{
    apr_dbm_t *from;
    apr_datum_t key, val;
    apr_array_header_t *keys = apr_array_make(b->p, 256, sizeof(apr_datum_t));
    apr_hash_t *seen = apr_hash_make(b->p);
    apr_status_t rv;
    int i;

    rv = mql_dbm_open(&from, b->type, b->path, APR_DBM_READONLY, 0, b->p);
    if (rv != APR_SUCCESS)
        return fail(b, rv, "cannot open", b->path);
    for (rv = apr_dbm_firstkey(from, &key); rv == APR_SUCCESS && key.dptr;
         rv = apr_dbm_nextkey(from, &key)) {
        if (apr_hash_get(skip, key.dptr, key.dsize) || apr_hash_get(seen, key.dptr, key.dsize))
            continue;
        key.dptr = apr_pstrmemdup(b->p, key.dptr, key.dsize);
        apr_hash_set(seen, key.dptr, key.dsize, "");
        *(apr_datum_t *)apr_array_push(keys) = key;
    }
    if (APR_STATUS_IS_EOF(rv))
        rv = APR_SUCCESS;               /* the end of the walk */
    for (i = 0; rv == APR_SUCCESS && i < keys->nelts; i++) {
        key = ((apr_datum_t *)keys->elts)[i];
        if (apr_dbm_fetch(from, key, &val) != APR_SUCCESS || !val.dptr)
            continue;
        if ((rv = apr_dbm_store(to, key, val)) != APR_SUCCESS)
            fail(b, rv, "cannot store into", b->newpath);
    }
    apr_dbm_close(from);
    return rv;
}

/* 0 only for a file that reads cleanly as empty: anything else (records,
 * or a damaged file) is left to a rebuild from its records. */
static int live_holds_records(pub_t *b)
{
    apr_dbm_t *db;
    apr_datum_t key;
    apr_status_t rv;

    if (mql_dbm_open(&db, b->type, b->path, APR_DBM_READONLY, 0, b->p) != APR_SUCCESS)
        return 1;
    key.dptr = NULL;
    rv = apr_dbm_firstkey(db, &key);
    apr_dbm_close(db);
    return !((rv == APR_SUCCESS || APR_STATUS_IS_EOF(rv)) && !key.dptr);
}

static int only_absent_deletes(pub_t *b, const apr_array_header_t *changes)
{
    const mql_dbm_change_t *c = (const mql_dbm_change_t *)changes->elts;
    apr_dbm_t *db;
    int i, absent = 1;

    for (i = 0; i < changes->nelts; i++)
        if (c[i].value)
            return 0;
    if (mql_dbm_open(&db, b->type, b->path, APR_DBM_READONLY, 0, b->p) != APR_SUCCESS)
        return 0;
    for (i = 0; absent && i < changes->nelts; i++)
        absent = !apr_dbm_exists(db, datum(c[i].key));
    apr_dbm_close(db);
    return absent;
}

/* Build PATH.mqlnew: a copy (or a rebuild) of the live file plus the batch. */
static apr_status_t build(pub_t *b, int rebuild, int live_exists, int depth,
                          const apr_array_header_t *changes, apr_hash_t *last,
                          mql_dbm_pub_stats_t *st)
{
    const mql_dbm_change_t *c = (const mql_dbm_change_t *)changes->elts;
    apr_dbm_t *db;
    apr_status_t rv = APR_SUCCESS;
    int i;

    remove_new(b);
    memset(st, 0, sizeof *st);
    st->rebuilt = rebuild;
    if (rebuild && b->sdbm)
        rv = make_sdbm(b, depth);
    else if (!rebuild) {
        rv = copy_file(b, b->live1, b->new1);
        if (rv == APR_SUCCESS && b->live2)
            rv = copy_file(b, b->live2, b->new2);
    }
    if (rv != APR_SUCCESS)
        return rv;
    rv = mql_dbm_open(&db, b->type, b->newpath,
                      rebuild && !b->sdbm ? APR_DBM_RWCREATE : APR_DBM_READWRITE,
                      b->perms, b->p);
    if (rv != APR_SUCCESS)
        return fail(b, rv, "cannot open", b->newpath);
    if (rebuild && live_exists)
        rv = copy_records(b, db, last);
    for (i = 0; rv == APR_SUCCESS && i < changes->nelts; i++) {
        apr_datum_t key = datum(c[i].key);
        /* only the last change of a key counts */
        if (apr_hash_get(last, c[i].key, APR_HASH_KEY_STRING) != &c[i])
            continue;
        if (c[i].value) {
            if ((rv = apr_dbm_store(db, key, datum(c[i].value))) != APR_SUCCESS)
                fail(b, rv, "cannot store into", b->newpath);
            else
                st->written++;
        }
        else if (!rebuild && apr_dbm_exists(db, key)) {
            if ((rv = apr_dbm_delete(db, key)) != APR_SUCCESS)
                fail(b, rv, "cannot delete from", b->newpath);
            else
                st->deleted++;
        }
    }
    apr_dbm_close(db);
    return rv;
}

/* Files are synced before any of a generation is renamed: the renames
 * follow each other with nothing slow in between. */
static apr_status_t ready(pub_t *b, const char *file)
{
    apr_status_t rv = file ? sync_file(b, file) : APR_SUCCESS;

    if (rv == APR_SUCCESS && file)
        adopt(b, file);
    return rv;
}

static apr_status_t go_live_file(pub_t *b, const char *file, const char *live)
{
    apr_status_t rv = apr_file_rename(file, live, b->p);

    return rv == APR_SUCCESS ? rv : fail(b, rv, "cannot rename over", live);
}

/* A generation goes live .pag first, so that whoever sees the new .dir
 * (mod_rewrite's mtime check) finds the new pages already in place. */
static apr_status_t go_live(pub_t *b)
{
    apr_status_t rv;

    if ((rv = ready(b, b->new2)) != APR_SUCCESS || (rv = ready(b, b->new1)) != APR_SUCCESS)
        return rv;
    if (b->new2 && (rv = go_live_file(b, b->new2, b->live2)) != APR_SUCCESS)
        return rv;
    return go_live_file(b, b->new1, b->live1);
}

/*
 * A deeper sdbm directory must meet neither the old pages in a reader nor
 * the old directory the new pages: a reader opens .dir, then .pag, and
 * keys that move from page p to p + 2^D would not be found.  So before the
 * deeper generation goes live, the live .pag is replaced by one that
 * serves both directories: the live pages 0 .. 2^D - 1 as they are,
 * followed by the pages from 2^D on of the same records laid out at the
 * new depth.  A lookup then finds each record under either directory (a
 * walk under the old one meets some twice, at the end).  Then the deeper
 * generation goes live .dir first, so a reader that gets the new .dir gets
 * that .pag or the new one, and the .dir's mtime is touched last for
 * mod_rewrite, which may have cached the in-between state.
 *
 * Readers open the two files one after the other, APR's sdbm the .dir
 * first, Perl's the .pag first, and may be descheduled in between.  The
 * .pag serving both directories goes live SDBM_DEEPEN_GRACE before the new
 * .dir: a reader that took the old .pag then finds the old .dir, never the
 * new one, which would send half its lookups to holes.  The new .pag
 * follows the new .dir at once: under the new directory a walk that looks
 * up each key as it goes (Perl's each) jumps between the two layouts of
 * the .pag serving both, so that state must not last.  What is left is an
 * APR reader descheduled exactly across those last two renames: the old
 * .dir with the new .pag, once per doubling of the file.
 */
static apr_status_t go_live_deeper(pub_t *b, int live_depth, int depth)
{
    const char *both = apr_pstrcat(b->p, b->path, BOTH_EXT, NULL);
    const char *next1 = b->new1, *next2 = b->new2, *nextpath = b->newpath;
    mql_dbm_pub_stats_t ignored;
    apr_status_t rv;

    /* the live records at the new depth, beside the next generation */
    b->newpath = apr_pstrcat(b->p, b->path, DEEP_EXT, NULL);
    rv = apr_dbm_get_usednames_ex(b->p, b->type, b->newpath, &b->new1, &b->new2);
    if (rv == APR_SUCCESS)
        rv = build(b, 1, 1, depth, apr_array_make(b->p, 1, sizeof(mql_dbm_change_t)),
                   apr_hash_make(b->p), &ignored);
    apr_file_remove(both, b->p);
    if (rv == APR_SUCCESS)
        rv = copy_file(b, b->live2, both);
    if (rv == APR_SUCCESS)
        rv = copy_extents(b, b->new2, both, (apr_off_t)SDBM_PBLK << live_depth, 0);
    remove_new(b);
    b->new1 = next1;
    b->new2 = next2;
    b->newpath = nextpath;
    /* Everything is synced before the first rename: nothing slow comes
     * between the renames but the grace, during which a walk under the
     * old directory meets some records twice. */
    if (rv == APR_SUCCESS && (rv = ready(b, both)) == APR_SUCCESS
        && (rv = ready(b, b->new2)) == APR_SUCCESS && (rv = ready(b, b->new1)) == APR_SUCCESS
        && (rv = go_live_file(b, both, b->live2)) == APR_SUCCESS) {
        apr_sleep(SDBM_DEEPEN_GRACE);
        if ((rv = go_live_file(b, b->new1, b->live1)) == APR_SUCCESS)
            rv = go_live_file(b, b->new2, b->live2);
    }
    apr_file_remove(both, b->p);
    if (rv == APR_SUCCESS && (rv = apr_file_mtime_set(b->live1, apr_time_now(), b->p)))
        fail(b, rv, "cannot touch", b->live1);
    return rv;
}

/* An empty file without our layout (as apr_dbm creates it) gets an empty
 * one with it first: that generation and the last are both empty, so
 * no reader can mix them up. */
static apr_status_t go_live_layout(pub_t *b)
{
    apr_status_t rv;

    remove_new(b);
    rv = make_sdbm(b, SDBM_NEW_DEPTH);
    return rv == APR_SUCCESS ? go_live(b) : rv;
}

/*
 * The lock file sits beside the leads file, in a directory the server's
 * user writes: opened without following a link (nor waiting on a FIFO),
 * and only a regular file is used; given to the owner through the
 * descriptor.
 */
static apr_status_t open_lock_file(const char *name, long owner_uid, long owner_gid,
                                   apr_file_t **f, apr_pool_t *p)
{
    struct stat st;
    int fd = open(name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                  S_IRUSR | S_IWUSR | S_IRGRP);

    if (fd < 0)
        return APR_FROM_OS_ERROR(errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return APR_EGENERAL;
    }
    if (geteuid() == 0 && owner_uid >= 0 && fchown(fd, (uid_t)owner_uid, (gid_t)owner_gid))
        mql_log(MQL_LOG_WARNING, "MQL03002: cannot give %s to uid %ld", name, owner_uid);
    return apr_os_file_put(f, &fd, APR_FOPEN_READ | APR_FOPEN_WRITE, p);
}

apr_status_t mql_dbm_publish(const char *path, const char *type,
                             const apr_array_header_t *changes, int compact,
                             long owner_uid, long owner_gid,
                             mql_dbm_pub_stats_t *stats, const char **why, apr_pool_t *p)
{
    pub_t b;
    mql_dbm_pub_stats_t st;
    const mql_dbm_change_t *c = (const mql_dbm_change_t *)changes->elts;
    apr_hash_t *last = apr_hash_make(p);
    apr_file_t *lockf = NULL;
    apr_finfo_t fi;
    apr_status_t rv;
    int live_exists, rebuild, attempt, depth, live_depth, i;

    memset(&b, 0, sizeof b);
    memset(&st, 0, sizeof st);
    b.path = path;
    b.type = type;
    b.p = p;
    b.newpath = apr_pstrcat(p, path, NEW_EXT, NULL);
    b.uid = owner_uid;
    b.gid = owner_gid;
    if (why)
        *why = NULL;
    if ((rv = apr_dbm_get_usednames_ex(p, type, path, &b.live1, &b.live2)) != APR_SUCCESS
        || (rv = apr_dbm_get_usednames_ex(p, type, b.newpath, &b.new1, &b.new2))
           != APR_SUCCESS) {
        if (why)
            *why = apr_psprintf(p, "DBM type %s is not available", type);
        return rv;
    }
    b.sdbm = b.live2 && (!strcmp(type, "sdbm") || !strcmp(type, "default"));
    for (i = 0; i < changes->nelts; i++)
        apr_hash_set(last, c[i].key, APR_HASH_KEY_STRING, &c[i]);

    rv = open_lock_file(apr_pstrcat(p, path, LOCK_EXT, NULL), owner_uid, owner_gid, &lockf, p);
    if (rv != APR_SUCCESS) {
        fail(&b, rv, "cannot open the lock file of", path);
        goto out;
    }
    if ((rv = apr_file_lock(lockf, APR_FLOCK_EXCLUSIVE)) != APR_SUCCESS) {
        fail(&b, rv, "cannot lock", path);
        goto out;
    }

    live_exists = apr_stat(&fi, b.live1, APR_FINFO_PROT | APR_FINFO_OWNER, p) == APR_SUCCESS;
    b.perms = live_exists ? fi.protection : DEFAULT_PERMS;
    if (owner_uid < 0 && live_exists) {
        b.uid = (long)fi.user;
        b.gid = (long)fi.group;
    }
    /* Deletes of keys the file does not hold: nothing to publish. */
    if (live_exists && !compact && only_absent_deletes(&b, changes)) {
        rv = APR_SUCCESS;
        goto out;
    }
    rebuild = compact || !live_exists;
    depth = SDBM_NEW_DEPTH;
    live_depth = -1;
    if (b.sdbm && live_exists) {
        live_depth = sdbm_dir_depth(&b, b.live1);
        if (live_depth >= SDBM_MIN_DEPTH)
            depth = live_depth;
        else if (live_holds_records(&b))
            rebuild = 1;            /* not our layout: a plain rebuild */
        else if ((rv = go_live_layout(&b)) != APR_SUCCESS)
            goto out;
        else
            live_depth = SDBM_NEW_DEPTH;
    }
    for (attempt = 0;; attempt++) {
        if ((rv = build(&b, rebuild, live_exists, depth, changes, last, &st)) != APR_SUCCESS)
            goto out;
        /* A page overflowed and split: one level deeper. */
        if (b.sdbm && sdbm_dir_depth(&b, b.new1) != depth) {
            if (depth >= SDBM_MAX_DEPTH) {
                rv = APR_ENOSPC;
                fail(&b, rv, "too many records for an sdbm file:", path);
                goto out;
            }
            rebuild = 1;
            depth++;
            continue;
        }
        break;
    }
    if (b.sdbm && live_depth >= SDBM_MIN_DEPTH && depth > live_depth)
        rv = go_live_deeper(&b, live_depth, depth);
    else
        rv = go_live(&b);

out:
    if (rv != APR_SUCCESS)
        remove_new(&b);
    if (lockf)
        apr_file_close(lockf);        /* releases the lock */
    if (stats)
        *stats = st;
    if (why)
        *why = b.why;
    return rv;
}

apr_status_t mql_dbm_import_sdbm(const char *path, const char *type, unsigned *imported,
                                 const char **why, apr_pool_t *p)
{
    const char *dir = apr_pstrcat(p, path, ".dir", NULL);
    const char *pag = apr_pstrcat(p, path, ".pag", NULL);
    const char *n1 = NULL, *n2 = NULL;
    apr_array_header_t *changes = apr_array_make(p, 256, sizeof(mql_dbm_change_t));
    apr_hash_t *seen = apr_hash_make(p);
    mql_dbm_pub_stats_t st;
    apr_dbm_t *db;
    apr_datum_t key, val;
    apr_status_t rv;
    struct stat sb;
    char err[128];
    int i;

    *imported = 0;
    if (why)
        *why = NULL;
    if (apr_dbm_get_usednames_ex(p, type, path, &n1, &n2) != APR_SUCCESS || n2
        || lstat(dir, &sb) != 0 || !S_ISREG(sb.st_mode)
        || lstat(pag, &sb) != 0 || !S_ISREG(sb.st_mode))
        return APR_ENOENT;
    /* a file that holds leads is the live one: nothing to take over */
    if (apr_dbm_open_ex(&db, type, path, APR_DBM_READONLY, 0, p) == APR_SUCCESS) {
        key.dptr = NULL;
        rv = apr_dbm_firstkey(db, &key);
        apr_dbm_close(db);
        if (rv == APR_SUCCESS && key.dptr)
            return APR_ENOENT;
    }
    rv = apr_dbm_open_ex(&db, "sdbm", path, APR_DBM_READONLY, 0, p);
    if (rv != APR_SUCCESS) {
        if (why)
            *why = apr_psprintf(p, "cannot open the sdbm file %s: %s", path,
                                apr_strerror(rv, err, sizeof err));
        return rv;
    }
    /* keys first, values after: a fetch moves the page a walk reads */
    for (rv = apr_dbm_firstkey(db, &key); rv == APR_SUCCESS && key.dptr;
         rv = apr_dbm_nextkey(db, &key)) {
        mql_dbm_change_t *c;

        if (apr_hash_get(seen, key.dptr, key.dsize))
            continue;
        c = apr_array_push(changes);
        c->key = apr_pstrmemdup(p, key.dptr, key.dsize);
        c->value = NULL;
        apr_hash_set(seen, c->key, key.dsize, "");
    }
    for (i = 0; i < changes->nelts; i++) {
        mql_dbm_change_t *c = &APR_ARRAY_IDX(changes, i, mql_dbm_change_t);

        key.dptr = (char *)c->key;
        key.dsize = strlen(c->key);
        if (apr_dbm_fetch(db, key, &val) == APR_SUCCESS && val.dptr)
            c->value = apr_pstrmemdup(p, val.dptr, val.dsize);
    }
    apr_dbm_close(db);
    /* a key without a value would be a delete: leave it out */
    for (i = 0; i < changes->nelts; )
        if (!APR_ARRAY_IDX(changes, i, mql_dbm_change_t).value) {
            APR_ARRAY_IDX(changes, i, mql_dbm_change_t)
                = APR_ARRAY_IDX(changes, changes->nelts - 1, mql_dbm_change_t);
            changes->nelts--;
        }
        else
            i++;
    rv = mql_dbm_publish(path, type, changes, 0, -1, -1, &st, why, p);
    if (rv == APR_SUCCESS)
        *imported = st.written;
    return rv;
}
