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
 * Snapshot of the visitors, so that state survives a restart (the way
 * mod_slotmem_shm persists its slots), whatever store holds them: it is
 * written and read through the store interface, in a format of its own.
 *
 *   +------------------------------+  0
 *   | snap_hdr_t (48 bytes)        |  "MQLSNAP3", version, record size,
 *   |                              |  contact size, byte-order mark,
 *   |                              |  count, contacts, time, capacity
 *   +------------------------------+  48 = body
 *   | record 0 (record size)       |  a byte that says whether a contact
 *   |   [contact: 124 bytes]       |  follows, then the fields of
 *   | record 1 ...                 |  mql_fields.h, packed
 *   +------------------------------+  size - 8
 *   | checksum (uint64)            |
 *   +------------------------------+
 *
 * Record (version 3): has_contact 1, then the fields as mql_fields_pack
 * writes them (in mql_fields.h's order, at their widths, little-endian):
 * 97 bytes with today's fields.  A file of a build with fewer fields
 * (a smaller record, ending at a field's end) restores with the rest
 * zero; one of a build with more, without them.  Version 2 (mod_mql 1.0's
 * later builds): id 16, score 8 (IEEE 754 double), first_seen 4,
 * last_seen 4, stage_since 4, counts 7 x 2, stage 1, trigger_event 1,
 * site 1, flags 1, country 2, caps 8, trigger 32, has_contact 1, 3 zero
 * bytes: 100.  Version 1 (mod_mql 1.0) dumped the shared table's 112-byte
 * slot as it was, in native byte order.  Both are still read, version 1
 * on the machine that wrote it.
 *
 * Checksum: SipHash-2-4 under a fixed key, chained over 1 MiB blocks of the
 * body (each block hashed with the key XOR the previous block's result),
 * then one last hash over header + chain value.  The header is hashed last
 * because the record count is only known once the walk is over.  It
 * detects damage, it does not authenticate: the file is mode 0600.
 *
 * Saving writes path.tmp.PID through a 1 MiB buffer and renames it over path,
 * so a crash never leaves half a file under the real name.  Restoring
 * reads and checks the whole file before it touches the store.
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

#include "mql_le.h"
#include "mql_visitors.h"
#include <apr_siphash.h>
#include "mql_log.h"

#define SNAP_MAGIC      "MQLSNAP3"
#define SNAP_MAGIC_V2   "MQLSNAP2"
#define SNAP_MAGIC_V1   "MQLSNAP1"
#define SNAP_VERSION    3
#define SNAP_BYTE_ORDER 0x01020304u
#define SNAP_BLOCK      ((size_t)1 << 20)
#define SNAP_SUM_BYTES  8
/* A snapshot holds at most this many records per visitor the store can
 * hold (a store may shrink), or this many in all, whichever is larger:
 * the bound on what restore reads. */
#define SNAP_MAX_PER_SLOT 4
#define SNAP_MAX_RECORDS  (1u << 20)

#define REC_BYTES     (1 + mql_fields_packed_size(MQL_FIELD_COUNT))   /* version 3 */
#define REC_V3_FIELDS 13          /* fields at version 3's start: its smallest record */
#define REC_V2_BYTES  100
#define REC_V1_BYTES  112         /* version 1: the 1.0 table's slot */
#define V1_TRIGGER    36

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
    uint32_t capacity;        /* of the store it came from (information) */
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
    return apr_siphash24(data, len, key);
}

static uint64_t final_sum(const snap_hdr_t *hdr, uint64_t acc)
{
    uint8_t buf[sizeof(*hdr) + 8];

    memcpy(buf, hdr, sizeof(*hdr));
    memcpy(buf + sizeof(*hdr), &acc, 8);
    return apr_siphash24(buf, sizeof(buf), snap_key);
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
/* Records                                                             */

static void encode_record(const mql_visitor_t *v, int has_contact, uint8_t *r)
{
    r[0] = has_contact ? 1 : 0;
    mql_fields_pack(v, r + 1);
}

/* 1 and *has_contact when r (size bytes) holds a record of version 3 */
static int decode_record(const uint8_t *r, size_t size, mql_visitor_t *v, int *has_contact)
{
    size_t ours = mql_fields_packed_size(MQL_FIELD_COUNT);

    *has_contact = r[0];
    if (mql_fields_unpack(r + 1, size - 1 < ours ? size - 1 : ours, v) < 0)
        return 0;
    v->flags &= MQL_VF_COUNTRY | MQL_VF_FIT;
    return r[0] <= 1;
}

/* 1 and *has_contact when r holds a record of version 2 */
static int decode_record_v2(const uint8_t *r, mql_visitor_t *v, int *has_contact)
{
    uint64_t score = mql_le_get(r + 16, 8);
    int i;

    memset(v, 0, sizeof *v);
    memcpy(v->id, r, MQL_ID_BYTES);
    memcpy(&v->score, &score, 8);
    v->first_seen = (uint32_t)mql_le_get(r + 24, 4);
    v->last_seen = (uint32_t)mql_le_get(r + 28, 4);
    v->stage_since = (uint32_t)mql_le_get(r + 32, 4);
    for (i = 0; i < MQL_EV_COUNT; i++)
        v->counts[i] = (uint16_t)mql_le_get(r + 36 + 2 * i, 2);
    v->stage = r[50];
    v->trigger_event = r[51];
    v->site = r[52];
    v->flags = r[53] & (MQL_VF_COUNTRY | MQL_VF_FIT);
    memcpy(v->country, r + 54, 2);
    memcpy(v->caps, r + 56, MQL_CAPPED_RULES);
    memcpy(v->trigger, r + 64, MQL_TRIGGER_LEN);
    *has_contact = r[96];
    return r[96] <= 1 && memchr(v->trigger, '\0', MQL_TRIGGER_LEN) != NULL;
}

/* A record of version 1: the 1.0 table's slot, native byte order (id 0,
 * next 16, contact 20 (1 when a contact follows), first_seen 24,
 * last_seen 28, stage_since 32, flushed 36, score 40, counts 48, stage
 * 62, flags 63, trigger_event 64, country 65, site 67, caps 68, trigger
 * 76, 36 bytes). */
static int decode_record_v1(const uint8_t *r, mql_visitor_t *v, int *has_contact)
{
    uint32_t contact;

    memset(v, 0, sizeof *v);
    memcpy(v->id, r, MQL_ID_BYTES);
    memcpy(&contact, r + 20, 4);
    memcpy(&v->first_seen, r + 24, 4);
    memcpy(&v->last_seen, r + 28, 4);
    memcpy(&v->stage_since, r + 32, 4);
    memcpy(&v->score, r + 40, 8);
    memcpy(v->counts, r + 48, sizeof v->counts);
    v->stage = r[62];
    v->flags = (uint8_t)(((r[63] & 0x08) ? MQL_VF_COUNTRY : 0) | ((r[63] & 0x10) ? MQL_VF_FIT : 0));
    v->trigger_event = r[64];
    memcpy(v->country, r + 65, 2);
    v->site = r[67];
    memcpy(v->caps, r + 68, MQL_CAPPED_RULES);
    memcpy(v->trigger, r + 76, MQL_TRIGGER_LEN - 1);   /* a longer one is cut */
    *has_contact = (int)contact;
    return (r[63] & 0x01) && contact <= 1;
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
    uint8_t rec[1 + sizeof(mql_visitor_t)];
    char text[MQL_CONTACT_LEN];

    encode_record(v, contact != NULL, rec);
    writer_put(w, rec, REC_BYTES);
    if (contact) {
        memset(text, 0, sizeof(text));
        apr_cpystrn(text, contact, sizeof(text));
        writer_put(w, text, sizeof(text));
        w->contacts++;
    }
    w->count++;
    return w->rv != APR_SUCCESS;
}

typedef void snap_walk_fn(void *src, mql_visit_fn *fn, void *baton);

/* The records from walk into the open file; then the checksum, then the
 * header. */
static apr_status_t write_snapshot(snap_walk_fn *walk, void *src, uint32_t capacity,
                                   snap_writer_t *w)
{
    snap_hdr_t hdr;
    uint64_t sum;
    apr_off_t off = 0;

    memset(&hdr, 0, sizeof(hdr));
    w->rv = apr_file_write_full(w->f, &hdr, sizeof(hdr), NULL);   /* placeholder */
    if (w->rv == APR_SUCCESS)
        walk(src, save_one, w);
    writer_flush(w);
    if (w->rv != APR_SUCCESS)
        return w->rv;

    memcpy(hdr.magic, SNAP_MAGIC, sizeof(hdr.magic));
    hdr.version = SNAP_VERSION;
    hdr.hdr_size = sizeof(hdr);
    hdr.record_size = REC_BYTES;
    hdr.contact_len = MQL_CONTACT_LEN;
    hdr.byte_order = SNAP_BYTE_ORDER;
    hdr.count = w->count;
    hdr.contacts = w->contacts;
    hdr.time = (uint32_t)apr_time_sec(apr_time_now());
    hdr.capacity = capacity;
    sum = final_sum(&hdr, w->acc);
    if ((w->rv = apr_file_write_full(w->f, &sum, sizeof(sum), NULL)) != APR_SUCCESS
        || (w->rv = apr_file_seek(w->f, APR_SET, &off)) != APR_SUCCESS
        || (w->rv = apr_file_write_full(w->f, &hdr, sizeof(hdr), NULL)) != APR_SUCCESS)
        return w->rv;
    return APR_SUCCESS;
}

/* The snapshot of what walk hands over, written next to path and renamed
 * over it. */
static apr_status_t save_walk(snap_walk_fn *walk, void *src, uint32_t capacity,
                              const char *path, apr_pool_t *p, uint32_t *count)
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
    rv = write_snapshot(walk, src, capacity, &w);
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

static void walk_store(void *src, mql_visit_fn *fn, void *baton)
{
    mql_visitors_walk(src, MQL_WALK_ALL, fn, baton);
}

apr_status_t mql_snapshot_save(mql_visitors_t *vs, const char *path, apr_pool_t *p,
                               uint32_t *count)
{
    return save_walk(walk_store, vs, mql_visitors_capacity(vs), path, p, count);
}

/* ------------------------------------------------------------------ */
/* Restore                                                             */

/* The largest file restore reads for a store of that capacity. */
static uint64_t max_file_size(uint32_t capacity)
{
    uint64_t records = (uint64_t)capacity * SNAP_MAX_PER_SLOT;

    size_t rec = REC_BYTES > REC_V1_BYTES ? REC_BYTES : REC_V1_BYTES;

    if (records < SNAP_MAX_RECORDS)
        records = SNAP_MAX_RECORDS;
    return sizeof(snap_hdr_t) + records * (rec + MQL_CONTACT_LEN) + SNAP_SUM_BYTES;
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

/*
 * A version 3 file's record size as this build reads it: its own, that
 * of a build with fewer fields (ending at a field's end, not before
 * version 3's fields), or that of a build with more; 0 for any other.
 */
static uint32_t v3_record_size(uint32_t size)
{
    int k;

    if (size >= REC_BYTES)
        return size;
    for (k = REC_V3_FIELDS; k < MQL_FIELD_COUNT; k++)
        if (size == 1 + mql_fields_packed_size(k))
            return size;
    return 0;
}

/* Header, size and checksum.  NULL when the file is sound. */
static const char *check_frame(const char *data, apr_size_t size, snap_hdr_t *hdr,
                               apr_pool_t *p)
{
    uint64_t want, sum;
    uint32_t rec_size;

    if (size < sizeof(*hdr) + SNAP_SUM_BYTES)
        return apr_psprintf(p, "truncated: %" APR_SIZE_T_FMT " bytes", size);
    memcpy(hdr, data, sizeof(*hdr));
    if (!memcmp(hdr->magic, SNAP_MAGIC_V1, sizeof(hdr->magic)) && hdr->version == 1)
        rec_size = REC_V1_BYTES;
    else if (!memcmp(hdr->magic, SNAP_MAGIC_V2, sizeof(hdr->magic)) && hdr->version == 2)
        rec_size = REC_V2_BYTES;
    else if (!memcmp(hdr->magic, SNAP_MAGIC, sizeof(hdr->magic)) && hdr->version == SNAP_VERSION)
        rec_size = v3_record_size(hdr->record_size);
    else if (memcmp(hdr->magic, SNAP_MAGIC, 7) != 0)
        return "not a mod_mql snapshot (bad magic)";
    else
        return apr_psprintf(p, "version %u, this build reads 1 to %u", hdr->version,
                            SNAP_VERSION);
    /* rec_size 0: a record size no build of ours writes (and a header
     * saying 0 must not match that refusal) */
    if (rec_size == 0 || hdr->hdr_size != sizeof(*hdr) || hdr->record_size != rec_size
        || hdr->contact_len != MQL_CONTACT_LEN || hdr->byte_order != SNAP_BYTE_ORDER)
        return apr_psprintf(p, "written by another build (record %u bytes, contact %u, "
                            "byte order %08x)", hdr->record_size, hdr->contact_len,
                            hdr->byte_order);
    if (hdr->contacts > hdr->count)
        return apr_psprintf(p, "%u contacts for %u records", hdr->contacts, hdr->count);
    want = sizeof(*hdr) + (uint64_t)hdr->count * rec_size
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
    const uint8_t *pos;
    const uint8_t *end;
    int version;
    size_t rec;
} snap_reader_t;

/* hdr as check_frame passed it: the record size is the version's */
static void reader_start(snap_reader_t *r, const char *data, const snap_hdr_t *hdr)
{
    r->rec = hdr->record_size;
    r->pos = (const uint8_t *)data + sizeof(*hdr);
    r->end = r->pos + (size_t)hdr->count * r->rec + (size_t)hdr->contacts * MQL_CONTACT_LEN;
    r->version = (int)hdr->version;
}

/*
 * Next record and its contact (NULL when none): 1, 0 at the end, -1 when
 * the record is not sound (*why says which way).
 */
static int next_record(snap_reader_t *r, mql_visitor_t *v, const char **contact,
                       const char **why)
{
    size_t rec = r->rec;
    int has_contact, ok;

    if ((size_t)(r->end - r->pos) < rec)
        return 0;
    ok = r->version == 1 ? decode_record_v1(r->pos, v, &has_contact)
       : r->version == 2 ? decode_record_v2(r->pos, v, &has_contact)
       : decode_record(r->pos, rec, v, &has_contact);
    r->pos += rec;
    *contact = NULL;
    if (!ok || v->stage >= MQL_STAGE_COUNT) {
        *why = !ok ? "bad record marks" : "stage out of range";
        return -1;
    }
    if (has_contact) {
        if ((size_t)(r->end - r->pos) < MQL_CONTACT_LEN) {
            *why = "contact past the end";
            return -1;
        }
        *contact = (const char *)r->pos;
        r->pos += MQL_CONTACT_LEN;
        if (!memchr(*contact, '\0', MQL_CONTACT_LEN)) {
            *why = "contact not terminated";
            return -1;
        }
    }
    return 1;
}

/* Every record sound, before anything goes into a store. */
static const char *check_records(const char *data, const snap_hdr_t *hdr, apr_pool_t *p)
{
    snap_reader_t r;
    mql_visitor_t v;
    const char *contact, *why = NULL;
    uint32_t i, contacts = 0;

    reader_start(&r, data, hdr);
    for (i = 0; i < hdr->count; i++) {
        int got = next_record(&r, &v, &contact, &why);
        if (got < 0)
            return apr_psprintf(p, "record %u: %s", i, why);
        if (got == 0)
            return apr_psprintf(p, "record %u: past the end", i);
        contacts += contact != NULL;
    }
    if (contacts != hdr->contacts)
        return apr_psprintf(p, "%u contacts found, header says %u", contacts, hdr->contacts);
    return NULL;
}

/* The whole file, checked: *data malloc'd, or an error with *why. */
static apr_status_t load(const char *path, uint32_t capacity, apr_pool_t *p, char **data,
                         snap_hdr_t *hdr, const char **why)
{
    const char *problem;
    apr_size_t size = 0;
    apr_status_t rv;

    rv = read_file(path, max_file_size(capacity), p, data, &size, why);
    if (rv != APR_SUCCESS) {
        if (!APR_STATUS_IS_ENOENT(rv))
            mql_log(MQL_LOG_ERR, "MQL01024: snapshot %s: %s", path, *why);
        return rv;
    }
    problem = check_frame(*data, size, hdr, p);
    if (!problem)
        problem = check_records(*data, hdr, p);
    if (problem) {
        free(*data);
        *data = NULL;
        *why = problem;
        mql_log(MQL_LOG_ERR, "MQL01025: snapshot %s refused: %s", path, problem);
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

typedef struct restore_tally {
    uint32_t restored;
    uint32_t leads_lost;
    uint32_t visitors_lost;
} restore_tally_t;

/* One pass over the records: the leads, or the plain visitors. */
static void insert_pass(mql_visitors_t *vs, const char *data, const snap_hdr_t *hdr,
                        int leads, restore_tally_t *t)
{
    snap_reader_t r;
    mql_visitor_t v;
    const char *contact, *why;
    apr_status_t rv;

    reader_start(&r, data, hdr);
    while (next_record(&r, &v, &contact, &why) > 0) {
        if ((MQL_STAGE_IS_LEAD(v.stage) ? 1 : 0) != leads)
            continue;
        /* A lead may push out a plain visitor; a visitor never pushes out
         * anyone restored before it. */
        rv = mql_visitors_put(vs, &v, contact, leads);
        if (rv == APR_SUCCESS)
            t->restored++;
        else if (rv == APR_ENOSPC && leads)
            t->leads_lost++;
        else if (rv == APR_ENOSPC)
            t->visitors_lost++;
    }
}

apr_status_t mql_snapshot_restore(mql_visitors_t *vs, const char *path, apr_pool_t *p,
                                  uint32_t *count, const char **why)
{
    const char *dummy;
    restore_tally_t tally = { 0 };
    mql_visitors_stats_t before, after;
    snap_hdr_t hdr;
    char *data;
    apr_status_t rv;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (count)
        *count = 0;
    /* nothing in the store is touched before the file proves sound */
    if ((rv = load(path, mql_visitors_capacity(vs), p, &data, &hdr, why)) != APR_SUCCESS)
        return rv;
    mql_visitors_stats(vs, &before);
    /* Leads first: when the store is smaller than the snapshot, the
     * visitors that do not fit are the ones to lose. */
    insert_pass(vs, data, &hdr, 1, &tally);
    insert_pass(vs, data, &hdr, 0, &tally);
    free(data);
    mql_visitors_stats(vs, &after);

    if (tally.leads_lost)
        mql_log(MQL_LOG_ERR, "MQL01026: snapshot %s: %u leads did not fit in the store "
                "(%u visitors)", path, tally.leads_lost, after.capacity);
    if (tally.visitors_lost)
        mql_log(MQL_LOG_WARNING, "MQL01027: snapshot %s: %u visitors did not fit in the "
                "store (%u visitors)", path, tally.visitors_lost, after.capacity);
    if (after.contacts_dropped > before.contacts_dropped)
        mql_log(MQL_LOG_WARNING, "MQL01028: snapshot %s: %llu contacts did not fit in the "
                "contact area", path,
                (unsigned long long)(after.contacts_dropped - before.contacts_dropped));
    if (count)
        *count = tally.restored;
    return APR_SUCCESS;
}

apr_status_t mql_snapshot_read(const char *path, uint32_t capacity, apr_pool_t *p,
                               mql_visit_fn *fn, void *baton, const char **why)
{
    const char *dummy, *bad;
    snap_reader_t r;
    snap_hdr_t hdr;
    mql_visitor_t v;
    const char *contact;
    char *data;
    apr_status_t rv;

    if (!why)
        why = &dummy;
    *why = NULL;
    if ((rv = load(path, capacity, p, &data, &hdr, why)) != APR_SUCCESS)
        return rv;
    reader_start(&r, data, &hdr);
    while (next_record(&r, &v, &contact, &bad) > 0 && !fn(&v, contact, baton))
        ;
    free(data);
    return APR_SUCCESS;
}

/* mql_snapshot_edit: the records of a loaded file, edited, as a walk. */
typedef struct edit_src {
    const char *data;
    const snap_hdr_t *hdr;
    mql_snapshot_edit_fn *edit;
    void *baton;
    uint32_t changed;
} edit_src_t;

static void walk_edited(void *src, mql_visit_fn *fn, void *baton)
{
    edit_src_t *e = src;
    snap_reader_t r;
    mql_visitor_t v, was;
    const char *contact, *bad;
    char text[MQL_CONTACT_LEN];

    reader_start(&r, e->data, e->hdr);
    while (next_record(&r, &v, &contact, &bad) > 0) {
        int keep, had = contact != NULL;

        memset(text, 0, sizeof text);
        if (contact)
            memcpy(text, contact, MQL_CONTACT_LEN);
        was = v;
        keep = e->edit(&v, text, e->baton);
        if (!keep || memcmp(&was, &v, sizeof v) || (had && strcmp(text, contact))
            || (!had && text[0]))
            e->changed++;
        text[MQL_CONTACT_LEN - 1] = '\0';
        if (keep && fn(&v, text[0] ? text : NULL, baton))
            break;
    }
}

static int count_only(const mql_visitor_t *v, const char *contact, void *baton)
{
    return 0;
}

apr_status_t mql_snapshot_edit(const char *path, apr_pool_t *p, mql_snapshot_edit_fn *edit,
                               void *baton, uint32_t *changed, const char **why)
{
    const char *dummy;
    snap_hdr_t hdr;
    edit_src_t e;
    char *data;
    apr_status_t rv;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (changed)
        *changed = 0;
    if ((rv = load(path, 0, p, &data, &hdr, why)) != APR_SUCCESS)
        return rv;
    memset(&e, 0, sizeof e);
    e.data = data;
    e.hdr = &hdr;
    e.edit = edit;
    e.baton = baton;
    /* a first pass tells whether there is anything to write */
    walk_edited(&e, count_only, NULL);
    if (e.changed) {
        if (changed)
            *changed = e.changed;
        e.changed = 0;
        rv = save_walk(walk_edited, &e, hdr.capacity, path, p, NULL);
        if (rv != APR_SUCCESS)
            *why = "cannot write it (see above)";
    }
    free(data);
    return rv;
}
