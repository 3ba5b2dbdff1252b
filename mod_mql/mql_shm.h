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
 * The shared-memory store (MQLStore shm): one server's visitor table in
 * one block of memory shared by every httpd process and thread (an
 * apr_shm segment in the server, plain heap in the tests).  The module
 * reaches it through the store interface that mql_shm_visitors() gives
 * (mql_visitors.h); what is declared here besides is for whoever makes
 * the memory (the server's runtime) and for the table's own tests.
 *
 * Every function takes the lock itself through the callbacks given to
 * mql_shm_attach(), except the lookups without a contact, which read
 * without it when they can; none holds it across I/O or calls back into
 * the caller with it held, except mql_shm_update's function, which must
 * be quick.
 */
#ifndef MQL_SHM_H
#define MQL_SHM_H

#include <apr_pools.h>
#include <apr_errno.h>
#include "mql_types.h"
#include "mql_visitors.h"

typedef struct mql_shm mql_shm_t;

typedef void mql_lock_fn(void *baton);

/* Bytes of memory a table for max_visitors needs (header, buckets, slots,
 * contacts, change ring). */
size_t mql_shm_size(uint32_t max_visitors);

/* Format fresh memory of mql_shm_size(max_visitors) bytes. */
void mql_shm_format(void *base, uint32_t max_visitors, const uint8_t hash_key[MQL_KEY_BYTES]);

/* A process-local handle on formatted memory. lock/unlock may be NULL
 * (single-threaded tools and tests). Returns NULL when base does not hold
 * a table formatted for exactly max_visitors: the layout comes from the
 * caller's own size, never from the memory, which other processes can
 * write (the header is only compared with it). */
mql_shm_t *mql_shm_attach(apr_pool_t *p, void *base, uint32_t max_visitors,
                          mql_lock_fn *lock, mql_lock_fn *unlock, void *lock_baton);

/* The store interface over the table. */
mql_visitors_t *mql_shm_visitors(apr_pool_t *p, mql_shm_t *s);

uint32_t mql_shm_capacity(const mql_shm_t *s);

/* Visitors idle longer than this are treated as absent and reclaimed
 * (0 = never). */
void mql_shm_set_expire(mql_shm_t *s, uint32_t max_idle_secs);

/* Copy of the visitor's record (and contact, when contact != NULL and the
 * visitor has one: NUL-terminated, MQL_CONTACT_LEN bytes). 1 = found.
 * Without contact the lookup usually takes no lock: it reads optimistically
 * and checks the write sequence (below), taking the lock only when it
 * raced a writer. */
int mql_shm_get(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                mql_visitor_t *copy, char *contact);

/* A ref's hint is the visitor's bucket; making one also starts bringing
 * the bucket and the home slot (where most visitors live) into the
 * cache.  The _ref calls behave like the plain ones. */
void mql_shm_ref(const mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], mql_visitor_ref_t *ref);
int mql_shm_get_ref(mql_shm_t *s, const mql_visitor_ref_t *ref, uint32_t now,
                    mql_visitor_t *copy);

/* Make sure the visitor's record is coming into the cache: a visitor
 * away from its home slot has its chain's first record asked for (the
 * bucket and home slot that mql_shm_ref asked for are read, without the
 * lock), so that work done before the next lookup or update overlaps the
 * wait and the lock is not held across cache misses (the table is larger
 * than the caches, and each request meets another visitor). */
void mql_shm_prefetch(mql_shm_t *s, const mql_visitor_ref_t *ref);

/* The write sequence: bumped at the start and end of every locked
 * section, so odd while one runs (tests, diagnostics). */
uint64_t mql_shm_seq(const mql_shm_t *s);

/* Called with the lock held on the visitor's record (created zeroed, with
 * id/first_seen/last_seen/stage_since set, when absent).  Returns
 * MQL_UPD_DIRTY when a lead's figures changed.  Must not block.  The
 * table's own primitive: the store interface's hit is built on it. */
typedef int mql_shm_update_fn(mql_visitor_t *v, int is_new, void *baton);

/*
 * Find or create the visitor and apply fn.  When the table is full the
 * least valuable plain visitor (expired first, then long idle and low
 * score) is evicted and counted.  A lead goes only when plain visitors
 * are fewer than a sixteenth of the table, and only one already in its
 * DBM file.  APR_ENOSPC when nothing can be evicted (every slot a lead
 * not yet published).  A stage change is pushed on the change ring and
 * marks the record urgent.
 */
apr_status_t mql_shm_update(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                            mql_shm_update_fn *fn, void *baton, mql_hit_result_t *res);
apr_status_t mql_shm_update_ref(mql_shm_t *s, const mql_visitor_ref_t *ref, uint32_t now,
                                mql_shm_update_fn *fn, void *baton, mql_hit_result_t *res);

/* Attach a contact (truncated to MQL_CONTACT_LEN-1); marks it urgent.
 * In a full contact area a plain visitor's contact gives way to it; to a
 * lead's, so does that of a lead already in its DBM file (which keeps
 * it).  APR_ENOENT when the visitor is unknown, APR_ENOSPC when no
 * contact may give way (counted). */
apr_status_t mql_shm_set_contact(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES],
                                 const char *contact, uint32_t now);

/* Sales' decision (sql / rejected / back to mql). APR_ENOENT when unknown. */
apr_status_t mql_shm_set_stage(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES],
                               mql_stage_t stage, uint32_t now);

/* Remove the visitor and its contact. APR_ENOENT when unknown. */
apr_status_t mql_shm_forget(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES]);

/* Reclaim every visitor idle longer than the expiry; returns how many. */
uint32_t mql_shm_expire_sweep(mql_shm_t *s, uint32_t now);

/*
 * Walk every visitor.  The lock is taken per chunk of slots and released
 * before fn sees the copies, so fn may do I/O.  fn returns non-zero to
 * stop.  contact is NULL when the visitor has none.
 */
void mql_shm_iterate(mql_shm_t *s, mql_visit_fn *fn, void *baton);
/* Only the visitors that hold a contact (the contact area's walk). */
void mql_shm_iterate_contacts(mql_shm_t *s, mql_visit_fn *fn, void *baton);

/*
 * Walk the records marked dirty whose last write is at least min_interval
 * seconds old, or that are urgent; clears the marks (under the lock,
 * chunk by chunk) before handing the copies to fn.
 */
void mql_shm_collect_dirty(mql_shm_t *s, uint32_t now, uint32_t min_interval,
                           mql_visit_fn *fn, void *baton);

unsigned mql_shm_changes(mql_shm_t *s, uint64_t *seq, mql_change_t *out, unsigned max,
                         uint64_t *lost);

void mql_shm_stats(mql_shm_t *s, mql_visitors_stats_t *out);

/* The table's own marks on a visitor (its tests): MQL_SHM_USED, _DIRTY
 * (a lead's figures changed since the lead-change feed took it),
 * _URGENT (its stage or contact changed); 0 when absent.  *flushed (may
 * be NULL): when the feed last took it. */
/* What the table spends on a visitor beside its record: a slot's own
 * words (16), its bucket (4) and its share of the contact area (128 / 32);
 * the header and the change ring are shared by all. */
#define MQL_SHM_VISITOR_OVERHEAD 24

#define MQL_SHM_USED   0x01
#define MQL_SHM_DIRTY  0x02
#define MQL_SHM_URGENT 0x04
unsigned mql_shm_marks(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t *flushed);

/*
 * Consistency check for tests: every used slot reachable from exactly one
 * bucket chain with the right hash, free list + used = capacity, stage
 * counts and contact references right.  NULL when consistent, otherwise a
 * description of the first problem (allocated from p).  Takes the lock.
 */
const char *mql_shm_validate(mql_shm_t *s, apr_pool_t *p);

/*
 * Put one saved record back as it was -- stage, times and figures kept,
 * no change-ring entry, no insert counted.  A visitor already present is
 * replaced when rec is at least as recent (APR_EEXIST otherwise).  A full
 * table evicts a plain visitor only when may_evict; APR_ENOSPC otherwise.
 * contact may be NULL; *contact_dropped (may be NULL) tells that the
 * contact area was full.  A lead put back is due for the DBM file.
 * Counted as restored.
 */
apr_status_t mql_shm_put_record(mql_shm_t *s, const mql_visitor_t *rec,
                                const char *contact, int may_evict, int *contact_dropped);

/* The store interface's restore and published (mql_visitors.h). */
apr_status_t mql_shm_restore(mql_shm_t *s, const mql_visitor_t *rec, const char *contact,
                             uint32_t half_life, uint32_t now);
void mql_shm_published(mql_shm_t *s, uint32_t taken_before);

#endif
