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
 * The shared-memory store (MQLStore shm): the visitor table of one
 * server, shared by every httpd process and thread, behind the store
 * interface of mql_visitors.h.
 *
 * One contiguous block, formatted once by the parent and attached by every
 * process.  The block is mapped at different addresses in different
 * processes, so everything inside links by index, never by pointer; an
 * index field holds "slot number + 1" so that 0 can mean "none".
 *
 *   +-------------------------------+  offset 0
 *   | header (shm_hdr_t)            |  first line: write sequence number
 *   |                               |  and event counters; then magic,
 *   |                               |  layout, hash key, counters,
 *   |                               |  free-list heads, clock hand
 *   +-------------------------------+  off_buckets (64-byte aligned)
 *   | buckets[nbuckets]   uint32    |  head of each hash chain (slot + 1)
 *   +-------------------------------+  off_slots
 *   | slots[capacity] slot_t        |  the visitor's record (mql_visitor_t,
 *   |   [0] [1] [2] ... [cap-1]     |  96 bytes today) and 16 bytes of
 *   |                               |  the table's own words: `next`
 *   |                               |  links the hash chain of a used
 *   |                               |  slot, or the free list of an
 *   |                               |  unused one (whose `contact` links
 *   |                               |  it backwards); `mark` says used,
 *   |                               |  dirty, urgent
 *   +-------------------------------+  off_contacts
 *   | contacts[ncontacts]           |  128 bytes each:
 *   |   { uint32 link;              |  free: free list link (contact + 1);
 *   |                               |  taken: its holder (slot + 1)
 *   |     char value[124]; }        |  X-MQL-Contact, NUL-terminated
 *   +-------------------------------+  off_ring
 *   | ring[MQL_CHANGES_KEPT]        |  last stage changes; change number n
 *   |   mql_change_t                |  lives in ring[n % MQL_CHANGES_KEPT]
 *   +-------------------------------+  total_size
 *
 *   nbuckets   = capacity (load factor 1; chains average one slot)
 *   ncontacts  = max(64, capacity / 32)
 *
 * A visitor costs its slot (the record + 16) + 4 (bucket) + 4 (its share
 * of the contact area) bytes, plus the fixed header and ring: 120 bytes
 * today, at most MQL_SHM_VISITOR_BUDGET (144) with any record that builds.
 *
 * Leads come first, in the table and in the contact area.  A full table
 * evicts plain visitors; a lead already in its DBM file goes only when
 * plain visitors are fewer than a sixteenth of the table (a table nearly
 * all leads must still take new visitors, and the writer brings such a
 * lead back from its file when it returns).  A full contact area gives a
 * lead's contact the place of a plain visitor's, or else of a lead whose
 * DBM record already holds its contact (the writer keeps a record's
 * contact when the table no longer has it); a plain visitor's contact
 * takes only another plain visitor's place.  So no number of plain
 * visitors, however recent, pushes a lead or a lead's contact out.
 *
 * Visitor IDs are chosen by clients, so the bucket is a keyed SipHash of
 * the ID (the key is drawn at start-up and kept in the header): nobody can
 * aim collisions at one chain.  The 64-bit hash is reduced to a bucket by
 * multiply-shift ((h >> 32) * nbuckets >> 32), which needs no division and
 * no power-of-two table.
 *
 * Slot b is the home of bucket b's visitors: a new visitor takes its home
 * slot when it is free (three visitors in five, in a table four-fifths
 * full) and then heads its chain.  A request's lookup asks memory for the
 * bucket and the home slot at once and finds most visitors at home, so it
 * waits for one trip to memory instead of two in a row (the table is far
 * larger than the caches, and each request meets another visitor).
 *
 * Every function that touches the table takes the lock through the
 * caller's callbacks.  Walks over the whole table (iterate, dirty
 * collection, expiry sweep) take it chunk by chunk so that requests never
 * wait behind a full scan.
 */
#include <stdlib.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mql_shm.h"
#include "mql_score.h"
#include <apr_siphash.h>
#include "mql_log.h"

/*
 * A slot of the table: the visitor's record as the module knows it, and
 * what only the table needs.  Fixed size, no pointers (the segment is
 * mapped at different addresses in different processes).
 */
typedef struct slot {
    mql_visitor_t v;
    uint32_t next;            /* hash chain or free list: slot index + 1 */
    uint32_t contact;         /* contact slot index + 1, 0 = none; on the
                                 free list, the previous free slot + 1 */
    uint32_t flushed;         /* when the lead-change feed last took it */
    uint8_t  mark;            /* MARK_* */
    uint8_t  reserved[3];
} slot_t;

_Static_assert(sizeof(slot_t) == sizeof(mql_visitor_t) + 16, "a slot is the record and 16 bytes");

#define MARK_USED   MQL_SHM_USED     /* the slot holds a visitor */
#define MARK_DIRTY  MQL_SHM_DIRTY    /* a lead's figures changed since the feed took it */
#define MARK_URGENT MQL_SHM_URGENT   /* its stage or contact changed: take it at once */

#define STORE_MAGIC   "MQLSTOR1"
#define STORE_VERSION 7

/*
 * A point between two writes of a multi-step change to the links.  The
 * unit test of lock recovery compiles this file with its own definition,
 * to stop a process at each of them in turn; here they are nothing.
 */
#ifndef MQL_SHM_STEP
#define MQL_SHM_STEP() ((void)0)
#endif

#define MIN_CONTACTS   64
#define CONTACT_RATIO  32       /* one contact slot per 32 visitors */
#define EVICT_SAMPLE   16       /* candidates weighed per eviction */
#define EVICT_PROBES   256      /* slots looked at before giving up */
#define PLAIN_SHARE    16       /* leads make room while plain visitors are
                                   fewer than capacity / PLAIN_SHARE */
#define CONTACT_PROBES 256      /* contacts looked at for one to give way */
#define CHUNK          1024     /* slots per lock hold in table walks */
#define ALIGN          64
#define SECS_PER_DAY   86400

typedef struct mql_contact_slot {
    uint32_t link;            /* free: the free list (contact index + 1);
                                 taken: its holder (slot index + 1), so a
                                 contact can be taken back from it */
    char value[MQL_CONTACT_LEN];
} mql_contact_slot_t;

_Static_assert(sizeof(mql_contact_slot_t) == 128, "contact slot must stay 128 bytes");

/* The record grows with mql_fields.h; the table's share stays what the
 * product's bound was reckoned with. */
_Static_assert(sizeof(slot_t) - sizeof(mql_visitor_t) + sizeof(uint32_t)
               + sizeof(mql_contact_slot_t) / CONTACT_RATIO == MQL_SHM_VISITOR_OVERHEAD,
               "the table's words per visitor: MQL_SHM_VISITOR_OVERHEAD");
_Static_assert(sizeof(mql_visitor_t) + MQL_SHM_VISITOR_OVERHEAD <= MQL_SHM_VISITOR_BUDGET,
               "a visitor's record and the table's words for it fit MQL_SHM_VISITOR_BUDGET");

_Static_assert(sizeof(uint64_t) * (1 + MQL_EV_COUNT) <= 64,
               "what every update writes must share one cache line");

typedef struct mql_shm_hdr {
    /*
     * The header's first cache line (the table starts on one) is the one
     * that every request's update writes: it moves to the CPU that serves
     * the request from the one that served the last, so all it writes
     * travels together (a lead's dirty mark is rare enough to live apart).
     *
     * seq is odd while a locked section runs, bumped at its start and
     * end: it lets mql_shm_get() read without the lock and notice when
     * it raced a writer.
     */
    uint64_t seq;
    uint64_t events[MQL_EV_COUNT];

    char     magic[8];
    uint32_t version;
    uint32_t hdr_size;
    uint64_t total_size;
    uint32_t capacity;
    uint32_t nbuckets;
    uint32_t ncontacts;
    uint32_t nring;
    uint64_t off_buckets;
    uint64_t off_slots;
    uint64_t off_contacts;
    uint64_t off_ring;
    uint8_t  hash_key[MQL_KEY_BYTES];

    uint32_t created;
    uint32_t restored;
    uint32_t used;
    uint32_t free_head;       /* slot index + 1, 0 = table full */
    uint32_t contacts_used;
    uint32_t contact_free;    /* contact index + 1, 0 = area full */
    uint32_t hand;            /* eviction clock hand: next slot to sample */
    uint32_t stages[MQL_STAGE_COUNT];
    uint64_t inserts;
    uint64_t evictions;
    uint64_t expired;
    uint64_t full;
    uint64_t contacts_dropped;
    uint64_t change_seq;      /* number of stage changes ever pushed */
    /* Dirty collection skips its table walk when nothing was marked since
     * the last complete walk and that walk left nothing waiting. */
    uint64_t dirty_marks;     /* times a record was marked DIRTY/URGENT */
    uint64_t walked_marks;    /* dirty_marks when the last complete walk began */
    uint32_t walk_left;       /* records the last complete walk left dirty */
    uint64_t repairs;         /* after a holder died inside a section */
    /* Leads the feed took before this time are in their DBM files
     * (mql_shm_published): such a lead, unchanged since, may make room. */
    uint32_t published_before;
    uint64_t lead_evictions;
    uint32_t contact_hand;    /* next contact looked at for one to give way */
} shm_hdr_t;

/* The process-local handle: pointers into this process's mapping. */
struct mql_shm {
    shm_hdr_t *h;
    uint32_t *buckets;
    slot_t *slots;
    mql_contact_slot_t *contacts;
    mql_change_t *ring;
    uint8_t key[MQL_KEY_BYTES];
    uint32_t capacity;
    uint32_t nbuckets;
    uint32_t ncontacts;
    uint32_t max_idle;
    mql_lock_fn *lock_fn;
    mql_lock_fn *unlock_fn;
    void *baton;
    apr_uint32_t repaired;    /* to log once the lock is released */
};

typedef struct layout {
    uint32_t capacity, nbuckets, ncontacts;
    uint64_t off_buckets, off_slots, off_contacts, off_ring, total;
} layout_t;

static uint64_t align_up(uint64_t n)
{
    return (n + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
}

/* The one place that decides where everything lives. */
static void compute_layout(uint32_t max_visitors, layout_t *l)
{
    if (max_visitors == 0)
        max_visitors = 1;
    if (max_visitors > UINT32_MAX - 1)      /* index + 1 must fit in 32 bits */
        max_visitors = UINT32_MAX - 1;
    l->capacity = max_visitors;
    l->nbuckets = max_visitors;
    l->ncontacts = max_visitors / CONTACT_RATIO;
    if (l->ncontacts < MIN_CONTACTS)
        l->ncontacts = MIN_CONTACTS;
    l->off_buckets = align_up(sizeof(shm_hdr_t));
    l->off_slots = align_up(l->off_buckets + (uint64_t)l->nbuckets * sizeof(uint32_t));
    l->off_contacts = align_up(l->off_slots + (uint64_t)l->capacity * sizeof(slot_t));
    l->off_ring = align_up(l->off_contacts + (uint64_t)l->ncontacts * sizeof(mql_contact_slot_t));
    l->total = align_up(l->off_ring + (uint64_t)MQL_CHANGES_KEPT * sizeof(mql_change_t));
}

size_t mql_shm_size(uint32_t max_visitors)
{
    layout_t l;

    compute_layout(max_visitors, &l);
    return (size_t)l.total;
}

void mql_shm_format(void *base, uint32_t max_visitors, const uint8_t hash_key[MQL_KEY_BYTES])
{
    shm_hdr_t *h = base;
    slot_t *slots;
    mql_contact_slot_t *contacts;
    layout_t l;
    uint32_t i;

    compute_layout(max_visitors, &l);
    memset(base, 0, (size_t)l.total);
    slots = (slot_t *)((char *)base + l.off_slots);
    contacts = (mql_contact_slot_t *)((char *)base + l.off_contacts);

    /* Free lists in ascending order, so a young table fills front to back. */
    for (i = 0; i < l.capacity; i++) {
        slots[i].next = (i + 1 < l.capacity) ? i + 2 : 0;
        slots[i].contact = i;               /* the previous free slot + 1 */
    }
    for (i = 0; i < l.ncontacts; i++)
        contacts[i].link = (i + 1 < l.ncontacts) ? i + 2 : 0;

    h->version = STORE_VERSION;
    h->hdr_size = sizeof(*h);
    h->total_size = l.total;
    h->capacity = l.capacity;
    h->nbuckets = l.nbuckets;
    h->ncontacts = l.ncontacts;
    h->nring = MQL_CHANGES_KEPT;
    h->off_buckets = l.off_buckets;
    h->off_slots = l.off_slots;
    h->off_contacts = l.off_contacts;
    h->off_ring = l.off_ring;
    memcpy(h->hash_key, hash_key, MQL_KEY_BYTES);
    h->created = (uint32_t)apr_time_sec(apr_time_now());
    h->free_head = 1;
    h->contact_free = 1;
    /* The magic goes last: a half-formatted block never attaches. */
    memcpy(h->magic, STORE_MAGIC, sizeof(h->magic));
}

mql_shm_t *mql_shm_attach(apr_pool_t *p, void *base, uint32_t max_visitors,
                              mql_lock_fn *lock, mql_lock_fn *unlock, void *lock_baton)
{
    shm_hdr_t *h = base;
    mql_shm_t *s;
    layout_t l;

    if (!base || memcmp(h->magic, STORE_MAGIC, sizeof(h->magic)) != 0) {
        mql_log(MQL_LOG_ERR, "MQL01001: visitor table: memory holds no formatted table");
        return NULL;
    }
    /* Every size and offset this handle will use comes from the caller's
     * own figure; the header, which any attached process can write, only
     * has to agree with it. */
    compute_layout(max_visitors, &l);
    if (h->version != STORE_VERSION || h->hdr_size != sizeof(*h) || h->total_size != l.total
        || h->capacity != l.capacity || h->nbuckets != l.nbuckets
        || h->ncontacts != l.ncontacts || h->nring != MQL_CHANGES_KEPT
        || h->off_buckets != l.off_buckets || h->off_slots != l.off_slots
        || h->off_contacts != l.off_contacts || h->off_ring != l.off_ring) {
        mql_log(MQL_LOG_ERR, "MQL01002: visitor table: layout version %u for %u visitors "
                "does not match this build's (%u) for %u", h->version, h->capacity,
                STORE_VERSION, l.capacity);
        return NULL;
    }
    s = apr_pcalloc(p, sizeof(*s));
    s->h = h;
    s->buckets = (uint32_t *)((char *)base + l.off_buckets);
    s->slots = (slot_t *)((char *)base + l.off_slots);
    s->contacts = (mql_contact_slot_t *)((char *)base + l.off_contacts);
    s->ring = (mql_change_t *)((char *)base + l.off_ring);
    memcpy(s->key, h->hash_key, MQL_KEY_BYTES);   /* fixed for the table's life */
    s->capacity = l.capacity;
    s->nbuckets = l.nbuckets;
    s->ncontacts = l.ncontacts;
    s->lock_fn = lock;
    s->unlock_fn = unlock;
    s->baton = lock_baton;
    return s;
}

uint32_t mql_shm_capacity(const mql_shm_t *s)
{
    return s->capacity;
}

void mql_shm_set_expire(mql_shm_t *s, uint32_t max_idle_secs)
{
    s->max_idle = max_idle_secs;
}

/* ------------------------------------------------------------------ */
/* Locking and small helpers                                           */

static void repair_locked(mql_shm_t *s);

/*
 * Every locked section is a write as far as lock-free readers are
 * concerned.  A holder that died inside its section left seq odd (the
 * robust mutex, or a lock the kernel dropped with the process, lets the
 * next one in): whatever it was changing may be half done, so the links
 * are rebuilt before anyone follows them.
 */
static void lock(mql_shm_t *s)
{
    uint64_t q;

    /* the line every section writes is on its way while the lock is taken */
    __builtin_prefetch(&s->h->seq, 1);
    if (s->lock_fn)
        s->lock_fn(s->baton);
    q = apr_atomic_read64(&s->h->seq);
    /* the builtins: a fence, which APR has not, and seq's stores, which
     * need no full barrier (apr_atomic_set64's costs 20 ns more a write) */
    __atomic_store_n(&s->h->seq, (q & 1) ? q + 2 : q + 1, __ATOMIC_RELAXED);
    /* the odd value is visible before any change made under the lock */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (q & 1)
        repair_locked(s);
}

static void unlock(mql_shm_t *s)
{
    uint64_t q = apr_atomic_read64(&s->h->seq);

    __atomic_store_n(&s->h->seq, q + 1, __ATOMIC_RELEASE);
    if (s->unlock_fn)
        s->unlock_fn(s->baton);
    if (apr_atomic_xchg32(&s->repaired, 0))
        mql_log(MQL_LOG_WARNING, "MQL01006: visitor table: a process died while changing "
                "it; its links were rebuilt from the records");
}

uint64_t mql_shm_seq(const mql_shm_t *s)
{
    return apr_atomic_read64(&s->h->seq);
}

/* Seconds from t to now; 0 when the clock went backwards. */
static uint32_t elapsed(uint32_t now, uint32_t t)
{
    return now > t ? now - t : 0;
}

static int is_power_of_two(uint64_t n)
{
    return n && !(n & (n - 1));
}

static uint32_t bucket_of(const mql_shm_t *s, const uint8_t id[MQL_ID_BYTES])
{
    uint64_t h = apr_siphash24(id, MQL_ID_BYTES, s->key);

    return (uint32_t)(((h >> 32) * (uint64_t)s->nbuckets) >> 32);
}

/*
 * Idle past the expiry.  A lead whose latest figures have not reached the
 * DBM file yet is kept until the writer has had them: forgetting it would
 * lose the sale.
 */
static int is_expired(const mql_shm_t *s, const slot_t *v, uint32_t now)
{
    if (!s->max_idle || elapsed(now, v->v.last_seen) <= s->max_idle)
        return 0;
    if (MQL_STAGE_IS_LEAD(v->v.stage) && (v->mark & (MARK_DIRTY | MARK_URGENT)))
        return 0;
    return 1;
}

/*
 * Whether the visitor lives in its home slot (slot number = bucket
 * number; alloc_slot_locked says why).  Such a visitor always heads its
 * chain, so a lookup that finds it there needs neither the bucket nor
 * the chain.  Reads without the lock are checked by the caller.
 */
static int at_home(const mql_shm_t *s, uint32_t bucket, const uint8_t id[MQL_ID_BYTES])
{
    const slot_t *v = &s->slots[bucket];

    /* a byte: APR's atomics are of 32 and 64 bits */
    return (__atomic_load_n(&v->mark, __ATOMIC_RELAXED) & MARK_USED)
           && memcmp(v->v.id, id, MQL_ID_BYTES) == 0;
}

/* The contact text of v, or NULL when it has none (or an index that
 * does not fit the table). */
static const char *contact_of(const mql_shm_t *s, const slot_t *v)
{
    uint32_t c = v->contact;

    return c && c <= s->ncontacts ? s->contacts[c - 1].value : NULL;
}

/* Slot number + 1 of the visitor, 0 when absent; *linkp is the index
 * field that points at it (a bucket or the previous slot's next). */
static uint32_t find_locked_in(mql_shm_t *s, uint32_t bucket, const uint8_t id[MQL_ID_BYTES],
                               uint32_t **linkp)
{
    uint32_t *link = &s->buckets[bucket];
    uint32_t n;

    if (at_home(s, bucket, id)) {
        if (linkp)
            *linkp = link;          /* a visitor at home heads its chain */
        return bucket + 1;
    }
    while ((n = *link) != 0) {
        slot_t *v = &s->slots[n - 1];
        if (memcmp(v->v.id, id, MQL_ID_BYTES) == 0) {
            if (linkp)
                *linkp = link;
            return n;
        }
        link = &v->next;
    }
    return 0;
}

static uint32_t find_locked(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t **linkp)
{
    return find_locked_in(s, bucket_of(s, id), id, linkp);
}

static void contact_release_locked(mql_shm_t *s, uint32_t ref)
{
    mql_contact_slot_t *c = &s->contacts[ref - 1];

    memset(c->value, 0, sizeof(c->value));
    c->link = s->h->contact_free;
    MQL_SHM_STEP();
    s->h->contact_free = ref;
    s->h->contacts_used--;
}

static int published_lead(const mql_shm_t *s, const slot_t *v);

/* The slot holding contact c (index), or NULL when it is free.  A free
 * contact's link is a free-list index, which no slot's contact field
 * names back. */
static slot_t *contact_holder(mql_shm_t *s, uint32_t c)
{
    uint32_t o = s->contacts[c].link;
    slot_t *v;

    if (!o || o > s->capacity)
        return NULL;
    v = &s->slots[o - 1];
    return (v->mark & MARK_USED) && v->contact == c + 1 ? v : NULL;
}

/*
 * A full area: the contact of another visitor that may give way to v's,
 * taken from it (index + 1), or 0.  A plain visitor's goes first.  For a
 * lead, so does that of a lead whose DBM record holds its contact (the
 * writer keeps it there, mql_record_keep), and the whole area is looked
 * through before a lead's contact is refused; a plain visitor's looks a
 * bounded way, for another plain visitor's only.
 */
static uint32_t contact_reclaim_locked(mql_shm_t *s, const slot_t *v)
{
    shm_hdr_t *h = s->h;
    int for_lead = MQL_STAGE_IS_LEAD(v->v.stage);
    uint32_t probes, limit = s->ncontacts, c;
    slot_t *holder, *giver = NULL;

    if (!for_lead && limit > CONTACT_PROBES)
        limit = CONTACT_PROBES;
    for (probes = 0; probes < limit && !(giver && probes >= CONTACT_PROBES); probes++) {
        c = h->contact_hand < s->ncontacts ? h->contact_hand : 0;
        h->contact_hand = c + 1 < s->ncontacts ? c + 1 : 0;
        if (!(holder = contact_holder(s, c)) || holder == v)
            continue;
        if (!MQL_STAGE_IS_LEAD(holder->v.stage)) {
            giver = holder;
            break;
        }
        if (for_lead && !giver && published_lead(s, holder))
            giver = holder;
    }
    if (!giver)
        return 0;
    /* it keeps its record, and nothing of it is due for the file */
    c = giver->contact;
    giver->contact = 0;
    MQL_SHM_STEP();
    return c;
}

/* Contact index + 1 for slot v, or 0 when the area is full and no
 * contact may give way. */
static uint32_t contact_alloc_locked(mql_shm_t *s, const slot_t *v)
{
    uint32_t ref = s->h->contact_free;

    if (ref) {
        s->h->contact_free = s->contacts[ref - 1].link;
        MQL_SHM_STEP();
        s->h->contacts_used++;
    }
    else if (!(ref = contact_reclaim_locked(s, v)))
        return 0;
    s->contacts[ref - 1].link = (uint32_t)(v - s->slots) + 1;
    return ref;
}

/*
 * The free list is linked both ways, so that a visitor's home slot (below)
 * can be taken out of it wherever it sits: a free slot has no contact,
 * and its contact field holds the previous free slot (index + 1, 0 at the
 * head).
 */
static void free_push_locked(mql_shm_t *s, uint32_t idx)
{
    slot_t *v = &s->slots[idx];
    uint32_t head = s->h->free_head;

    v->next = head;
    v->contact = 0;
    if (head)
        s->slots[head - 1].contact = idx + 1;
    MQL_SHM_STEP();
    s->h->free_head = idx + 1;
}

static void free_take_locked(mql_shm_t *s, uint32_t idx)
{
    const slot_t *v = &s->slots[idx];
    uint32_t prev = v->contact, next = v->next;

    if (prev)
        s->slots[prev - 1].next = next;
    else
        s->h->free_head = next;
    MQL_SHM_STEP();
    if (next)
        s->slots[next - 1].contact = prev;
}

/* Take slot idx out of its chain and put it on the free list. */
static void reclaim_locked(mql_shm_t *s, uint32_t idx, uint32_t *link)
{
    slot_t *v = &s->slots[idx];

    /* (a slot no chain reaches cannot be met here: a repair links every
     * used slot before anyone looks) */
    if (link || find_locked(s, v->v.id, &link) == idx + 1)
        *link = v->next;
    MQL_SHM_STEP();
    if (v->contact)
        contact_release_locked(s, v->contact);
    MQL_SHM_STEP();
    s->h->stages[v->v.stage]--;
    s->h->used--;
    memset(v, 0, sizeof(*v));
    MQL_SHM_STEP();
    free_push_locked(s, idx);
}

/* Find a live visitor; an expired one met on the way is reclaimed. */
static slot_t *lookup_locked_in(mql_shm_t *s, uint32_t bucket,
                                       const uint8_t id[MQL_ID_BYTES], uint32_t now)
{
    uint32_t *link;
    uint32_t n = find_locked_in(s, bucket, id, &link);

    if (!n)
        return NULL;
    if (is_expired(s, &s->slots[n - 1], now)) {
        reclaim_locked(s, n - 1, link);
        s->h->expired++;
        return NULL;
    }
    return &s->slots[n - 1];
}

static slot_t *lookup_locked(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES],
                                    uint32_t now)
{
    return lookup_locked_in(s, bucket_of(s, id), id, now);
}

/*
 * Worth of keeping a visitor: its score halved for every whole day idle.
 * No libm: a shift is enough for whole days.
 */
static double keep_value(const slot_t *v, uint32_t now)
{
    uint32_t days = elapsed(now, v->v.last_seen) / SECS_PER_DAY;

    if (days >= 64)
        return 0.0;
    return v->v.score / (double)(UINT64_C(1) << days);
}

/* 1 when a should go before b. */
static int less_valuable(const slot_t *a, double va, const slot_t *b, double vb)
{
    if (va != vb)
        return va < vb;
    return a->v.last_seen < b->v.last_seen;
}

/* A lead whose DBM record holds all it knows: it can come back from the
 * file (the writer's restore), so it may make room in a full table. */
static int published_lead(const mql_shm_t *s, const slot_t *v)
{
    return MQL_STAGE_IS_LEAD(v->v.stage) && !(v->mark & (MARK_DIRTY | MARK_URGENT))
           && v->flushed && v->flushed < s->h->published_before;
}

/*
 * Free one slot of a full table.  A clock hand sweeps the slots; from the
 * next few plain visitors it meets, the least valuable goes.  An expired
 * visitor goes at once.  Leads stay, however long idle: a lead's next
 * request must find it.  Only while plain visitors are fewer than
 * capacity / PLAIN_SHARE does a lead already in its DBM file make room
 * (the longest idle met): a table nearly all leads keeps taking visitors,
 * and the lead loses nothing, since the writer puts it back from its file
 * when it returns.
 *
 * The slots looked at are bounded, so that a table of leads costs a
 * request microseconds, not a full scan; but while plain visitors are at
 * least that share the sweep goes on until it meets one (one slot in
 * PLAIN_SHARE on average), so no lead goes because they sat elsewhere.
 * Returns 1 when a slot was freed.
 */
static int evict_locked(mql_shm_t *s, uint32_t now)
{
    shm_hdr_t *h = s->h;
    uint32_t probes, candidates = 0, best = 0, lead = 0, limit = EVICT_PROBES;
    uint32_t floor = s->capacity / PLAIN_SHARE ? s->capacity / PLAIN_SHARE : 1;
    int leads_may_go = h->stages[MQL_STAGE_VISITOR] < floor;
    double best_value = 0.0;

    if (!leads_may_go)
        limit = s->capacity;
    for (probes = 0; probes < limit && candidates < EVICT_SAMPLE
                     && !(probes >= EVICT_PROBES && candidates); probes++) {
        uint32_t i = h->hand < s->capacity ? h->hand : 0;
        slot_t *v = &s->slots[i];
        double value;

        h->hand = (i + 1 < s->capacity) ? i + 1 : 0;
        if (!(v->mark & MARK_USED))
            continue;
        if (is_expired(s, v, now)) {
            reclaim_locked(s, i, NULL);
            h->expired++;
            return 1;
        }
        if (MQL_STAGE_IS_LEAD(v->v.stage)) {
            if (leads_may_go && published_lead(s, v)
                && (!lead || v->v.last_seen < s->slots[lead - 1].v.last_seen))
                lead = i + 1;
            continue;
        }
        value = keep_value(v, now);
        if (!candidates++ || less_valuable(v, value, &s->slots[best - 1], best_value)) {
            best = i + 1;
            best_value = value;
        }
    }
    if (lead) {
        reclaim_locked(s, lead - 1, NULL);
        h->evictions++;
        h->lead_evictions++;
        return 1;
    }
    if (!best)
        return 0;
    reclaim_locked(s, best - 1, NULL);
    h->evictions++;
    return 1;
}

/*
 * A zeroed slot for a visitor of bucket b, taken from the free list or by
 * eviction; NULL when full.  There are as many slots as buckets, and slot
 * b is the visitor's home: a lookup fetches it from memory together with
 * the bucket instead of after it, so it is taken whenever it is free.
 */
static slot_t *alloc_slot_locked(mql_shm_t *s, uint32_t b, uint32_t now, int may_evict)
{
    uint32_t n;

    if ((s->slots[b].mark & MARK_USED) && !s->h->free_head
        && !(may_evict && evict_locked(s, now)))
        return NULL;
    /* (an eviction may have freed the home slot itself) */
    n = (s->slots[b].mark & MARK_USED) ? s->h->free_head : b + 1;
    free_take_locked(s, n - 1);
    memset(&s->slots[n - 1], 0, sizeof(slot_t));
    return &s->slots[n - 1];
}

/* Put a filled-in slot (flags USED, stage set) into the chain of bucket b.
 * A visitor in its home slot stays first, where a lookup meets it without
 * another trip to memory. */
static void link_locked(mql_shm_t *s, uint32_t b, slot_t *v)
{
    uint32_t self = (uint32_t)(v - s->slots) + 1, head = s->buckets[b];

    if (head == b + 1 && self != head) {
        v->next = s->slots[b].next;
        MQL_SHM_STEP();
        s->slots[b].next = self;
    }
    else {
        v->next = head;
        MQL_SHM_STEP();
        s->buckets[b] = self;
    }
    MQL_SHM_STEP();
    s->h->stages[v->v.stage]++;
    s->h->used++;
}

/* Bookkeeping for a stage change made to v: counts, ring, flags. */
static void note_stage_change_locked(mql_shm_t *s, slot_t *v, uint8_t old_stage,
                                     uint32_t now)
{
    shm_hdr_t *h = s->h;
    mql_change_t *c = &s->ring[h->change_seq % MQL_CHANGES_KEPT];

    h->stages[old_stage]--;
    h->stages[v->v.stage]++;
    v->mark |= MARK_URGENT | MARK_DIRTY;
    h->dirty_marks++;
    memcpy(c->id, v->v.id, MQL_ID_BYTES);
    c->time = now;
    c->old_stage = old_stage;
    c->new_stage = v->v.stage;
    c->trigger_event = v->v.trigger_event;
    c->reserved = 0;
    c->score = v->v.score;
    h->change_seq++;
}

/*
 * After a holder died inside a section (lock() saw the odd sequence):
 * the chains, both free lists and every count are built again from the
 * slots' own USED marks.  A half-made visitor (marked, not yet linked)
 * and a half-freed one (unlinked, still marked) are linked again, so no
 * eviction or expiry sweep meets a used slot that no chain reaches; a
 * contact index out of range or taken twice is dropped.  A full pass
 * under the lock, but rare: it takes a process killed inside a section
 * of a few hundred instructions.
 */
#define CONTACT_TAKEN UINT32_MAX

static void repair_locked(mql_shm_t *s)
{
    shm_hdr_t *h = s->h;
    uint32_t i;
    int pass;

    memset(s->buckets, 0, (size_t)s->nbuckets * sizeof(uint32_t));
    memset(h->stages, 0, sizeof(h->stages));
    h->used = h->free_head = h->contacts_used = h->contact_free = 0;
    for (i = 0; i < s->ncontacts; i++)
        s->contacts[i].link = 0;
    /* visitors at home first: they head their chains */
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < s->capacity; i++) {
            slot_t *v = &s->slots[i];
            uint32_t b;

            if (!(v->mark & MARK_USED))
                continue;
            b = bucket_of(s, v->v.id);
            if ((b == i) != (pass == 0))
                continue;
            if (pass == 1 && find_locked_in(s, b, v->v.id, NULL)) {
                memset(v, 0, sizeof(*v));           /* a second copy of a visitor */
                continue;
            }
            if (v->v.stage >= MQL_STAGE_COUNT)
                v->v.stage = MQL_STAGE_VISITOR;
            if (v->contact > s->ncontacts
                || (v->contact && s->contacts[v->contact - 1].link == CONTACT_TAKEN))
                v->contact = 0;
            if (v->contact) {
                s->contacts[v->contact - 1].link = CONTACT_TAKEN;
                s->contacts[v->contact - 1].value[MQL_CONTACT_LEN - 1] = '\0';
                h->contacts_used++;
            }
            link_locked(s, b, v);
        }
    }
    /* back to front, so that the lists hand out low slots first again */
    for (i = s->capacity; i-- > 0;) {
        if (!(s->slots[i].mark & MARK_USED)) {
            memset(&s->slots[i], 0, sizeof(slot_t));
            free_push_locked(s, i);
        }
    }
    for (i = s->ncontacts; i-- > 0;) {
        mql_contact_slot_t *c = &s->contacts[i];
        if (c->link == CONTACT_TAKEN)
            continue;               /* its holder's, below */
        memset(c->value, 0, sizeof(c->value));
        c->link = h->contact_free;
        h->contact_free = i + 1;
    }
    for (i = 0; i < s->capacity; i++)
        if ((s->slots[i].mark & MARK_USED) && s->slots[i].contact)
            s->contacts[s->slots[i].contact - 1].link = i + 1;
    if (h->contact_hand >= s->ncontacts)
        h->contact_hand = 0;
    if (h->hand >= s->capacity)
        h->hand = 0;
    h->walk_left = 1;           /* the next dirty collection walks the table */
    h->repairs++;
    s->repaired = 1;
}

/* Log a recurring condition only at the 1st, 2nd, 4th, 8th... time, so
 * a full table cannot flood the error log from the request path. */
static int worth_logging(uint64_t count)
{
    return is_power_of_two(count);
}

/* ------------------------------------------------------------------ */
/* Single-visitor operations                                           */

/* All the cache lines of slot i (a record straddles two or three). */
static void prefetch_slot(const mql_shm_t *s, uint32_t i)
{
    const char *v = (const char *)&s->slots[i];

    __builtin_prefetch(v, 1);
    __builtin_prefetch(v + 64, 1);
    __builtin_prefetch(v + sizeof(slot_t) - 1, 1);
}

void mql_shm_ref(const mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], mql_visitor_ref_t *ref)
{
    memcpy(ref->id, id, MQL_ID_BYTES);
    ref->hint = bucket_of(s, id);
    /* hints that wait for nothing: the bucket, and the home slot where
     * most visitors live; mql_shm_prefetch follows them up */
    __builtin_prefetch(&s->buckets[ref->hint], 0);
    prefetch_slot(s, ref->hint);
}

/* A ref is only trusted as far as the table's size goes. */
static uint32_t ref_bucket(const mql_shm_t *s, const mql_visitor_ref_t *ref)
{
    return ref->hint < s->nbuckets ? ref->hint : bucket_of(s, ref->id);
}

void mql_shm_prefetch(mql_shm_t *s, const mql_visitor_ref_t *ref)
{
    uint32_t b = ref_bucket(s, ref), n;

    /* at home: the record is here or on its way since mql_shm_ref */
    if (at_home(s, b, ref->id))
        return;
    /* a hint only: a chain that changes meanwhile costs a miss, no more */
    n = apr_atomic_read32(&s->buckets[b]);
    if (n == b + 1)             /* the home slot's own visitor heads the chain */
        n = apr_atomic_read32(&s->slots[b].next);
    if (n && n <= s->capacity)
        prefetch_slot(s, n - 1);
}

#define PEEK_TRIES     3        /* optimistic reads before taking the lock */
#define PEEK_MAX_CHAIN 64       /* longer (or looping, mid-change) chains: lock */

/*
 * One optimistic lookup: follows the chain and copies the record without
 * the lock, writing nothing.  What it reads may be mid-change; the caller
 * throws the result away unless seq shows no locked section overlapped.
 * Links are loaded once each and checked, so a torn read cannot send the
 * walk outside the table.  1 found, 0 absent, -1 inconclusive.
 */
static int peek(const mql_shm_t *s, uint32_t bucket, const uint8_t id[MQL_ID_BYTES],
                slot_t *copy)
{
    uint32_t n;
    int steps;

    if (at_home(s, bucket, id)) {
        memcpy(copy, &s->slots[bucket], sizeof(*copy));
        return 1;
    }
    n = apr_atomic_read32(&s->buckets[bucket]);
    for (steps = 0; n != 0; steps++) {
        slot_t *v;

        if (n > s->capacity || steps >= PEEK_MAX_CHAIN)
            return -1;
        v = &s->slots[n - 1];
        if (memcmp(v->v.id, id, MQL_ID_BYTES) == 0) {
            memcpy(copy, v, sizeof(*copy));
            return 1;
        }
        n = apr_atomic_read32(&v->next);
    }
    return 0;
}

/* The request path's lookup: no lock, no store to shared memory, so
 * readers neither wait for each other nor move the lock's cache line
 * between CPUs.  -1 when it raced writers PEEK_TRIES times. */
static int get_optimistic(mql_shm_t *s, uint32_t bucket, const uint8_t id[MQL_ID_BYTES],
                          uint32_t now, mql_visitor_t *copy)
{
    slot_t v;
    int tries, found;

    for (tries = 0; tries < PEEK_TRIES; tries++) {
        uint64_t q = apr_atomic_read64(&s->h->seq);

        if (q & 1)
            return -1;          /* a writer is inside: wait for it on the lock */
        found = peek(s, bucket, id, &v);
        /* the record's bytes before seq again: a fence, which APR has not */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (apr_atomic_read64(&s->h->seq) != q || found < 0)
            continue;
        /* an expired visitor is absent; the locked paths reclaim it */
        if (found && is_expired(s, &v, now))
            return 0;
        if (found && copy)
            *copy = v.v;
        return found;
    }
    return -1;
}

static int get_in(mql_shm_t *s, uint32_t bucket, const uint8_t id[MQL_ID_BYTES],
                  uint32_t now, mql_visitor_t *copy, char *contact)
{
    slot_t *v;
    int found;

    if (!contact && (found = get_optimistic(s, bucket, id, now, copy)) >= 0)
        return found;
    lock(s);
    v = lookup_locked_in(s, bucket, id, now);
    if (v) {
        if (copy)
            *copy = v->v;
        if (contact) {
            const char *text = contact_of(s, v);
            if (text)
                memcpy(contact, text, MQL_CONTACT_LEN);
            else
                contact[0] = '\0';
        }
    }
    unlock(s);
    return v != NULL;
}

int mql_shm_get(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                mql_visitor_t *copy, char *contact)
{
    return get_in(s, bucket_of(s, id), id, now, copy, contact);
}

int mql_shm_get_ref(mql_shm_t *s, const mql_visitor_ref_t *ref, uint32_t now,
                    mql_visitor_t *copy)
{
    return get_in(s, ref_bucket(s, ref), ref->id, now, copy, NULL);
}

static apr_status_t update_in(mql_shm_t *s, uint32_t bucket, const uint8_t id[MQL_ID_BYTES],
                              uint32_t now, mql_shm_update_fn *fn, void *baton,
                              mql_hit_result_t *res)
{
    slot_t *v;
    uint32_t keep_since;
    uint8_t old_stage;
    uint64_t full = 0;
    int is_new = 0, rc;

    lock(s);
    v = lookup_locked_in(s, bucket, id, now);
    if (!v) {
        v = alloc_slot_locked(s, bucket, now, 1);
        if (!v) {
            full = ++s->h->full;
            unlock(s);
            if (worth_logging(full))
                mql_log(MQL_LOG_WARNING, "MQL01003: visitor table full of leads "
                        "(%u slots): new visitors are not tracked (%llu so far)",
                        s->capacity, (unsigned long long)full);
            if (res)
                memset(res, 0, sizeof(*res));
            return APR_ENOSPC;
        }
        MQL_SHM_STEP();
        memcpy(v->v.id, id, MQL_ID_BYTES);
        v->v.first_seen = v->v.last_seen = v->v.stage_since = now;
        MQL_SHM_STEP();
        v->mark = MARK_USED;
        MQL_SHM_STEP();
        link_locked(s, bucket, v);
        s->h->inserts++;
        is_new = 1;
    }

    /* The caller owns the figures (its function sees the record, never
     * the links); the store owns the identity. */
    keep_since = v->v.stage_since;
    old_stage = v->v.stage;
    rc = fn ? fn(&v->v, is_new, baton) : MQL_UPD_NONE;
    memcpy(v->v.id, id, MQL_ID_BYTES);
    if (v->v.stage >= MQL_STAGE_COUNT)
        v->v.stage = old_stage;
    if (v->v.stage != old_stage) {
        if (v->v.stage_since == keep_since)
            v->v.stage_since = now;
        note_stage_change_locked(s, v, old_stage, now);
    }
    if (rc == MQL_UPD_DIRTY)
        v->mark |= MARK_DIRTY;
    if (v->mark & (MARK_DIRTY | MARK_URGENT))
        s->h->dirty_marks++;
    if (res) {
        res->found = !is_new;
        res->stage_changed = v->v.stage != old_stage;
        res->old_stage = old_stage;
        res->after = v->v;
    }
    unlock(s);
    return APR_SUCCESS;
}

apr_status_t mql_shm_update(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                            mql_shm_update_fn *fn, void *baton, mql_hit_result_t *res)
{
    return update_in(s, bucket_of(s, id), id, now, fn, baton, res);
}

apr_status_t mql_shm_update_ref(mql_shm_t *s, const mql_visitor_ref_t *ref, uint32_t now,
                                mql_shm_update_fn *fn, void *baton, mql_hit_result_t *res)
{
    return update_in(s, ref_bucket(s, ref), ref->id, now, fn, baton, res);
}

apr_status_t mql_shm_set_contact(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES],
                                   const char *contact, uint32_t now)
{
    slot_t *v;
    mql_contact_slot_t *c;
    uint64_t dropped;

    lock(s);
    v = lookup_locked(s, id, now);
    if (!v) {
        unlock(s);
        return APR_ENOENT;
    }
    if (!v->contact && !(v->contact = contact_alloc_locked(s, v))) {
        dropped = ++s->h->contacts_dropped;
        unlock(s);
        if (worth_logging(dropped))
            mql_log(MQL_LOG_WARNING, "MQL01004: contact area full: contact not kept "
                    "(%llu so far)", (unsigned long long)dropped);
        return APR_ENOSPC;
    }
    c = &s->contacts[v->contact - 1];
    memset(c->value, 0, sizeof(c->value));
    apr_cpystrn(c->value, contact ? contact : "", sizeof(c->value));
    v->mark |= MARK_URGENT | MARK_DIRTY;
    s->h->dirty_marks++;
    unlock(s);
    return APR_SUCCESS;
}

apr_status_t mql_shm_set_stage(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES],
                                 mql_stage_t stage, uint32_t now)
{
    slot_t *v;
    uint8_t old_stage;

    if ((unsigned)stage >= MQL_STAGE_COUNT)
        return APR_EINVAL;
    lock(s);
    v = lookup_locked(s, id, now);
    if (!v) {
        unlock(s);
        return APR_ENOENT;
    }
    old_stage = v->v.stage;
    if (old_stage != (uint8_t)stage) {
        v->v.stage = (uint8_t)stage;
        v->v.stage_since = now;
        note_stage_change_locked(s, v, old_stage, now);
    }
    unlock(s);
    return APR_SUCCESS;
}

apr_status_t mql_shm_forget(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES])
{
    uint32_t *link;
    uint32_t n;

    lock(s);
    n = find_locked(s, id, &link);
    if (n)
        reclaim_locked(s, n - 1, link);
    unlock(s);
    return n ? APR_SUCCESS : APR_ENOENT;
}


/* ------------------------------------------------------------------ */
/* Table walks                                                         */

uint32_t mql_shm_expire_sweep(mql_shm_t *s, uint32_t now)
{
    uint32_t start, end, i, chunk_n, n = 0;

    if (!s->max_idle)
        return 0;
    for (start = 0; start < s->capacity; start = end) {
        end = (s->capacity - start > CHUNK) ? start + CHUNK : s->capacity;
        chunk_n = 0;
        lock(s);
        for (i = start; i < end; i++) {
            if ((s->slots[i].mark & MARK_USED) && is_expired(s, &s->slots[i], now)) {
                reclaim_locked(s, i, NULL);
                chunk_n++;
            }
        }
        s->h->expired += chunk_n;
        unlock(s);
        n += chunk_n;
    }
    return n;
}

/*
 * Copies of one chunk of slots, taken under the lock and handed to the
 * caller's function after it is released (the function may do I/O).
 * Heap, not stack: about 250 KiB, too much for a worker thread's stack.
 */
typedef struct walk_buf {
    mql_visitor_t v[CHUNK];
    uint8_t mark[CHUNK];           /* the slot's marks when copied */
    uint8_t has_contact[CHUNK];
    uint32_t slot[CHUNK];          /* where each copy came from */
    uint32_t old_flushed[CHUNK];   /* collect_dirty: to undo on stop */
    char contact[CHUNK][MQL_CONTACT_LEN];
} walk_buf_t;

static walk_buf_t *walk_buf_new(const char *what)
{
    walk_buf_t *b = malloc(sizeof(*b));

    if (!b)
        mql_log(MQL_LOG_ERR, "MQL01005: visitor table: out of memory for %s", what);
    return b;
}

/* Copy slot i (under the lock) into entry k of the buffer. */
static void walk_copy_locked(mql_shm_t *s, walk_buf_t *b, unsigned k, uint32_t i)
{
    const slot_t *v = &s->slots[i];
    const char *text = contact_of(s, v);

    b->v[k] = v->v;
    b->mark[k] = v->mark;
    b->has_contact[k] = text != NULL;
    b->slot[k] = i;
    if (text) {
        memcpy(b->contact[k], text, MQL_CONTACT_LEN);
        b->contact[k][MQL_CONTACT_LEN - 1] = '\0';
    }
}

static const char *walk_contact(const walk_buf_t *b, unsigned k)
{
    return b->has_contact[k] ? b->contact[k] : NULL;
}

void mql_shm_iterate(mql_shm_t *s, mql_visit_fn *fn, void *baton)
{
    walk_buf_t *b = walk_buf_new("iteration");
    uint32_t start, end, i;
    unsigned n, k;
    int stop = 0;

    if (!b)
        return;
    for (start = 0; start < s->capacity && !stop; start = end) {
        end = (s->capacity - start > CHUNK) ? start + CHUNK : s->capacity;
        n = 0;
        lock(s);
        for (i = start; i < end; i++)
            if (s->slots[i].mark & MARK_USED)
                walk_copy_locked(s, b, n++, i);
        unlock(s);
        for (k = 0; k < n && !stop; k++)
            stop = fn(&b->v[k], walk_contact(b, k), baton);
    }
    free(b);
}

/* The visitors that hold a contact: a walk of the contact area (a 32nd
 * of the table), for the accounts. */
void mql_shm_iterate_contacts(mql_shm_t *s, mql_visit_fn *fn, void *baton)
{
    walk_buf_t *b = walk_buf_new("iteration");
    uint32_t start, end, i, holder;
    unsigned n, k;
    int stop = 0;

    if (!b)
        return;
    for (start = 0; start < s->ncontacts && !stop; start = end) {
        end = (s->ncontacts - start > CHUNK) ? start + CHUNK : s->ncontacts;
        n = 0;
        lock(s);
        for (i = start; i < end; i++) {
            holder = s->contacts[i].link;
            /* a taken contact names its holder, whose contact names it back */
            if (holder && holder <= s->capacity
                && (s->slots[holder - 1].mark & MARK_USED)
                && s->slots[holder - 1].contact == i + 1)
                walk_copy_locked(s, b, n++, holder - 1);
        }
        unlock(s);
        for (k = 0; k < n && !stop; k++)
            stop = fn(&b->v[k], walk_contact(b, k), baton);
    }
    free(b);
}

/*
 * The records from entry k on were taken as written but never handed over
 * (the function asked to stop): give them their marks back, unless the
 * slot has meanwhile gone to another visitor.
 */
static void collect_undo(mql_shm_t *s, walk_buf_t *b, unsigned k, unsigned n, uint32_t now)
{
    lock(s);
    for (; k < n; k++) {
        slot_t *v = &s->slots[b->slot[k]];
        if (!(v->mark & MARK_USED) || memcmp(v->v.id, b->v[k].id, MQL_ID_BYTES) != 0)
            continue;
        v->mark |= b->mark[k] & (MARK_DIRTY | MARK_URGENT);
        s->h->dirty_marks++;
        if (v->flushed == now)
            v->flushed = b->old_flushed[k];
    }
    unlock(s);
}

/*
 * The slots taken are marked as taken now.  When fn returns non-zero,
 * that record and the rest of its chunk get their marks back: they count
 * as not written.
 */
void mql_shm_collect_dirty(mql_shm_t *s, uint32_t now, uint32_t min_interval,
                             mql_visit_fn *fn, void *baton)
{
    walk_buf_t *b;
    uint32_t start, end, i, left = 0;
    uint64_t marks;
    unsigned n, k;
    int stop = 0;

    /* The writer calls this several times a second: a table with nothing
     * marked since the last walk is not walked (a million slots would
     * mean 100+ MB of memory read and a thousand lock holds each time). */
    lock(s);
    marks = s->h->dirty_marks;
    if (marks == s->h->walked_marks && !s->h->walk_left) {
        unlock(s);
        return;
    }
    unlock(s);
    if (!(b = walk_buf_new("dirty collection")))
        return;
    for (start = 0; start < s->capacity && !stop; start = end) {
        end = (s->capacity - start > CHUNK) ? start + CHUNK : s->capacity;
        n = 0;
        lock(s);
        for (i = start; i < end; i++) {
            slot_t *v = &s->slots[i];
            if (!(v->mark & MARK_USED))
                continue;
            if (!(v->mark & MARK_URGENT)
                && !((v->mark & MARK_DIRTY) && elapsed(now, v->flushed) >= min_interval)) {
                if (v->mark & MARK_DIRTY)
                    left++;         /* not due yet: the next call must walk */
                continue;
            }
            walk_copy_locked(s, b, n, i);
            b->old_flushed[n] = v->flushed;
            v->mark &= (uint8_t)~(MARK_DIRTY | MARK_URGENT);
            v->flushed = now;
            n++;
        }
        unlock(s);
        for (k = 0; k < n; k++) {
            if (fn(&b->v[k], walk_contact(b, k), baton)) {
                collect_undo(s, b, k, n, now);
                stop = 1;
                break;
            }
        }
    }
    if (!stop) {
        lock(s);
        s->h->walked_marks = marks;
        s->h->walk_left = left;
        unlock(s);
    }
    free(b);
}

unsigned mql_shm_changes(mql_shm_t *s, uint64_t *seq, mql_change_t *out, unsigned max,
                           uint64_t *lost)
{
    uint64_t head, oldest, skipped = 0;
    unsigned n, k;

    lock(s);
    head = s->h->change_seq;
    oldest = head > MQL_CHANGES_KEPT ? head - MQL_CHANGES_KEPT : 0;
    if (*seq > head)              /* a sequence from an older table */
        *seq = head;
    if (*seq < oldest) {
        skipped = oldest - *seq;
        *seq = oldest;
    }
    n = (head - *seq < max) ? (unsigned)(head - *seq) : max;
    for (k = 0; k < n; k++)
        out[k] = s->ring[(*seq + k) % MQL_CHANGES_KEPT];
    *seq += n;
    unlock(s);
    if (lost)
        *lost = skipped;
    return n;
}

void mql_shm_stats(mql_shm_t *s, mql_visitors_stats_t *out)
{
    shm_hdr_t *h = s->h;

    memset(out, 0, sizeof(*out));
    lock(s);
    out->capacity = h->capacity;
    out->used = h->used;
    memcpy(out->stages, h->stages, sizeof(out->stages));
    out->contacts_capacity = h->ncontacts;
    out->contacts_used = h->contacts_used;
    memcpy(out->events, h->events, sizeof(out->events));
    out->inserts = h->inserts;
    out->evictions = h->evictions;
    out->lead_evictions = h->lead_evictions;
    out->expired = h->expired;
    out->full = h->full;
    out->contacts_dropped = h->contacts_dropped;
    out->change_seq = h->change_seq;
    out->created = h->created;
    out->restored = h->restored;
    out->repairs = h->repairs;
    unlock(s);
}

/* ------------------------------------------------------------------ */
/* Snapshot restore support                                            */

/* Give v the contact text, reusing its contact slot. 0 when the area is full. */
static int put_contact_locked(mql_shm_t *s, slot_t *v, const char *contact)
{
    mql_contact_slot_t *c;

    if (!v->contact && !(v->contact = contact_alloc_locked(s, v))) {
        s->h->contacts_dropped++;
        return 0;
    }
    c = &s->contacts[v->contact - 1];
    memset(c->value, 0, sizeof(c->value));
    apr_cpystrn(c->value, contact, sizeof(c->value));
    return 1;
}

/* A copy of rec in a new slot of bucket b; NULL when the table is full. */
static slot_t *insert_copy_locked(mql_shm_t *s, uint32_t b, const mql_visitor_t *rec,
                                  uint32_t now, int may_evict)
{
    slot_t *v = alloc_slot_locked(s, b, now, may_evict);

    if (v) {
        v->v = *rec;
        v->mark = MARK_USED;
        link_locked(s, b, v);
    }
    return v;
}

/* A visitor put back: a lead's file may not have its latest figures. */
static void note_put_back_locked(mql_shm_t *s, slot_t *v)
{
    if (MQL_STAGE_IS_LEAD(v->v.stage)) {
        v->mark |= MARK_DIRTY;
        s->h->dirty_marks++;
    }
    s->h->restored++;
}

apr_status_t mql_shm_put_record(mql_shm_t *s, const mql_visitor_t *rec,
                                const char *contact, int may_evict, int *contact_dropped)
{
    slot_t *v;
    uint32_t bucket;
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());

    if (contact_dropped)
        *contact_dropped = 0;
    if (rec->stage >= MQL_STAGE_COUNT)
        return APR_EINVAL;
    bucket = bucket_of(s, rec->id);
    lock(s);
    v = lookup_locked_in(s, bucket, rec->id, now);
    if (v) {
        /* Seen twice (a walk may meet a visitor that moved): newest wins. */
        if (v->v.last_seen > rec->last_seen) {
            unlock(s);
            return APR_EEXIST;
        }
        s->h->stages[v->v.stage]--;
        v->v = *rec;
        s->h->stages[v->v.stage]++;
    }
    else if (!(v = insert_copy_locked(s, bucket, rec, now, may_evict))) {
        unlock(s);
        return APR_ENOSPC;
    }
    if (contact && !put_contact_locked(s, v, contact) && contact_dropped)
        *contact_dropped = 1;
    note_put_back_locked(s, v);
    unlock(s);
    return APR_SUCCESS;
}

void mql_shm_published(mql_shm_t *s, uint32_t taken_before)
{
    lock(s);
    if (taken_before > s->h->published_before)
        s->h->published_before = taken_before;
    unlock(s);
}

apr_status_t mql_shm_restore(mql_shm_t *s, const mql_visitor_t *rec, const char *contact,
                             uint32_t half_life, uint32_t now)
{
    uint32_t bucket;
    slot_t *v;
    uint8_t old_stage;

    if (rec->stage >= MQL_STAGE_COUNT)
        return APR_EINVAL;
    bucket = bucket_of(s, rec->id);
    lock(s);
    v = lookup_locked_in(s, bucket, rec->id, now);
    if (!v) {
        if (!(v = insert_copy_locked(s, bucket, rec, now, 1))) {
            unlock(s);
            return APR_ENOSPC;
        }
    }
    else {
        old_stage = v->v.stage;
        if (!mql_visitor_merge(&v->v, rec, half_life)) {
            unlock(s);
            return APR_EEXIST;
        }
        memcpy(v->v.id, rec->id, MQL_ID_BYTES);
        s->h->stages[old_stage]--;
        s->h->stages[v->v.stage]++;
    }
    /* the return's own contact is the newer one */
    if (contact && *contact && !v->contact)
        put_contact_locked(s, v, contact);
    note_put_back_locked(s, v);
    unlock(s);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Consistency check                                                   */

typedef struct bitmap {
    uint8_t *bits;
} bitmap_t;

static int bit_test_set(bitmap_t *m, uint32_t i)
{
    int was = (m->bits[i >> 3] >> (i & 7)) & 1;

    m->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    return was;
}

static const char *validate_header(mql_shm_t *s, apr_pool_t *p)
{
    shm_hdr_t *h = s->h;

    if (memcmp(h->magic, STORE_MAGIC, sizeof(h->magic)) != 0)
        return "bad magic";
    if (h->hand >= s->capacity)
        return apr_psprintf(p, "clock hand %u beyond capacity %u", h->hand, s->capacity);
    if (h->used > s->capacity)
        return apr_psprintf(p, "used %u > capacity %u", h->used, s->capacity);
    if (h->free_head > s->capacity)
        return apr_psprintf(p, "free head %u out of range", h->free_head);
    if (h->contact_free > h->ncontacts)
        return apr_psprintf(p, "contact free head %u out of range", h->contact_free);
    return NULL;
}

/* Every chain: in range, used slots only, right bucket, each slot once. */
static const char *validate_chains(mql_shm_t *s, apr_pool_t *p, bitmap_t *seen,
                                   uint32_t *chained)
{
    uint32_t b, n, steps;

    *chained = 0;
    for (b = 0; b < s->nbuckets; b++) {
        for (n = s->buckets[b], steps = 0; n; n = s->slots[n - 1].next) {
            const slot_t *v;
            if (n > s->capacity)
                return apr_psprintf(p, "bucket %u: link %u out of range", b, n);
            v = &s->slots[n - 1];
            if (!(v->mark & MARK_USED))
                return apr_psprintf(p, "bucket %u: slot %u in chain but not used", b, n - 1);
            if (bucket_of(s, v->v.id) != b)
                return apr_psprintf(p, "slot %u in bucket %u, hashes to %u",
                                    n - 1, b, bucket_of(s, v->v.id));
            if (n == b + 1 && steps > 0)
                return apr_psprintf(p, "slot %u is at home but not first in its chain", b);
            if (bit_test_set(seen, n - 1))
                return apr_psprintf(p, "slot %u reached twice (cycle or shared chain)", n - 1);
            if (++steps > s->capacity)
                return apr_psprintf(p, "bucket %u: chain longer than the table", b);
            (*chained)++;
        }
    }
    return NULL;
}

static const char *validate_free_list(mql_shm_t *s, apr_pool_t *p, bitmap_t *seen,
                                      uint32_t *nfree)
{
    uint32_t n, prev = 0;

    *nfree = 0;
    for (n = s->h->free_head; n; prev = n, n = s->slots[n - 1].next) {
        if (n > s->capacity)
            return apr_psprintf(p, "free list: link %u out of range", n);
        if (s->slots[n - 1].mark & MARK_USED)
            return apr_psprintf(p, "free list: slot %u is used", n - 1);
        if (s->slots[n - 1].contact != prev)
            return apr_psprintf(p, "free list: slot %u links back to %u, not %u",
                                n - 1, s->slots[n - 1].contact, prev);
        if (bit_test_set(seen, n - 1))
            return apr_psprintf(p, "free list: slot %u reached twice", n - 1);
        (*nfree)++;
    }
    return NULL;
}

/* Per-slot figures: used count, stage counts, contact references. */
static const char *validate_slots(mql_shm_t *s, apr_pool_t *p, bitmap_t *contacts_seen)
{
    uint32_t i, used = 0, stages[MQL_STAGE_COUNT] = { 0 }, refs = 0, nfree = 0, n;
    int st;

    for (i = 0; i < s->capacity; i++) {
        const slot_t *v = &s->slots[i];
        if (!(v->mark & MARK_USED))
            continue;
        used++;
        if (v->v.stage >= MQL_STAGE_COUNT)
            return apr_psprintf(p, "slot %u: stage %u out of range", i, v->v.stage);
        stages[v->v.stage]++;
        if (!v->contact)
            continue;
        if (v->contact > s->h->ncontacts)
            return apr_psprintf(p, "slot %u: contact %u out of range", i, v->contact);
        if (bit_test_set(contacts_seen, v->contact - 1))
            return apr_psprintf(p, "contact %u referenced twice", v->contact - 1);
        if (!memchr(s->contacts[v->contact - 1].value, '\0', MQL_CONTACT_LEN))
            return apr_psprintf(p, "contact %u not terminated", v->contact - 1);
        if (s->contacts[v->contact - 1].link != i + 1)
            return apr_psprintf(p, "contact %u names slot %u as its holder, not %u",
                                v->contact - 1, s->contacts[v->contact - 1].link, i + 1);
        refs++;
    }
    if (used != s->h->used)
        return apr_psprintf(p, "%u slots used, header says %u", used, s->h->used);
    for (st = 0; st < MQL_STAGE_COUNT; st++)
        if (stages[st] != s->h->stages[st])
            return apr_psprintf(p, "stage %s: %u visitors, header says %u",
                                mql_stage_name((mql_stage_t)st), stages[st], s->h->stages[st]);
    if (refs != s->h->contacts_used)
        return apr_psprintf(p, "%u contacts referenced, header says %u",
                            refs, s->h->contacts_used);
    for (n = s->h->contact_free; n; n = s->contacts[n - 1].link) {
        if (n > s->h->ncontacts)
            return apr_psprintf(p, "contact free list: link %u out of range", n);
        if (bit_test_set(contacts_seen, n - 1))
            return apr_psprintf(p, "contact %u both free and in use (or free twice)", n - 1);
        nfree++;
    }
    if (nfree + refs != s->h->ncontacts)
        return apr_psprintf(p, "contacts: %u free + %u used != %u",
                            nfree, refs, s->h->ncontacts);
    return NULL;
}

const char *mql_shm_validate(mql_shm_t *s, apr_pool_t *p)
{
    bitmap_t seen, contacts_seen;
    uint32_t chained = 0, nfree = 0;
    const char *err;

    seen.bits = apr_pcalloc(p, s->capacity / 8 + 1);
    contacts_seen.bits = apr_pcalloc(p, s->h->ncontacts / 8 + 1);
    lock(s);
    err = validate_header(s, p);
    if (!err)
        err = validate_chains(s, p, &seen, &chained);
    if (!err && chained != s->h->used)
        err = apr_psprintf(p, "%u visitors in chains, header says %u used",
                           chained, s->h->used);
    if (!err)
        err = validate_free_list(s, p, &seen, &nfree);
    if (!err && nfree + chained != s->capacity)
        err = apr_psprintf(p, "%u free + %u used != capacity %u",
                           nfree, chained, s->capacity);
    if (!err)
        err = validate_slots(s, p, &contacts_seen);
    unlock(s);
    return err;
}

unsigned mql_shm_marks(mql_shm_t *s, const uint8_t id[MQL_ID_BYTES], uint32_t *flushed)
{
    uint32_t *link, n;
    unsigned marks = 0;

    lock(s);
    if ((n = find_locked(s, id, &link)) != 0) {
        marks = s->slots[n - 1].mark;
        if (flushed)
            *flushed = s->slots[n - 1].flushed;
    }
    unlock(s);
    return marks;
}

/* ------------------------------------------------------------------ */
/* The store interface (mql_visitors.h)                                */

typedef struct hit_baton {
    mql_shm_t *s;
    const mql_delta_t *d;
    uint32_t now;
    double points;              /* out: the score's change */
} hit_baton_t;

/* Under the lock: the hit, and its events in the table's totals (on the
 * header's first line, which the update writes anyway). */
static int apply_hit_locked(mql_visitor_t *v, int is_new, void *baton)
{
    hit_baton_t *b = baton;
    unsigned m = b->d->events & (MQL_EV_BIT(MQL_EV_COUNT) - 1);
    double before = mql_current_score(v, b->now, b->d->half_life);
    int rc;

    for (; m; m &= m - 1)
        b->s->h->events[__builtin_ctz(m)]++;
    rc = mql_delta_apply(v, b->d, b->now);
    /* the journal shows each request's points, caps and fit included */
    b->points = v->score - before;
    return rc;
}

static void vs_ref(void *be, const uint8_t id[MQL_ID_BYTES], mql_visitor_ref_t *ref)
{
    mql_shm_ref(be, id, ref);
}

static void vs_prefetch(void *be, const mql_visitor_ref_t *ref)
{
    mql_shm_prefetch(be, ref);
}

static int vs_get(void *be, const mql_visitor_ref_t *ref, uint32_t now, mql_visitor_t *out,
                  char *contact)
{
    mql_shm_t *s = be;

    return get_in(s, ref_bucket(s, ref), ref->id, now, out, contact);
}

static apr_status_t vs_hit(void *be, const mql_visitor_ref_t *ref, const mql_delta_t *d,
                           uint32_t now, mql_hit_result_t *res)
{
    hit_baton_t b = { be, d, now, 0 };
    apr_status_t rv = mql_shm_update_ref(be, ref, now, apply_hit_locked, &b, res);

    if (res)
        res->points = b.points;
    return rv;
}

static apr_status_t vs_set_contact(void *be, const uint8_t id[MQL_ID_BYTES],
                                   const char *contact, uint32_t now)
{
    return mql_shm_set_contact(be, id, contact, now);
}

static apr_status_t vs_set_stage(void *be, const uint8_t id[MQL_ID_BYTES], mql_stage_t stage,
                                 uint32_t now)
{
    return mql_shm_set_stage(be, id, stage, now);
}

static apr_status_t vs_forget(void *be, const uint8_t id[MQL_ID_BYTES])
{
    return mql_shm_forget(be, id);
}

typedef struct leads_only {
    mql_visit_fn *fn;
    void *baton;
} leads_only_t;

static int lead_filter(const mql_visitor_t *v, const char *contact, void *baton)
{
    leads_only_t *l = baton;

    return MQL_STAGE_IS_LEAD(v->stage) ? l->fn(v, contact, l->baton) : 0;
}

static void vs_walk(void *be, int which, mql_visit_fn *fn, void *baton)
{
    leads_only_t l = { fn, baton };

    if (which == MQL_WALK_LEADS)
        mql_shm_iterate(be, lead_filter, &l);
    else if (which == MQL_WALK_CONTACTS)
        mql_shm_iterate_contacts(be, fn, baton);
    else
        mql_shm_iterate(be, fn, baton);
}

static void vs_lead_changes(void *be, uint32_t now, uint32_t min_interval, mql_visit_fn *fn,
                            void *baton)
{
    mql_shm_collect_dirty(be, now, min_interval, fn, baton);
}

static unsigned vs_stage_changes(void *be, uint64_t *seq, mql_change_t *out, unsigned max,
                                 uint64_t *lost)
{
    return mql_shm_changes(be, seq, out, max, lost);
}

static void vs_stats(void *be, mql_visitors_stats_t *out)
{
    mql_shm_stats(be, out);
}

static uint32_t vs_capacity(void *be)
{
    return mql_shm_capacity(be);
}

static uint32_t vs_expire(void *be, uint32_t now)
{
    return mql_shm_expire_sweep(be, now);
}

static apr_status_t vs_put(void *be, const mql_visitor_t *v, const char *contact, int may_evict)
{
    return mql_shm_put_record(be, v, contact, may_evict, NULL);
}

static apr_status_t vs_restore(void *be, const mql_visitor_t *v, const char *contact,
                               uint32_t half_life, uint32_t now)
{
    return mql_shm_restore(be, v, contact, half_life, now);
}

static void vs_published(void *be, uint32_t taken_before)
{
    mql_shm_published(be, taken_before);
}

static const char *vs_validate(void *be, apr_pool_t *p)
{
    return mql_shm_validate(be, p);
}

static const mql_visitors_ops_t shm_ops = {
    .name = "shm",
    .ref = vs_ref,
    .prefetch = vs_prefetch,
    .get = vs_get,
    .hit = vs_hit,
    .set_contact = vs_set_contact,
    .set_stage = vs_set_stage,
    .forget = vs_forget,
    .walk = vs_walk,
    .lead_changes = vs_lead_changes,
    .stage_changes = vs_stage_changes,
    .stats = vs_stats,
    .capacity = vs_capacity,
    .expire = vs_expire,
    .put = vs_put,
    .restore = vs_restore,
    .published = vs_published,
    .validate = vs_validate,
};

mql_visitors_t *mql_shm_visitors(apr_pool_t *p, mql_shm_t *s)
{
    return mql_visitors_make(p, &shm_ops, s);
}
