/*
 * Snapshot of the visitor table, so that state survives a restart (the way
 * mod_slotmem_shm persists its slots): the parent saves, the next
 * generation restores.
 *
 * File layout (native byte order: a snapshot is read back by the same
 * build on the same host; the header records enough to refuse any other):
 *
 *   +------------------------------+  0
 *   | snap_hdr_t (48 bytes)        |  "MQLSNAP1", version, record size,
 *   |                              |  contact size, byte-order mark,
 *   |                              |  count, contacts, time, capacity
 *   +------------------------------+  48 = body
 *   | record 0: mql_visitor_t      |  112 bytes; next = 0, contact = 1
 *   |   [contact: 124 bytes]       |  when a contact text follows
 *   | record 1 ...                 |
 *   +------------------------------+  size - 8
 *   | checksum (uint64)            |
 *   +------------------------------+
 *
 * Checksum: SipHash-2-4 under a fixed key, chained over 1 MiB blocks of the
 * body (each block hashed with the key XOR the previous block's result),
 * then one last hash over header + chain value.  The header is hashed last
 * because the record count is only known once the table walk is over.  It
 * detects damage, it does not authenticate: the file is mode 0600.
 *
 * Saving writes path.tmp.PID through a 1 MiB buffer and renames it over path,
 * so a crash never leaves half a file under the real name.  Restoring
 * reads and checks the whole file before it touches the table.
 *
 * The file lives in a directory the server's user can write, so neither
 * side trusts the names there: the temporary file is created anew (never
 * opened through a link or a leftover), and restore reads only a regular
 * file, without waiting (a FIFO), reached without a link in its last
 * component, and no larger than a snapshot that restore could use (a
 * sparse file of a terabyte is not read).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_portable.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mql_store.h"
#include "mql_siphash.h"
#include "mql_log.h"

#define SNAP_MAGIC      "MQLSNAP1"
#define SNAP_VERSION    1
#define SNAP_BYTE_ORDER 0x01020304u
#define SNAP_BLOCK      ((size_t)1 << 20)
#define SNAP_SUM_BYTES  8
/* A snapshot holds at most this many records per slot of the table it is
 * restored into (a table may shrink), or this many in all, whichever is
 * larger: the bound on what restore reads. */
#define SNAP_MAX_PER_SLOT 4
#define SNAP_MAX_RECORDS  (1u << 20)

typedef struct snap_hdr {
    char     magic[8];
    uint32_t version;
    uint32_t hdr_size;
    uint32_t record_size;
    uint32_t contact_len;
    uint32_t byte_order;
    uint32_t count;           /* records */
    uint32_t contacts;        /* records followed by a contact */
    uint32_t time;            /* when written */
    uint32_t capacity;        /* of the table it came from (information) */
    uint32_t reserved;
} snap_hdr_t;

_Static_assert(sizeof(snap_hdr_t) == 48, "snapshot header must stay 48 bytes");

static const uint8_t snap_key[MQL_KEY_BYTES] = {
    'm', 'o', 'd', '_', 'm', 'q', 'l', ' ', 's', 'n', 'a', 'p', 's', 'h', 'o', 't'
};

/* ------------------------------------------------------------------ */
/* Checksum                                                            */

static uint64_t chain_block(uint64_t acc, const void *data, size_t len)
{
    uint8_t key[MQL_KEY_BYTES];
    int i;

    memcpy(key, snap_key, sizeof(key));
    for (i = 0; i < 8; i++)
        key[i] ^= (uint8_t)(acc >> (8 * i));
    return mql_siphash24(key, data, len);
}

static uint64_t final_sum(const snap_hdr_t *hdr, uint64_t acc)
{
    uint8_t buf[sizeof(*hdr) + 8];

    memcpy(buf, hdr, sizeof(*hdr));
    memcpy(buf + sizeof(*hdr), &acc, 8);
    return mql_siphash24(snap_key, buf, sizeof(buf));
}

/* Chain value of a whole body in memory, block by block as it was written. */
static uint64_t body_sum(const char *body, size_t len)
{
    uint64_t acc = 0;
    size_t n;

    for (; len; body += n, len -= n) {
        n = len < SNAP_BLOCK ? len : SNAP_BLOCK;
        acc = chain_block(acc, body, n);
    }
    return acc;
}

/* ------------------------------------------------------------------ */
/* Save                                                                */

typedef struct snap_writer {
    apr_file_t *f;
    char *buf;                /* SNAP_BLOCK bytes */
    size_t len;
    uint64_t acc;             /* chain value of the blocks written so far */
    apr_status_t rv;
    uint32_t count;
    uint32_t contacts;
} snap_writer_t;

/* Blocks go out whole, so their boundaries match what restore hashes. */
static void writer_flush(snap_writer_t *w)
{
    if (!w->len || w->rv != APR_SUCCESS)
        return;
    w->acc = chain_block(w->acc, w->buf, w->len);
    w->rv = apr_file_write_full(w->f, w->buf, w->len, NULL);
    w->len = 0;
}

static void writer_put(snap_writer_t *w, const void *data, size_t n)
{
    const char *src = data;

    while (n && w->rv == APR_SUCCESS) {
        size_t take = SNAP_BLOCK - w->len;
        if (take > n)
            take = n;
        memcpy(w->buf + w->len, src, take);
        w->len += take;
        src += take;
        n -= take;
        if (w->len == SNAP_BLOCK)
            writer_flush(w);
    }
}

static int save_one(const mql_visitor_t *v, const char *contact, void *baton)
{
    snap_writer_t *w = baton;
    mql_visitor_t rec = *v;
    char text[MQL_CONTACT_LEN];

    rec.next = 0;
    rec.contact = contact ? 1 : 0;
    writer_put(w, &rec, sizeof(rec));
    if (contact) {
        memset(text, 0, sizeof(text));
        apr_cpystrn(text, contact, sizeof(text));
        writer_put(w, text, sizeof(text));
        w->contacts++;
    }
    w->count++;
    return w->rv != APR_SUCCESS;
}

/* Walk the table into the open file; then the checksum, then the header. */
static apr_status_t write_snapshot(mql_store_t *s, snap_writer_t *w)
{
    snap_hdr_t hdr;
    uint64_t sum;
    apr_off_t off = 0;

    memset(&hdr, 0, sizeof(hdr));
    w->rv = apr_file_write_full(w->f, &hdr, sizeof(hdr), NULL);   /* placeholder */
    if (w->rv == APR_SUCCESS)
        mql_store_iterate(s, save_one, w);
    writer_flush(w);
    if (w->rv != APR_SUCCESS)
        return w->rv;

    memcpy(hdr.magic, SNAP_MAGIC, sizeof(hdr.magic));
    hdr.version = SNAP_VERSION;
    hdr.hdr_size = sizeof(hdr);
    hdr.record_size = sizeof(mql_visitor_t);
    hdr.contact_len = MQL_CONTACT_LEN;
    hdr.byte_order = SNAP_BYTE_ORDER;
    hdr.count = w->count;
    hdr.contacts = w->contacts;
    hdr.time = (uint32_t)apr_time_sec(apr_time_now());
    hdr.capacity = mql_store_capacity(s);
    sum = final_sum(&hdr, w->acc);
    if ((w->rv = apr_file_write_full(w->f, &sum, sizeof(sum), NULL)) != APR_SUCCESS
        || (w->rv = apr_file_seek(w->f, APR_SET, &off)) != APR_SUCCESS
        || (w->rv = apr_file_write_full(w->f, &hdr, sizeof(hdr), NULL)) != APR_SUCCESS)
        return w->rv;
    return APR_SUCCESS;
}

apr_status_t mql_snapshot_save(mql_store_t *s, const char *path, apr_pool_t *p,
                               uint32_t *count)
{
    /* One temporary name per process: the parent's save at shutdown and the
     * writer's periodic save may overlap during a graceful restart. */
    const char *tmp = apr_psprintf(p, "%s.tmp.%ld", path, (long)getpid());
    snap_writer_t w;
    apr_status_t rv;
    char err[256];

    if (count)
        *count = 0;
    memset(&w, 0, sizeof(w));
    /* A leftover from a crash (or a link put in its place) is removed, not
     * opened: the file is always a new one of ours. */
    apr_file_remove(tmp, p);
    rv = apr_file_open(&w.f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL
                       | APR_FOPEN_BINARY, APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
    if (rv != APR_SUCCESS) {
        mql_log(MQL_LOG_ERR, "MQL01020: snapshot %s: cannot create: %s", tmp,
                apr_strerror(rv, err, sizeof(err)));
        return rv;
    }
    if (!(w.buf = malloc(SNAP_BLOCK))) {
        apr_file_close(w.f);
        apr_file_remove(tmp, p);
        mql_log(MQL_LOG_ERR, "MQL01021: snapshot %s: out of memory", path);
        return APR_ENOMEM;
    }
    rv = write_snapshot(s, &w);
    free(w.buf);
    /* The data must be on disk before the rename makes it the snapshot. */
    if (rv == APR_SUCCESS)
        rv = apr_file_datasync(w.f);
    if (rv == APR_SUCCESS)
        rv = apr_file_close(w.f);
    else
        apr_file_close(w.f);
    if (rv != APR_SUCCESS) {
        mql_log(MQL_LOG_ERR, "MQL01022: snapshot %s: write failed: %s", tmp,
                apr_strerror(rv, err, sizeof(err)));
        apr_file_remove(tmp, p);
        return rv;
    }
    rv = apr_file_rename(tmp, path, p);
    if (rv != APR_SUCCESS) {
        mql_log(MQL_LOG_ERR, "MQL01023: snapshot %s: cannot rename %s over it: %s", path,
                tmp, apr_strerror(rv, err, sizeof(err)));
        apr_file_remove(tmp, p);
        return rv;
    }
    if (count)
        *count = w.count;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Restore                                                             */

/* The largest file restore reads into a table of that capacity. */
static uint64_t max_file_size(uint32_t capacity)
{
    uint64_t records = (uint64_t)capacity * SNAP_MAX_PER_SLOT;

    if (records < SNAP_MAX_RECORDS)
        records = SNAP_MAX_RECORDS;
    return sizeof(snap_hdr_t) + records * (sizeof(mql_visitor_t) + MQL_CONTACT_LEN)
           + SNAP_SUM_BYTES;
}

/*
 * The snapshot file opened for reading: a regular file (not a FIFO, on
 * which an open or a read would wait forever), reached without a link in
 * its last component, of at most max_size bytes.  An error with *why set
 * otherwise.
 */
static apr_status_t open_snapshot(const char *path, uint64_t max_size, apr_pool_t *p,
                                  apr_file_t **f, apr_size_t *size, const char **why)
{
    struct stat st;
    apr_status_t rv = APR_SUCCESS;
    char err[256];
    int fd;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        *why = apr_psprintf(p, "cannot open: %s%s", apr_strerror(rv, err, sizeof(err)),
                            errno == ELOOP ? " (a symbolic link is not followed)" : "");
        return rv;
    }
    if (fstat(fd, &st) != 0) {
        rv = APR_FROM_OS_ERROR(errno);
        *why = apr_psprintf(p, "cannot stat: %s", apr_strerror(rv, err, sizeof(err)));
    }
    else if (!S_ISREG(st.st_mode)) {
        rv = APR_EGENERAL;
        *why = "not a regular file";
    }
    else if ((uint64_t)st.st_size > max_size || (uint64_t)st.st_size > (apr_size_t)-1) {
        rv = APR_EGENERAL;
        *why = apr_psprintf(p, "%" APR_OFF_T_FMT " bytes, more than a snapshot for this "
                            "table can hold (%" APR_UINT64_T_FMT ")", (apr_off_t)st.st_size,
                            max_size);
    }
    else
        rv = apr_os_file_put(f, &fd, APR_FOPEN_READ | APR_FOPEN_BINARY, p);
    if (rv != APR_SUCCESS)
        close(fd);
    else
        *size = (apr_size_t)st.st_size;
    return rv;
}

apr_status_t mql_snapshot_size(const char *path, apr_pool_t *p, uint32_t *records,
                               uint32_t *contacts, const char **why)
{
    snap_hdr_t hdr;
    apr_file_t *f;
    apr_size_t size = 0, n = sizeof(hdr);
    const char *dummy;
    apr_status_t rv;

    if (!why)
        why = &dummy;
    *records = *contacts = 0;
    rv = open_snapshot(path, (apr_size_t)-1, p, &f, &size, why);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_read_full(f, &hdr, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS || memcmp(hdr.magic, SNAP_MAGIC, sizeof(hdr.magic)) != 0
        || hdr.record_size != sizeof(mql_visitor_t)) {
        *why = "not a snapshot of this build";
        return APR_EGENERAL;
    }
    /* what the header says, as far as the file's size bears it out */
    *records = (uint64_t)hdr.count * sizeof(mql_visitor_t) <= size ? hdr.count
               : (uint32_t)(size / sizeof(mql_visitor_t));
    *contacts = hdr.contacts <= *records ? hdr.contacts : *records;
    return APR_SUCCESS;
}

/* The whole file in memory (malloc'd), or an error with *why set. */
static apr_status_t read_file(const char *path, uint64_t max_size, apr_pool_t *p, char **data,
                              apr_size_t *size, const char **why)
{
    apr_file_t *f = NULL;
    apr_status_t rv;
    char err[256];

    *data = NULL;
    if ((rv = open_snapshot(path, max_size, p, &f, size, why)) != APR_SUCCESS)
        return rv;
    if (!(*data = malloc(*size ? *size : 1)))
        rv = APR_ENOMEM;
    if (rv == APR_SUCCESS && *size)
        rv = apr_file_read_full(f, *data, *size, NULL);
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        *why = apr_psprintf(p, "cannot read: %s", apr_strerror(rv, err, sizeof(err)));
        free(*data);
        *data = NULL;
    }
    return rv;
}

/* Header, size and checksum.  NULL when the file is sound. */
static const char *check_frame(const char *data, apr_size_t size, snap_hdr_t *hdr,
                               apr_pool_t *p)
{
    uint64_t want, sum;

    if (size < sizeof(*hdr) + SNAP_SUM_BYTES)
        return apr_psprintf(p, "truncated: %" APR_SIZE_T_FMT " bytes", size);
    memcpy(hdr, data, sizeof(*hdr));
    if (memcmp(hdr->magic, SNAP_MAGIC, sizeof(hdr->magic)) != 0)
        return "not a mod_mql snapshot (bad magic)";
    if (hdr->version != SNAP_VERSION)
        return apr_psprintf(p, "version %u, this build reads %u", hdr->version, SNAP_VERSION);
    if (hdr->hdr_size != sizeof(*hdr) || hdr->record_size != sizeof(mql_visitor_t)
        || hdr->contact_len != MQL_CONTACT_LEN || hdr->byte_order != SNAP_BYTE_ORDER)
        return apr_psprintf(p, "written by another build (record %u bytes, contact %u, "
                            "byte order %08x)", hdr->record_size, hdr->contact_len,
                            hdr->byte_order);
    if (hdr->contacts > hdr->count)
        return apr_psprintf(p, "%u contacts for %u records", hdr->contacts, hdr->count);
    want = sizeof(*hdr) + (uint64_t)hdr->count * sizeof(mql_visitor_t)
         + (uint64_t)hdr->contacts * MQL_CONTACT_LEN + SNAP_SUM_BYTES;
    if (size < want)
        return apr_psprintf(p, "truncated: %" APR_SIZE_T_FMT " bytes, header promises %"
                            APR_UINT64_T_FMT, size, want);
    if (size > want)
        return apr_psprintf(p, "%" APR_UINT64_T_FMT " bytes of trailing garbage",
                            (uint64_t)size - want);
    sum = final_sum(hdr, body_sum(data + sizeof(*hdr), size - sizeof(*hdr) - SNAP_SUM_BYTES));
    if (memcmp(&sum, data + size - SNAP_SUM_BYTES, SNAP_SUM_BYTES) != 0)
        return "checksum mismatch";
    return NULL;
}

/* A cursor over the records of a checked file. */
typedef struct snap_reader {
    const char *pos;
    const char *end;
} snap_reader_t;

/* Next record (copied: records are not aligned in the file) and its contact. */
static int next_record(snap_reader_t *r, mql_visitor_t *rec, const char **contact)
{
    if ((size_t)(r->end - r->pos) < sizeof(*rec))
        return 0;
    memcpy(rec, r->pos, sizeof(*rec));
    r->pos += sizeof(*rec);
    *contact = NULL;
    if (rec->contact == 1 && (size_t)(r->end - r->pos) >= MQL_CONTACT_LEN) {
        *contact = r->pos;
        r->pos += MQL_CONTACT_LEN;
    }
    return 1;
}

/* Every record plausible, before anything goes into the table. */
static const char *check_records(const char *data, const snap_hdr_t *hdr, apr_pool_t *p)
{
    snap_reader_t r = { data + sizeof(*hdr), data + sizeof(*hdr)
                        + (size_t)hdr->count * sizeof(mql_visitor_t)
                        + (size_t)hdr->contacts * MQL_CONTACT_LEN };
    mql_visitor_t rec;
    const char *contact;
    uint32_t i, contacts = 0;

    for (i = 0; i < hdr->count; i++) {
        if (!next_record(&r, &rec, &contact))
            return apr_psprintf(p, "record %u: past the end", i);
        if (!(rec.flags & MQL_VF_USED))
            return apr_psprintf(p, "record %u: not marked used", i);
        if (rec.stage >= MQL_STAGE_COUNT)
            return apr_psprintf(p, "record %u: stage %u out of range", i, rec.stage);
        if (rec.contact > 1 || (rec.contact && !contact))
            return apr_psprintf(p, "record %u: bad contact mark %u", i, rec.contact);
        if (contact) {
            if (!memchr(contact, '\0', MQL_CONTACT_LEN))
                return apr_psprintf(p, "record %u: contact not terminated", i);
            contacts++;
        }
    }
    if (contacts != hdr->contacts)
        return apr_psprintf(p, "%u contacts found, header says %u", contacts, hdr->contacts);
    return NULL;
}

typedef struct restore_tally {
    uint32_t restored;
    uint32_t leads_lost;
    uint32_t visitors_lost;
    uint32_t contacts_lost;
} restore_tally_t;

/* One pass over the records: the leads, or the plain visitors. */
static void insert_pass(mql_store_t *s, const char *data, const snap_hdr_t *hdr, int leads,
                        restore_tally_t *t)
{
    snap_reader_t r = { data + sizeof(*hdr), data + sizeof(*hdr)
                        + (size_t)hdr->count * sizeof(mql_visitor_t)
                        + (size_t)hdr->contacts * MQL_CONTACT_LEN };
    mql_visitor_t rec;
    const char *contact;
    apr_status_t rv;
    int dropped;

    while (next_record(&r, &rec, &contact)) {
        if ((MQL_STAGE_IS_LEAD(rec.stage) ? 1 : 0) != leads)
            continue;
        /* A lead may push out a plain visitor; a visitor never pushes out
         * anyone restored before it. */
        rv = mql_store_put_record(s, &rec, contact, leads, &dropped);
        if (rv == APR_SUCCESS)
            t->restored++;
        else if (rv == APR_ENOSPC && leads)
            t->leads_lost++;
        else if (rv == APR_ENOSPC)
            t->visitors_lost++;
        t->contacts_lost += dropped;
    }
}

apr_status_t mql_snapshot_restore(mql_store_t *s, const char *path, apr_pool_t *p,
                                  uint32_t *count, const char **why)
{
    const char *dummy, *problem;
    restore_tally_t tally = { 0 };
    snap_hdr_t hdr;
    char *data;
    apr_size_t size = 0;
    apr_status_t rv;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (count)
        *count = 0;
    rv = read_file(path, max_file_size(mql_store_capacity(s)), p, &data, &size, why);
    if (rv != APR_SUCCESS) {
        if (!APR_STATUS_IS_ENOENT(rv))
            mql_log(MQL_LOG_ERR, "MQL01024: snapshot %s: %s", path, *why);
        return rv;
    }
    problem = check_frame(data, size, &hdr, p);
    if (!problem)
        problem = check_records(data, &hdr, p);
    if (problem) {
        free(data);
        *why = problem;
        mql_log(MQL_LOG_ERR, "MQL01025: snapshot %s refused: %s", path, problem);
        return APR_EGENERAL;
    }

    /* Leads first: when the table is smaller than the snapshot, the
     * visitors that do not fit are the ones to lose. */
    insert_pass(s, data, &hdr, 1, &tally);
    insert_pass(s, data, &hdr, 0, &tally);
    free(data);
    mql_store_note_restored(s, tally.restored);

    if (tally.leads_lost)
        mql_log(MQL_LOG_ERR, "MQL01026: snapshot %s: %u leads did not fit in the table "
                "(%u slots)", path, tally.leads_lost, mql_store_capacity(s));
    if (tally.visitors_lost)
        mql_log(MQL_LOG_WARNING, "MQL01027: snapshot %s: %u visitors did not fit in the "
                "table (%u slots)", path, tally.visitors_lost, mql_store_capacity(s));
    if (tally.contacts_lost)
        mql_log(MQL_LOG_WARNING, "MQL01028: snapshot %s: %u contacts did not fit in the "
                "contact area", path, tally.contacts_lost);
    if (count)
        *count = tally.restored;
    return APR_SUCCESS;
}
