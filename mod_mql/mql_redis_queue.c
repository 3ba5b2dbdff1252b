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
 * The Redis store's shared queue (layout and rules in mql_redis_queue.h).
 * Every function here runs in the request path or beside it: no
 * allocation under the lock, no I/O, no logging.
 */
#include <string.h>
#include "apr_strings.h"
#include "apr_time.h"
#include "mql_redis_queue.h"

#define RQ_MAGIC   0x4d514c52u    /* "MQLR" */
#define RQ_VERSION 7u             /* 7: a hit queued as its delta */

typedef struct mql_rq_header {
    uint32_t magic;
    uint32_t version;
    uint32_t capacity;
    uint32_t entry_size;
    uint64_t origin;              /* this server's name in Redis' sequences */
    uint64_t head;                /* next entry's position */
    uint64_t tail;                /* oldest entry's position */
    uint64_t next_seq;
    uint64_t change_seq;          /* fleet changes pushed so far */
    uint32_t lease_pid;
    uint32_t lease_time;
    char     stream_pos[MQL_RQ_SHARDS][MQL_RQ_STREAM_ID];
    uint64_t forget_head, forget_tail;
    uint8_t  forgets[MQL_RQ_FORGETS][MQL_ID_BYTES];
    mql_rq_stats_t stats;
} mql_rq_header_t;

struct mql_rq {
    mql_rq_header_t *h;
    mql_rq_entry_t *ring;
    mql_rq_change_t *changes;
    uint32_t capacity;            /* our own copy, never the segment's */
    mql_rq_lock_fn *lock, *unlock;
    void *baton;
};

static apr_size_t align64(apr_size_t n)
{
    return (n + 63) & ~(apr_size_t)63;
}

apr_size_t mql_rq_size(uint32_t capacity)
{
    return align64(sizeof(mql_rq_header_t)) + align64((apr_size_t)capacity * sizeof(mql_rq_entry_t))
           + (apr_size_t)MQL_CHANGES_KEPT * sizeof(mql_rq_change_t);
}

void mql_rq_format(void *base, uint32_t capacity, uint64_t origin)
{
    mql_rq_header_t *h = base;
    unsigned i;

    memset(h, 0, sizeof *h);
    h->magic = RQ_MAGIC;
    h->version = RQ_VERSION;
    h->capacity = capacity;
    h->entry_size = (uint32_t)sizeof(mql_rq_entry_t);
    h->origin = origin;
    h->next_seq = 1;
    /* a new queue reads the fleet's streams from what they still hold:
     * every lead they mention reaches this server's table and DBM file */
    for (i = 0; i < MQL_RQ_SHARDS; i++)
        strcpy(h->stream_pos[i], "0-0");
}

mql_rq_t *mql_rq_attach(apr_pool_t *p, void *base, uint32_t capacity, mql_rq_lock_fn *lock,
                        mql_rq_lock_fn *unlock, void *baton)
{
    mql_rq_header_t *h = base;
    mql_rq_t *q;

    if (h->magic != RQ_MAGIC || h->version != RQ_VERSION || h->capacity != capacity
        || h->entry_size != sizeof(mql_rq_entry_t))
        return NULL;
    q = apr_pcalloc(p, sizeof *q);
    q->h = h;
    q->capacity = capacity;
    q->ring = (mql_rq_entry_t *)((char *)base + align64(sizeof *h));
    q->changes = (mql_rq_change_t *)((char *)q->ring
                                     + align64((apr_size_t)capacity * sizeof(mql_rq_entry_t)));
    q->lock = lock;
    q->unlock = unlock;
    q->baton = baton;
    return q;
}

static void lock(mql_rq_t *q)
{
    if (q->lock)
        q->lock(q->baton);
}

static void unlock(mql_rq_t *q)
{
    if (q->unlock)
        q->unlock(q->baton);
}

uint64_t mql_rq_origin(mql_rq_t *q)
{
    return q->h->origin;
}

uint32_t mql_rq_capacity(mql_rq_t *q)
{
    return q->capacity;
}

/* Positions come from a segment every child can write: a head and tail
 * that no longer make sense empty the queue rather than index past it. */
static uint64_t length_locked(mql_rq_t *q)
{
    uint64_t n = q->h->head - q->h->tail;

    if (q->h->head < q->h->tail || n > q->capacity) {
        q->h->tail = q->h->head;
        return 0;
    }
    return n;
}

apr_status_t mql_rq_append(mql_rq_t *q, mql_rq_entry_t *e)
{
    if (!e->at_us)
        e->at_us = (uint64_t)apr_time_now();
    lock(q);
    if (length_locked(q) >= q->capacity) {
        q->h->stats.dropped++;
        if (q->h->stats.spill_full)
            q->h->stats.spill_dropped++;
        unlock(q);
        return APR_ENOSPC;
    }
    e->origin = q->h->origin;
    e->seq = q->h->next_seq++;
    q->ring[q->h->head % q->capacity] = *e;
    q->h->head++;
    q->h->stats.queued++;
    unlock(q);
    return APR_SUCCESS;
}

/* Copied PEEK_CHUNK entries per hold of the lock, so that a request
 * appending never waits for more than a few kilobytes of copying, however
 * large the batch.  Safe because only the sync thread removes entries:
 * between two holds the tail stays, and appends only add behind. */
#define PEEK_CHUNK 64
unsigned mql_rq_peek(mql_rq_t *q, mql_rq_entry_t *out, unsigned max)
{
    uint64_t n = 0, i, end;

    while (n < max) {
        lock(q);
        end = length_locked(q);
        if (end > max)
            end = max;
        if (end > n + PEEK_CHUNK)
            end = n + PEEK_CHUNK;
        for (i = n; i < end; i++)
            out[i] = q->ring[(q->h->tail + i) % q->capacity];
        unlock(q);
        if (end <= n)
            break;
        n = end;
    }
    return (unsigned)n;
}

void mql_rq_consume(mql_rq_t *q, unsigned n)
{
    lock(q);
    if (n > length_locked(q))
        n = (unsigned)length_locked(q);
    q->h->tail += n;
    unlock(q);
}

uint32_t mql_rq_length(mql_rq_t *q)
{
    uint64_t n;

    lock(q);
    n = length_locked(q);
    unlock(q);
    return (uint32_t)n;
}

void mql_rq_push_change(mql_rq_t *q, const mql_change_t *c, unsigned shard,
                        const char *stream_id)
{
    mql_rq_change_t *slot;

    lock(q);
    slot = &q->changes[q->h->change_seq % MQL_CHANGES_KEPT];
    slot->c = *c;
    slot->shard = (uint8_t)shard;
    apr_cpystrn(slot->stream_id, stream_id ? stream_id : "", sizeof slot->stream_id);
    q->h->change_seq++;
    unlock(q);
}

unsigned mql_rq_changes(mql_rq_t *q, uint64_t *seq, mql_change_t *out, unsigned max,
                        uint64_t *lost)
{
    uint64_t total, first, s;
    unsigned n = 0;

    lock(q);
    total = q->h->change_seq;
    /* change number k (from 1) lives in slot (k - 1) % KEPT */
    first = total > MQL_CHANGES_KEPT ? total - MQL_CHANGES_KEPT + 1 : 1;
    s = *seq ? *seq : 1;
    if (lost)
        *lost = 0;
    if (s > total + 1)
        s = total + 1;              /* a position from another store: start afresh */
    if (s < first) {
        if (lost)
            *lost = first - s;
        s = first;
    }
    for (; s <= total && n < max; s++, n++)
        out[n] = q->changes[(s - 1) % MQL_CHANGES_KEPT].c;
    unlock(q);
    *seq = s;
    return n;
}

uint64_t mql_rq_change_total(mql_rq_t *q)
{
    uint64_t n;

    lock(q);
    n = q->h->change_seq;
    unlock(q);
    return n;
}

int mql_rq_change_stream_id(mql_rq_t *q, uint64_t seq, char *buf, apr_size_t len,
                            unsigned *shard)
{
    int ok = 0;

    lock(q);
    if (seq >= 1 && seq <= q->h->change_seq && q->h->change_seq - seq < MQL_CHANGES_KEPT) {
        apr_cpystrn(buf, q->changes[(seq - 1) % MQL_CHANGES_KEPT].stream_id, len);
        if (shard)
            *shard = q->changes[(seq - 1) % MQL_CHANGES_KEPT].shard;
        ok = buf[0] != '\0';
    }
    unlock(q);
    return ok;
}

void mql_rq_push_forget(mql_rq_t *q, const uint8_t id[MQL_ID_BYTES])
{
    lock(q);
    /* the oldest gives way: the writer's full pass over the table
     * after a hand-over rewrites the files anyway */
    if (q->h->forget_head - q->h->forget_tail >= MQL_RQ_FORGETS
        || q->h->forget_head < q->h->forget_tail)
        q->h->forget_tail = q->h->forget_head - MQL_RQ_FORGETS + 1;
    memcpy(q->h->forgets[q->h->forget_head % MQL_RQ_FORGETS], id, MQL_ID_BYTES);
    q->h->forget_head++;
    unlock(q);
}

unsigned mql_rq_pop_forgets(mql_rq_t *q, uint8_t (*out)[MQL_ID_BYTES], unsigned max)
{
    unsigned n = 0;

    lock(q);
    if (q->h->forget_head < q->h->forget_tail
        || q->h->forget_head - q->h->forget_tail > MQL_RQ_FORGETS)
        q->h->forget_tail = q->h->forget_head;
    while (n < max && q->h->forget_tail < q->h->forget_head) {
        memcpy(out[n++], q->h->forgets[q->h->forget_tail % MQL_RQ_FORGETS], MQL_ID_BYTES);
        q->h->forget_tail++;
    }
    unlock(q);
    return n;
}

mql_rq_stats_t *mql_rq_stats(mql_rq_t *q)
{
    return &q->h->stats;
}

void mql_rq_stats_copy(mql_rq_t *q, mql_rq_stats_t *out)
{
    lock(q);
    *out = q->h->stats;
    out->last_error[sizeof out->last_error - 1] = '\0';
    unlock(q);
}

void mql_rq_set_fleet(mql_rq_t *q, const mql_rq_fleet_t *f)
{
    lock(q);
    q->h->stats.fleet = *f;
    unlock(q);
}

int mql_rq_lease(mql_rq_t *q, uint32_t pid, uint32_t now, uint32_t stale)
{
    int mine;

    lock(q);
    mine = q->h->lease_pid == 0 || q->h->lease_pid == pid
           || now - q->h->lease_time > stale || now < q->h->lease_time;
    if (mine) {
        q->h->lease_pid = pid;
        q->h->lease_time = now;
    }
    unlock(q);
    return mine;
}

void mql_rq_release(mql_rq_t *q, uint32_t pid)
{
    lock(q);
    if (q->h->lease_pid == pid)
        q->h->lease_pid = 0;
    unlock(q);
}

char *mql_rq_stream_pos(mql_rq_t *q, unsigned shard)
{
    return q->h->stream_pos[shard % MQL_RQ_SHARDS];
}
