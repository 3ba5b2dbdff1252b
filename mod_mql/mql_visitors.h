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
 * The visitor store: the only way the module reaches visitors.
 *
 * A store keeps mql_visitor_t records (and a contact beside some) and
 * applies hits to them.  A hit comes resolved, as data (mql_delta_t:
 * points, caps, counts, the gate for promotion, fields to set), never
 * as a function to run under a lock or rules to match: a store applies
 * it with mql_delta_apply (or its twin in Redis), may send it elsewhere
 * or apply it again after a lost reply, and it still counts once.  Each store is a table
 * of functions (mql_visitors_ops_t) over its own state; the backends:
 *
 *   shm    mql_shm.c: one server's shared memory (MQLStore shm, the
 *          default), the table every httpd process and thread shares
 *   redis  mql_redis_store.c: a shm table as this server's cache, and a
 *          queue of its hits for Redis (MQLStore redis://,
 *          redis+unix://, redis-cluster://), where the Function in
 *          mql_redis.lua scores them again for the fleet
 *
 * and the in-process store of the unit tests, which run the same
 * conformance tests on every backend (t/unit/test_visitors.c).
 *
 * Adding a backend: one file that fills in mql_visitors_ops_t and the
 * provider table of mql_store.h (its MQLStore argument, its start, its
 * section of the status page), and registers it.
 */
#ifndef MQL_VISITORS_H
#define MQL_VISITORS_H

#include <apr_pools.h>
#include <apr_errno.h>
#include "mql_types.h"
#include "mql_score.h"

/*
 * A visitor's ID with a backend's hint of where it lives (the shared
 * table keeps its bucket here), made once per request by ref().
 */
typedef struct mql_visitor_ref {
    uint8_t  id[MQL_ID_BYTES];
    uint32_t hint;
} mql_visitor_ref_t;

/* What applying a hit did. */
typedef struct mql_hit_result {
    int found;               /* 0: the visitor was new */
    int stage_changed;
    uint8_t old_stage;
    mql_visitor_t after;     /* the record after the hit */
    double points;           /* what the hit changed the score by (after decay);
                              * 0 from a store that does not say */
} mql_hit_result_t;

/* Every store keeps at least the last this many stage changes. */
#define MQL_CHANGES_KEPT 1024

/* A stage change, in the order they happened (notifications, the status
 * page).  seq numbers them from 1 for the life of the store. */
typedef struct mql_change {
    uint8_t  id[MQL_ID_BYTES];
    uint32_t time;
    uint8_t  old_stage;
    uint8_t  new_stage;
    uint8_t  trigger_event;
    uint8_t  reserved;
    double   score;
} mql_change_t;

typedef struct mql_visitors_stats {
    uint32_t capacity;               /* visitors it can hold (0: no bound) */
    uint32_t used;
    uint32_t stages[MQL_STAGE_COUNT];
    uint32_t contacts_capacity;
    uint32_t contacts_used;
    uint64_t events[MQL_EV_COUNT];   /* events scored, by type */
    uint64_t inserts;
    uint64_t evictions;
    uint64_t lead_evictions;         /* leads already in the DBM file, let go */
    uint64_t expired;
    uint64_t full;                   /* new visitors refused: no room */
    uint64_t contacts_dropped;
    uint64_t change_seq;             /* stage changes so far */
    uint32_t created;                /* when the store was made */
    uint32_t restored;               /* visitors restored from a snapshot */
    uint64_t repairs;                /* after a process died inside a change */
} mql_visitors_stats_t;

/* A walk's visitor; contact NULL when it has none.  Non-zero stops. */
typedef int mql_visit_fn(const mql_visitor_t *v, const char *contact, void *baton);

#define MQL_WALK_ALL   0
#define MQL_WALK_LEADS 1             /* stage other than visitor */
#define MQL_WALK_CONTACTS 2          /* those with a contact (a store that cannot
                                      * tell may give every visitor) */

typedef struct mql_visitors_ops {
    const char *name;
    /* Optional: the ref's hint, and fetching the visitor's record on its
     * way (a hint only: the calls below work without it). */
    void (*ref)(void *be, const uint8_t id[MQL_ID_BYTES], mql_visitor_ref_t *ref);
    void (*prefetch)(void *be, const mql_visitor_ref_t *ref);
    /* 1 and a copy when known (contact: MQL_CONTACT_LEN bytes, or NULL) */
    int (*get)(void *be, const mql_visitor_ref_t *ref, uint32_t now, mql_visitor_t *out,
               char *contact);
    /* Find or create the visitor and apply the resolved hit
     * (mql_score_resolve); APR_ENOSPC when there is no room for a new
     * visitor. */
    apr_status_t (*hit)(void *be, const mql_visitor_ref_t *ref, const mql_delta_t *d,
                        uint32_t now, mql_hit_result_t *res);
    apr_status_t (*set_contact)(void *be, const uint8_t id[MQL_ID_BYTES], const char *contact,
                                uint32_t now);
    apr_status_t (*set_stage)(void *be, const uint8_t id[MQL_ID_BYTES], mql_stage_t stage,
                              uint32_t now);
    apr_status_t (*forget)(void *be, const uint8_t id[MQL_ID_BYTES]);
    /* Every visitor (or lead); fn may do I/O: no lock is held meanwhile. */
    void (*walk)(void *be, int which, mql_visit_fn *fn, void *baton);
    /* The lead-change feed: leads whose figures changed, each once, those
     * changed within min_interval seconds left for a later call unless
     * their stage or contact changed.  A non-zero fn gives that record
     * and the rest of its batch back to the feed. */
    void (*lead_changes)(void *be, uint32_t now, uint32_t min_interval, mql_visit_fn *fn,
                         void *baton);
    /* The stage-change feed from *seq on (see mql_visitors_stage_changes). */
    unsigned (*stage_changes)(void *be, uint64_t *seq, mql_change_t *out, unsigned max,
                              uint64_t *lost);
    void (*stats)(void *be, mql_visitors_stats_t *out);
    /* Visitors it can hold (0: no bound), without touching anything:
     * what bounds the snapshot restore reads. */
    uint32_t (*capacity)(void *be);
    /* Visitors idle past the expiry forgotten; how many. */
    uint32_t (*expire)(void *be, uint32_t now);
    /* A visitor put back as it was (snapshot restore, a store moved):
     * replaces a known one only when at least as recent (APR_EEXIST);
     * a plain visitor is evicted for it only when may_evict. */
    apr_status_t (*put)(void *be, const mql_visitor_t *v, const char *contact, int may_evict);
    /* Optional: a lead let go to make room (see published) put back from
     * its published record when it returns, merged with what its return
     * earned meanwhile (mql_visitor_merge) and due for the DBM file
     * again; inserted when absent.  Not a stage change.  APR_EEXIST when
     * the store holds it already.  NULL: the store never lets leads go. */
    apr_status_t (*restore)(void *be, const mql_visitor_t *v, const char *contact,
                            uint32_t half_life, uint32_t now);
    /* Optional: every lead the lead-change feed handed out before time
     * taken_before is in its DBM file now.  Only such a lead, unchanged
     * since, may be let go when the store is full and holds no plain
     * visitor to evict: it can come back from the file (restore). */
    void (*published)(void *be, uint32_t taken_before);
    /* Optional: NULL when consistent, else the first problem (tests,
     * ?json&validate). */
    const char *(*validate)(void *be, apr_pool_t *p);
    /* Optional, the foreign changes of a store shared with other servers.
     * change_source: where the fleet recorded stage change number seq
     * (its stream and entry there, MQL_SOURCE_LEN bytes each, so that a
     * consumer can drop a duplicate); 1 when known. */
    int (*change_source)(void *be, uint64_t seq, char *stream, char *entry);
    /* foreign_forgets: visitors forgotten on another server since the
     * last call, gone from this store already, for this server's leads
     * files and journal; at most max IDs into ids, how many. */
    unsigned (*foreign_forgets)(void *be, uint8_t (*ids)[MQL_ID_BYTES], unsigned max);
} mql_visitors_ops_t;

#define MQL_SOURCE_LEN 64

typedef struct mql_visitors {
    const mql_visitors_ops_t *ops;
    void *be;
} mql_visitors_t;

mql_visitors_t *mql_visitors_make(apr_pool_t *p, const mql_visitors_ops_t *ops, void *be);

static inline void mql_visitors_ref(mql_visitors_t *vs, const uint8_t id[MQL_ID_BYTES],
                                    mql_visitor_ref_t *ref)
{
    if (vs->ops->ref)
        vs->ops->ref(vs->be, id, ref);
    else {
        __builtin_memcpy(ref->id, id, MQL_ID_BYTES);
        ref->hint = 0;
    }
}

static inline void mql_visitors_prefetch(mql_visitors_t *vs, const mql_visitor_ref_t *ref)
{
    if (vs->ops->prefetch)
        vs->ops->prefetch(vs->be, ref);
}

static inline int mql_visitors_get(mql_visitors_t *vs, const mql_visitor_ref_t *ref,
                                   uint32_t now, mql_visitor_t *out, char *contact)
{
    return vs->ops->get(vs->be, ref, now, out, contact);
}

/* The same, from the ID alone. */
int mql_visitors_get_id(mql_visitors_t *vs, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                        mql_visitor_t *out, char *contact);

static inline apr_status_t mql_visitors_hit(mql_visitors_t *vs, const mql_visitor_ref_t *ref,
                                            const mql_delta_t *d, uint32_t now,
                                            mql_hit_result_t *res)
{
    return vs->ops->hit(vs->be, ref, d, now, res);
}

static inline apr_status_t mql_visitors_set_contact(mql_visitors_t *vs,
                                                    const uint8_t id[MQL_ID_BYTES],
                                                    const char *contact, uint32_t now)
{
    return vs->ops->set_contact(vs->be, id, contact, now);
}

static inline apr_status_t mql_visitors_set_stage(mql_visitors_t *vs,
                                                  const uint8_t id[MQL_ID_BYTES],
                                                  mql_stage_t stage, uint32_t now)
{
    return vs->ops->set_stage(vs->be, id, stage, now);
}

static inline apr_status_t mql_visitors_forget(mql_visitors_t *vs,
                                               const uint8_t id[MQL_ID_BYTES])
{
    return vs->ops->forget(vs->be, id);
}

static inline void mql_visitors_walk(mql_visitors_t *vs, int which, mql_visit_fn *fn,
                                     void *baton)
{
    vs->ops->walk(vs->be, which, fn, baton);
}

static inline void mql_visitors_lead_changes(mql_visitors_t *vs, uint32_t now,
                                             uint32_t min_interval, mql_visit_fn *fn,
                                             void *baton)
{
    vs->ops->lead_changes(vs->be, now, min_interval, fn, baton);
}

/*
 * Copy the stage changes from number *seq on (oldest first) into out, at
 * most max, advance *seq past them and return how many.  When older ones
 * are gone, *lost (may be NULL) tells how many were skipped.
 */
static inline unsigned mql_visitors_stage_changes(mql_visitors_t *vs, uint64_t *seq,
                                                  mql_change_t *out, unsigned max,
                                                  uint64_t *lost)
{
    return vs->ops->stage_changes(vs->be, seq, out, max, lost);
}

static inline void mql_visitors_stats(mql_visitors_t *vs, mql_visitors_stats_t *out)
{
    vs->ops->stats(vs->be, out);
}

static inline uint32_t mql_visitors_capacity(mql_visitors_t *vs)
{
    return vs->ops->capacity(vs->be);
}

static inline uint32_t mql_visitors_expire(mql_visitors_t *vs, uint32_t now)
{
    return vs->ops->expire(vs->be, now);
}

static inline apr_status_t mql_visitors_put(mql_visitors_t *vs, const mql_visitor_t *v,
                                            const char *contact, int may_evict)
{
    return vs->ops->put(vs->be, v, contact, may_evict);
}

static inline apr_status_t mql_visitors_restore(mql_visitors_t *vs, const mql_visitor_t *v,
                                                const char *contact, uint32_t half_life,
                                                uint32_t now)
{
    return vs->ops->restore ? vs->ops->restore(vs->be, v, contact, half_life, now)
                            : APR_ENOTIMPL;
}

/* 1 when the store can take a lead back (restore): worth looking for a
 * returning stranger in the DBM files. */
static inline int mql_visitors_can_restore(const mql_visitors_t *vs)
{
    return vs->ops->restore != NULL;
}

static inline void mql_visitors_published(mql_visitors_t *vs, uint32_t taken_before)
{
    if (vs->ops->published)
        vs->ops->published(vs->be, taken_before);
}

static inline int mql_visitors_change_source(mql_visitors_t *vs, uint64_t seq,
                                             char stream[MQL_SOURCE_LEN],
                                             char entry[MQL_SOURCE_LEN])
{
    return vs->ops->change_source ? vs->ops->change_source(vs->be, seq, stream, entry) : 0;
}

static inline unsigned mql_visitors_foreign_forgets(mql_visitors_t *vs,
                                                    uint8_t (*ids)[MQL_ID_BYTES], unsigned max)
{
    return vs->ops->foreign_forgets ? vs->ops->foreign_forgets(vs->be, ids, max) : 0;
}

/* NULL when the store has no check or finds nothing wrong. */
static inline const char *mql_visitors_validate(mql_visitors_t *vs, apr_pool_t *p)
{
    return vs->ops->validate ? vs->ops->validate(vs->be, p) : NULL;
}

/*
 * Every visitor of from put into to (which may be smaller: the leads
 * first, then plain visitors while they fit).  How many were copied.
 */
uint32_t mql_visitors_copy(mql_visitors_t *from, mql_visitors_t *to);

/*
 * Snapshot: every visitor and contact in a checksummed file of a format
 * of its own (mql_snapshot.c: fields, not any store's layout), written to
 * a temporary name and renamed over path.  restore puts the visitors into
 * vs (leads first when it is smaller); a damaged file is refused with
 * APR_EGENERAL and *why, and vs is left untouched.
 */
apr_status_t mql_snapshot_save(mql_visitors_t *vs, const char *path, apr_pool_t *p,
                               uint32_t *count);
apr_status_t mql_snapshot_restore(mql_visitors_t *vs, const char *path, apr_pool_t *p,
                                  uint32_t *count, const char **why);

/*
 * Every record of the snapshot at path, in file order, to fn (which may
 * stop the walk), after the whole file was checked: what mqlctl reads.
 * capacity bounds the file's size as restore does (0: the largest).
 */
apr_status_t mql_snapshot_read(const char *path, uint32_t capacity, apr_pool_t *p,
                               mql_visit_fn *fn, void *baton, const char **why);

/*
 * The snapshot at path written again with edit applied to each record:
 * edit returns 1 to keep the (possibly changed) record, 0 to drop it.
 * *changed (may be NULL) counts the records edit changed or dropped;
 * the file is only replaced when there are any.
 */
typedef int mql_snapshot_edit_fn(mql_visitor_t *v, char *contact, void *baton);
apr_status_t mql_snapshot_edit(const char *path, apr_pool_t *p, mql_snapshot_edit_fn *edit,
                               void *baton, uint32_t *changed, const char **why);

#endif
