/*
 * The visitor table: one block of memory shared by every httpd process and
 * thread (an apr_shm segment in the server, plain heap in mqlctl and tests).
 * The store knows nothing about scoring: callers mutate records through
 * mql_store_update() while the store holds the lock, and the store keeps
 * the bookkeeping (stage counts, change ring, dirty flags, eviction).
 *
 * Every public function takes the lock itself through the callbacks given
 * to mql_store_attach(), except mql_store_get(), which reads without it
 * when it can; none holds it across I/O or calls back into the caller
 * with it held, except the mql_update_fn, which must be quick.
 *
 * This is the interface a second backend (Redis, for sites behind a load
 * balancer) implements: lookup (get), add event (update), set stage,
 * forget, iterate, snapshot, restore.
 */
#ifndef MQL_STORE_H
#define MQL_STORE_H

#include <apr_pools.h>
#include <apr_errno.h>
#include "mql_types.h"

typedef struct mql_store mql_store_t;

typedef void mql_lock_fn(void *baton);

/* Bytes of memory a table for max_visitors needs (header, buckets, slots,
 * contacts, change ring). */
size_t mql_store_size(uint32_t max_visitors);

/* Format fresh memory of mql_store_size(max_visitors) bytes. */
void mql_store_format(void *base, uint32_t max_visitors, const uint8_t hash_key[MQL_KEY_BYTES]);

/* A process-local handle on formatted memory. lock/unlock may be NULL
 * (single-threaded tools and tests). Returns NULL when base does not hold
 * a table formatted for exactly max_visitors: the layout comes from the
 * caller's own size, never from the memory, which other processes can
 * write (the header is only compared with it). */
mql_store_t *mql_store_attach(apr_pool_t *p, void *base, uint32_t max_visitors,
                              mql_lock_fn *lock, mql_lock_fn *unlock, void *lock_baton);

uint32_t mql_store_capacity(const mql_store_t *s);

/* Visitors idle longer than this are treated as absent and reclaimed
 * (0 = never). */
void mql_store_set_expire(mql_store_t *s, uint32_t max_idle_secs);

/* Copy of the visitor's record (and contact, when contact != NULL and the
 * visitor has one: NUL-terminated, MQL_CONTACT_LEN bytes). 1 = found.
 * Without contact the lookup usually takes no lock: it reads optimistically
 * and checks the write sequence (below), taking the lock only when it
 * raced a writer. */
int mql_store_get(mql_store_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                  mql_visitor_t *copy, char *contact);

/*
 * A visitor's ID together with where its chain starts in this table (a
 * keyed hash of the ID): made once per request, it spares the later calls
 * the hashing.  The _ref calls behave like the plain ones.
 */
typedef struct mql_store_ref {
    uint8_t  id[MQL_ID_BYTES];
    uint32_t bucket;
} mql_store_ref_t;

/* Also starts bringing the visitor's bucket and home slot (where most
 * visitors live) into the cache. */
void mql_store_ref(const mql_store_t *s, const uint8_t id[MQL_ID_BYTES], mql_store_ref_t *ref);
int mql_store_get_ref(mql_store_t *s, const mql_store_ref_t *ref, uint32_t now,
                      mql_visitor_t *copy);

/* Make sure the visitor's record is coming into the cache: a visitor
 * away from its home slot has its chain's first record asked for (the
 * bucket and home slot that mql_store_ref asked for are read, without the
 * lock), so that work done before the next lookup or update overlaps the
 * wait and the lock is not held across cache misses (the table is larger
 * than the caches, and each request meets another visitor). */
void mql_store_prefetch(mql_store_t *s, const mql_store_ref_t *ref);

/* The write sequence: bumped at the start and end of every locked
 * section, so odd while one runs (tests, diagnostics). */
uint64_t mql_store_seq(const mql_store_t *s);

/* Returned by an mql_update_fn */
#define MQL_UPD_NONE   0
#define MQL_UPD_DIRTY  1      /* figures changed: rewrite the DBM record */

/* Called with the lock held on the visitor's record (created zeroed, with
 * id/first_seen/last_seen set and is_new = 1, when absent).  Must not block. */
typedef int mql_update_fn(mql_visitor_t *v, int is_new, void *baton);

typedef struct mql_update_result {
    int found;               /* 0: the visitor was created (or could not be) */
    int stage_changed;
    uint8_t old_stage;
    mql_visitor_t after;     /* the record after the update */
} mql_update_result_t;

/*
 * Find or create the visitor and apply fn.  When the table is full the
 * least valuable visitor (expired first, then long idle and low score,
 * never a lead) is evicted and counted.  APR_ENOSPC when nothing can be
 * evicted (every slot a lead).  A stage change is pushed on the change
 * ring and marks the record URGENT|DIRTY.
 */
apr_status_t mql_store_update(mql_store_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                              mql_update_fn *fn, void *baton, mql_update_result_t *res);
apr_status_t mql_store_update_ref(mql_store_t *s, const mql_store_ref_t *ref, uint32_t now,
                                  mql_update_fn *fn, void *baton, mql_update_result_t *res);

/* Attach a contact (truncated to MQL_CONTACT_LEN-1); marks URGENT|DIRTY.
 * APR_ENOENT when the visitor is unknown, APR_ENOSPC when the contact
 * area is full (counted). */
apr_status_t mql_store_set_contact(mql_store_t *s, const uint8_t id[MQL_ID_BYTES],
                                   const char *contact, uint32_t now);

/* Sales' decision (sql / rejected / back to mql). APR_ENOENT when unknown. */
apr_status_t mql_store_set_stage(mql_store_t *s, const uint8_t id[MQL_ID_BYTES],
                                 mql_stage_t stage, uint32_t now);

/* Remove the visitor and its contact. APR_ENOENT when unknown. */
apr_status_t mql_store_forget(mql_store_t *s, const uint8_t id[MQL_ID_BYTES]);

/* Reclaim every visitor idle longer than the expiry; returns how many. */
uint32_t mql_store_expire_sweep(mql_store_t *s, uint32_t now);

/*
 * Walk every visitor.  The lock is taken per chunk of slots and released
 * before fn sees the copies, so fn may do I/O.  fn returns non-zero to
 * stop.  contact is NULL when the visitor has none.
 */
typedef int mql_iter_fn(const mql_visitor_t *v, const char *contact, void *baton);
void mql_store_iterate(mql_store_t *s, mql_iter_fn *fn, void *baton);

/*
 * Walk the records marked DIRTY whose last write is at least min_interval
 * seconds old, or that are URGENT; clears the marks and sets flushed = now
 * (under the lock, chunk by chunk) before handing the copies to fn.
 */
void mql_store_collect_dirty(mql_store_t *s, uint32_t now, uint32_t min_interval,
                             mql_iter_fn *fn, void *baton);

/* A stage change, as kept in the ring (for notifications and the status page). */
typedef struct mql_change {
    uint8_t  id[MQL_ID_BYTES];
    uint32_t time;
    uint8_t  old_stage;
    uint8_t  new_stage;
    uint8_t  trigger_event;
    uint8_t  reserved;
    double   score;
} mql_change_t;

#define MQL_CHANGE_RING 1024

/*
 * Copy the changes with sequence numbers >= *seq (oldest first) into out
 * (at most max), advance *seq past them and return how many.  When the
 * ring has overwritten some, *lost tells how many were skipped.
 */
unsigned mql_store_changes(mql_store_t *s, uint64_t *seq, mql_change_t *out, unsigned max,
                           uint64_t *lost);

typedef struct mql_store_stats {
    uint32_t capacity;
    uint32_t used;
    uint32_t stages[MQL_STAGE_COUNT];
    uint32_t contacts_capacity;
    uint32_t contacts_used;
    uint64_t events[MQL_EV_COUNT];   /* events scored, by type */
    uint64_t inserts;
    uint64_t evictions;
    uint64_t expired;
    uint64_t full;                   /* inserts refused: every slot a lead */
    uint64_t contacts_dropped;
    uint64_t change_seq;             /* stage changes so far */
    uint32_t created;                /* when the table was formatted */
    uint32_t restored;               /* visitors restored from a snapshot */
    uint64_t repairs;                /* after a process died holding the lock */
} mql_store_stats_t;

void mql_store_stats(mql_store_t *s, mql_store_stats_t *out);

/* Count an event in the table's totals (under the lock with the update:
 * call from within an mql_update_fn, which already holds it). */
void mql_store_count_event_locked(mql_store_t *s, mql_event_t ev);

/*
 * Consistency check for tests: every used slot reachable from exactly one
 * bucket chain with the right hash, free list + used = capacity, stage
 * counts and contact references right.  NULL when consistent, otherwise a
 * description of the first problem (allocated from p).  Takes the lock.
 */
const char *mql_store_validate(mql_store_t *s, apr_pool_t *p);

/*
 * For mql_snapshot.c (restore): put one saved record back as it was --
 * stage, flags, times and figures kept, no change-ring entry, no insert
 * counted.  A visitor already present is replaced when rec is at least as
 * recent (APR_EEXIST otherwise).  A full table evicts a plain visitor only
 * when may_evict; APR_ENOSPC otherwise.  contact may be NULL;
 * *contact_dropped (may be NULL) tells that the contact area was full.
 */
apr_status_t mql_store_put_record(mql_store_t *s, const mql_visitor_t *rec,
                                  const char *contact, int may_evict, int *contact_dropped);

/* Add n to the count of visitors restored from a snapshot (stats). */
void mql_store_note_restored(mql_store_t *s, uint32_t n);

/*
 * Every visitor of from put into to (which may be smaller: leads first,
 * then the most recent plain visitors that still fit).  Returns how many
 * were copied.  Both tables are locked chunk by chunk, never together.
 */
uint32_t mql_store_copy(mql_store_t *from, mql_store_t *to);

/*
 * Snapshot: a checksummed file of every visitor and contact, written to
 * path.tmp and renamed over path, so a crash never leaves half a file.
 * restore inserts the visitors into s (which may have another capacity;
 * when smaller, leads first); a truncated or corrupt file is refused
 * with APR_EGENERAL and *why set, and s is left untouched.
 */
apr_status_t mql_snapshot_save(mql_store_t *s, const char *path, apr_pool_t *p,
                               uint32_t *count);
apr_status_t mql_snapshot_restore(mql_store_t *s, const char *path, apr_pool_t *p,
                                  uint32_t *count, const char **why);

/* How many records (and of them, with a contact) the snapshot at path
 * holds, as its header says and its size allows: enough to size a table
 * for mql_snapshot_restore.  The same checks as restore's on the file
 * itself (regular, no link, no wait); APR_EGENERAL with *why otherwise. */
apr_status_t mql_snapshot_size(const char *path, apr_pool_t *p, uint32_t *records,
                               uint32_t *contacts, const char **why);

#endif
