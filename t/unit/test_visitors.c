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
 * The visitor store interface (mql_visitors.h): one conformance suite,
 * run against every backend -- the shared-memory table (mql_shm.c), the
 * Redis store over it (mql_redis_store.c, without Redis) and a
 * small in-process store written here, which is also what it takes to
 * add a backend: fill in mql_visitors_ops_t, and the provider table that
 * MQLStore finds a store by (mql_store.h): the in-process store is also
 * run as a provider, made from its MQLStore argument.  Snapshots and copies go
 * from each backend to the other, and a snapshot written by mod_mql 1.0
 * (t/unit/data/snapshot-v1.bin) restores into both.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_hash.h>

#include "tap.h"
#include "mql_visitors.h"
#include "mql_shm.h"
#include "mql_log.h"
#include "mql_redis_store.h"
#include "mql_store.h"

static apr_pool_t *pool;
static char dir[256];

#define NOW     1764000000u
#define EXPIRE  3600u

/* ------------------------------------------------------------------ */
/* A backend in a page: records in an array, found by a linear search. */

typedef struct mem_rec {
    int used, dirty, urgent;
    uint32_t flushed;
    mql_visitor_t v;
    char contact[MQL_CONTACT_LEN];
} mem_rec_t;

typedef struct mem_store {
    mem_rec_t *recs;
    uint32_t cap;
    mql_change_t ring[MQL_CHANGES_KEPT];
    mql_visitors_stats_t st;
    uint32_t published_before;
} mem_store_t;

static mem_rec_t *mem_find(mem_store_t *m, const uint8_t id[MQL_ID_BYTES], uint32_t now)
{
    uint32_t i;

    for (i = 0; i < m->cap; i++) {
        mem_rec_t *r = &m->recs[i];
        if (!r->used || memcmp(r->v.id, id, MQL_ID_BYTES))
            continue;
        if (now - r->v.last_seen > EXPIRE && now > r->v.last_seen
            && !(MQL_STAGE_IS_LEAD(r->v.stage) && (r->dirty || r->urgent)))
            return NULL;
        return r;
    }
    return NULL;
}

static void mem_drop(mem_store_t *m, mem_rec_t *r)
{
    m->st.used--;
    m->st.stages[r->v.stage]--;
    if (r->contact[0])
        m->st.contacts_used--;
    memset(r, 0, sizeof *r);
}

static int mem_published(const mem_store_t *m, const mem_rec_t *r)
{
    return MQL_STAGE_IS_LEAD(r->v.stage) && !r->dirty && !r->urgent && r->flushed
           && r->flushed < m->published_before;
}

/* A free record, or the plain visitor seen longest ago; a published lead
 * (the longest idle) only while plain visitors are fewer than a sixteenth
 * of the store; NULL when nothing may go. */
static mem_rec_t *mem_alloc(mem_store_t *m, int may_evict)
{
    mem_rec_t *victim = NULL, *lead = NULL;
    uint32_t i, floor = m->cap / 16 ? m->cap / 16 : 1;

    for (i = 0; i < m->cap; i++) {
        mem_rec_t *r = &m->recs[i];
        if (!r->used)
            return r;
        if (!MQL_STAGE_IS_LEAD(r->v.stage)
            && (!victim || r->v.last_seen < victim->v.last_seen))
            victim = r;
        if (mem_published(m, r) && (!lead || r->v.last_seen < lead->v.last_seen))
            lead = r;
    }
    if (lead && m->st.stages[MQL_STAGE_VISITOR] < floor) {
        victim = lead;
        m->st.lead_evictions++;
    }
    if (!victim || !may_evict)
        return NULL;
    mem_drop(m, victim);
    m->st.evictions++;
    return victim;
}

static void mem_note_change(mem_store_t *m, mem_rec_t *r, uint8_t old, uint32_t now)
{
    mql_change_t *c = &m->ring[m->st.change_seq % MQL_CHANGES_KEPT];

    m->st.stages[old]--;
    m->st.stages[r->v.stage]++;
    memcpy(c->id, r->v.id, MQL_ID_BYTES);
    c->time = now;
    c->old_stage = old;
    c->new_stage = r->v.stage;
    c->trigger_event = r->v.trigger_event;
    c->reserved = 0;
    c->score = r->v.score;
    m->st.change_seq++;
    r->urgent = r->dirty = 1;
}

static int mem_get(void *be, const mql_visitor_ref_t *ref, uint32_t now, mql_visitor_t *out,
                   char *contact)
{
    mem_rec_t *r = mem_find(be, ref->id, now);

    if (!r)
        return 0;
    if (out)
        *out = r->v;
    if (contact)
        memcpy(contact, r->contact, MQL_CONTACT_LEN);
    return 1;
}

static apr_status_t mem_hit(void *be, const mql_visitor_ref_t *ref, const mql_delta_t *d,
                            uint32_t now, mql_hit_result_t *res)
{
    mem_store_t *m = be;
    mem_rec_t *r = mem_find(m, ref->id, now);
    int is_new = !r, ev;
    uint8_t old;

    if (!r) {
        if (!(r = mem_alloc(m, 1))) {
            m->st.full++;
            return APR_ENOSPC;
        }
        r->used = 1;
        memcpy(r->v.id, ref->id, MQL_ID_BYTES);
        r->v.first_seen = r->v.last_seen = r->v.stage_since = now;
        m->st.used++;
        m->st.stages[0]++;
        m->st.inserts++;
    }
    old = r->v.stage;
    if (mql_delta_apply(&r->v, d, now) == MQL_UPD_DIRTY)
        r->dirty = 1;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        if (d->events & MQL_EV_BIT(ev))
            m->st.events[ev]++;
    if (r->v.stage != old)
        mem_note_change(m, r, old, now);
    if (res) {
        res->found = !is_new;
        res->stage_changed = r->v.stage != old;
        res->old_stage = old;
        res->after = r->v;
    }
    return APR_SUCCESS;
}

static apr_status_t mem_set_contact(void *be, const uint8_t id[MQL_ID_BYTES],
                                    const char *contact, uint32_t now)
{
    mem_store_t *m = be;
    mem_rec_t *r = mem_find(m, id, now);

    if (!r)
        return APR_ENOENT;
    if (!r->contact[0])
        m->st.contacts_used++;
    apr_cpystrn(r->contact, contact ? contact : "", sizeof r->contact);
    r->urgent = r->dirty = 1;
    return APR_SUCCESS;
}

static apr_status_t mem_set_stage(void *be, const uint8_t id[MQL_ID_BYTES],
                                  mql_stage_t stage, uint32_t now)
{
    mem_store_t *m = be;
    mem_rec_t *r;
    uint8_t old;

    if ((unsigned)stage >= MQL_STAGE_COUNT)
        return APR_EINVAL;
    if (!(r = mem_find(m, id, now)))
        return APR_ENOENT;
    old = r->v.stage;
    if (old != stage) {
        r->v.stage = (uint8_t)stage;
        r->v.stage_since = now;
        mem_note_change(m, r, old, now);
    }
    return APR_SUCCESS;
}

static apr_status_t mem_forget(void *be, const uint8_t id[MQL_ID_BYTES])
{
    mem_store_t *m = be;
    uint32_t i;

    for (i = 0; i < m->cap; i++)
        if (m->recs[i].used && !memcmp(m->recs[i].v.id, id, MQL_ID_BYTES)) {
            mem_drop(m, &m->recs[i]);
            return APR_SUCCESS;
        }
    return APR_ENOENT;
}

static void mem_walk(void *be, int which, mql_visit_fn *fn, void *baton)
{
    mem_store_t *m = be;
    uint32_t i;

    for (i = 0; i < m->cap; i++) {
        mem_rec_t *r = &m->recs[i];
        if (r->used && (which == MQL_WALK_ALL || (which == MQL_WALK_CONTACTS && r->contact[0])
                        || (which == MQL_WALK_LEADS && MQL_STAGE_IS_LEAD(r->v.stage)))
            && fn(&r->v, r->contact[0] ? r->contact : NULL, baton))
            return;
    }
}

static void mem_lead_changes(void *be, uint32_t now, uint32_t min_interval, mql_visit_fn *fn,
                             void *baton)
{
    mem_store_t *m = be;
    uint32_t i;

    for (i = 0; i < m->cap; i++) {
        mem_rec_t *r = &m->recs[i];
        if (!r->used || !(r->urgent || r->dirty))
            continue;
        r->urgent = r->dirty = 0;
        r->flushed = now;
        if (fn(&r->v, r->contact[0] ? r->contact : NULL, baton)) {
            r->dirty = 1;
            return;
        }
    }
}

static unsigned mem_stage_changes(void *be, uint64_t *seq, mql_change_t *out, unsigned max,
                                  uint64_t *lost)
{
    mem_store_t *m = be;
    uint64_t head = m->st.change_seq, oldest = head > MQL_CHANGES_KEPT
                                                    ? head - MQL_CHANGES_KEPT : 0;
    unsigned n = 0;

    if (lost)
        *lost = *seq < oldest ? oldest - *seq : 0;
    if (*seq < oldest)
        *seq = oldest;
    for (; *seq < head && n < max; (*seq)++)
        out[n++] = m->ring[*seq % MQL_CHANGES_KEPT];
    return n;
}

static void mem_stats(void *be, mql_visitors_stats_t *out)
{
    *out = ((mem_store_t *)be)->st;
}

static uint32_t mem_capacity(void *be)
{
    return ((mem_store_t *)be)->cap;
}

static uint32_t mem_expire(void *be, uint32_t now)
{
    mem_store_t *m = be;
    uint32_t i, n = 0;

    for (i = 0; i < m->cap; i++)
        if (m->recs[i].used && !mem_find(m, m->recs[i].v.id, now)) {
            mem_drop(m, &m->recs[i]);
            n++;
        }
    m->st.expired += n;
    return n;
}

static apr_status_t mem_put(void *be, const mql_visitor_t *v, const char *contact,
                            int may_evict)
{
    mem_store_t *m = be;
    mem_rec_t *r = mem_find(m, v->id, v->last_seen);

    if (v->stage >= MQL_STAGE_COUNT)
        return APR_EINVAL;
    if (r && r->v.last_seen > v->last_seen)
        return APR_EEXIST;
    if (r)
        mem_drop(m, r);
    else if (!(r = mem_alloc(m, may_evict)))
        return APR_ENOSPC;
    r->used = 1;
    r->v = *v;
    r->dirty = MQL_STAGE_IS_LEAD(v->stage);
    if (contact) {
        apr_cpystrn(r->contact, contact, sizeof r->contact);
        m->st.contacts_used++;
    }
    m->st.used++;
    m->st.stages[v->stage]++;
    m->st.restored++;
    return APR_SUCCESS;
}

static apr_status_t mem_restore(void *be, const mql_visitor_t *v, const char *contact,
                                uint32_t half_life, uint32_t now)
{
    mem_store_t *m = be;
    mem_rec_t *r = mem_find(m, v->id, now);
    uint8_t old;

    if (!r)
        return mem_put(be, v, contact, 1);
    old = r->v.stage;
    if (!mql_visitor_merge(&r->v, v, half_life))
        return APR_EEXIST;
    m->st.stages[old]--;
    m->st.stages[r->v.stage]++;
    if (contact && !r->contact[0]) {
        apr_cpystrn(r->contact, contact, sizeof r->contact);
        m->st.contacts_used++;
    }
    r->dirty = MQL_STAGE_IS_LEAD(r->v.stage);
    m->st.restored++;
    return APR_SUCCESS;
}

static void mem_published_before(void *be, uint32_t taken_before)
{
    ((mem_store_t *)be)->published_before = taken_before;
}

static const mql_visitors_ops_t mem_ops = {
    .name = "mem",
    .get = mem_get,
    .hit = mem_hit,
    .set_contact = mem_set_contact,
    .set_stage = mem_set_stage,
    .forget = mem_forget,
    .walk = mem_walk,
    .lead_changes = mem_lead_changes,
    .stage_changes = mem_stage_changes,
    .stats = mem_stats,
    .capacity = mem_capacity,
    .expire = mem_expire,
    .put = mem_put,
    .restore = mem_restore,
    .published = mem_published_before,
};

/* ------------------------------------------------------------------ */
/* Making a store of each kind                                         */

typedef mql_visitors_t *maker_fn(uint32_t capacity);

static mql_visitors_t *make_mem(uint32_t capacity)
{
    mem_store_t *m = apr_pcalloc(pool, sizeof *m);

    m->recs = apr_pcalloc(pool, capacity * sizeof *m->recs);
    m->cap = capacity;
    m->st.capacity = capacity;
    return mql_visitors_make(pool, &mem_ops, m);
}

static mql_visitors_t *make_shm(uint32_t capacity)
{
    static const uint8_t key[MQL_KEY_BYTES] = "conformance key";
    void *base = apr_palloc(pool, mql_shm_size(capacity));
    mql_shm_t *s;

    mql_shm_format(base, capacity, key);
    s = mql_shm_attach(pool, base, capacity, NULL, NULL, NULL);
    mql_shm_set_expire(s, EXPIRE);
    return mql_shm_visitors(pool, s);
}

/* MQLStore redis:// without Redis: the shared-memory table as its cache
 * and a queue in the page; the fleet's feeds come from Redis (t/redis.t). */
static mql_visitors_t *make_redis(uint32_t capacity)
{
    void *base = apr_palloc(pool, mql_rq_size(256));

    mql_rq_format(base, 256, 42);
    return mql_redis_store_make(pool, make_shm(capacity),
                                mql_rq_attach(pool, base, 256, NULL, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* The in-process store as a provider                                  */

/*
 * httpd's provider registry (ap_register_provider, ap_lookup_provider)
 * lives in the httpd binary, which a unit test does not link: this is
 * its contract, a table by group, name and version.  The store below is
 * registered the way mod_mql_store_shm.c registers the shm store.
 */
static apr_hash_t *registry;

static void register_provider(const char *group, const char *name, const char *version,
                              const void *provider)
{
    if (!registry)
        registry = apr_hash_make(pool);
    apr_hash_set(registry, apr_pstrcat(pool, group, "/", name, "/", version, NULL),
                 APR_HASH_KEY_STRING, provider);
}

static const void *lookup_provider(const char *group, const char *name, const char *version)
{
    return registry ? apr_hash_get(registry, apr_pstrcat(pool, group, "/", name, "/", version,
                                                         NULL), APR_HASH_KEY_STRING)
                    : NULL;
}

/* MQLStore mem:CAPACITY */
typedef struct mem_inst {
    uint32_t capacity;
} mem_inst_t;

static const char *mem_create(void **inst, const char *arg, apr_pool_t *tmp, apr_pool_t *p)
{
    mem_inst_t *mi;
    char *end;
    unsigned long n;

    if (strncmp(arg, "mem:", 4) || (n = strtoul(arg + 4, &end, 10)) < 1 || *end
        || n > 1000000)
        return apr_psprintf(tmp, "expects mem:CAPACITY; got '%s'", arg);
    mi = apr_pcalloc(p, sizeof *mi);
    mi->capacity = (uint32_t)n;
    *inst = mi;
    return NULL;
}

static apr_status_t mem_init(void *inst, mql_visitors_t **vs, struct server_rec *s,
                             apr_pool_t *pconf, apr_pool_t *ptemp)
{
    *vs = make_mem(((mem_inst_t *)inst)->capacity);
    return APR_SUCCESS;
}

static const mql_store_provider_t mem_provider = {
    .usage = "mem:CAPACITY",
    .create = mem_create,
    .init = mem_init,
};

/* What MQLStore and the start do with an argument (mod_mql_store.c). */
static const char *open_store(const char *arg, mql_visitors_t **vs)
{
    const mql_store_provider_t *prov = NULL;
    char name[32];
    const char *err;
    void *inst = NULL;

    if (mql_store_name_of(arg, name, sizeof name))
        prov = lookup_provider(MQL_STORE_PROVIDER_GROUP, name, MQL_STORE_PROVIDER_VERSION);
    if (!prov)
        return "unknown store";
    if ((err = prov->create(&inst, arg, pool, pool)))
        return err;
    return prov->init(inst, vs, NULL, pool, pool) == APR_SUCCESS ? NULL : "init failed";
}

static mql_visitors_t *make_mem_provider(uint32_t capacity)
{
    mql_visitors_t *vs = NULL;

    register_provider(MQL_STORE_PROVIDER_GROUP, "mem", MQL_STORE_PROVIDER_VERSION,
                      &mem_provider);
    return open_store(apr_psprintf(pool, "mem:%u", capacity), &vs) ? NULL : vs;
}

static void provider_shape(void)
{
    static const mql_store_provider_t shm_like = { .usage = "shm" };
    static const mql_store_provider_t redis_like = { .usage = "redis://HOST:PORT" };
    const char *names[] = { "redis", "mem", "shm", "redis2" };
    const mql_store_provider_t *provs[] = { &redis_like, &mem_provider, &shm_like,
                                            &redis_like };
    mql_visitors_t *vs = NULL;
    char buf[8];

    register_provider(MQL_STORE_PROVIDER_GROUP, "mem", MQL_STORE_PROVIDER_VERSION,
                      &mem_provider);
    is_str(mql_store_name_of("mem:64", buf, sizeof buf), "mem",
           "a store's name: its leading letters");
    is_str(mql_store_name_of("Redis+unix:///x", buf, sizeof buf), "redis",
           "... lowercased, up to the scheme's variant");
    ok(!mql_store_name_of("://x", buf, sizeof buf), "no name: no store");
    ok(!mql_store_name_of("averyverylongname", buf, sizeof buf), "a name too long: no store");
    is_str(open_store("memcached://h:1", &vs), "unknown store", "an unknown store is refused");
    is_str(open_store("mem:none", &vs), "expects mem:CAPACITY; got 'mem:none'",
           "the provider parses its own argument");
    ok(!open_store("mem:100", &vs) && vs && mql_visitors_capacity(vs) == 100,
       "MQLStore mem:100: a store of 100 visitors");
    is_str(mql_store_usages(pool, names, provs, 4), "shm, mem:CAPACITY, redis://HOST:PORT",
           "what MQLStore expects: the default first, then by name, each provider once");
}

static void id_n(uint32_t n, uint8_t id[MQL_ID_BYTES]);

/* What a store hears from the other servers reaches the writer through
 * the store's table, whichever store it is. */
static void foreign_changes(void)
{
    void *base = apr_palloc(pool, mql_rq_size(256));
    mql_rq_t *q;
    mql_visitors_t *vs;
    mql_change_t c;
    uint64_t seq = 0;
    uint8_t id[MQL_ID_BYTES], ids[4][MQL_ID_BYTES];
    char stream[MQL_SOURCE_LEN], entry[MQL_SOURCE_LEN];

    mql_rq_format(base, 256, 42);
    q = mql_rq_attach(pool, base, 256, NULL, NULL, NULL);
    vs = mql_redis_store_make(pool, make_shm(64), q);
    memset(&c, 0, sizeof c);
    c.new_stage = MQL_STAGE_MQL;
    mql_rq_push_change(q, &c, 5, "1700000000000-7");
    ok(mql_visitors_stage_changes(vs, &seq, &c, 1, NULL) == 1, "redis: the fleet's change");
    ok(mql_visitors_change_source(vs, seq - 1, stream, entry), "... with its source");
    is_str(entry, "1700000000000-7", "... its stream entry");
    ok(strstr(stream, "{mql5}") != NULL, "... in its shard's stream (%s)", stream);
    id_n(9, id);
    mql_rq_push_forget(q, id);
    ok(mql_visitors_foreign_forgets(vs, ids, 4) == 1 && !memcmp(ids[0], id, MQL_ID_BYTES),
       "redis: a visitor forgotten on another server");
    ok(mql_visitors_foreign_forgets(vs, ids, 4) == 0, "... once");
    vs = make_shm(64);
    ok(!mql_visitors_change_source(vs, 1, stream, entry)
       && mql_visitors_foreign_forgets(vs, ids, 4) == 0, "shm: hears from nobody");
}

static const struct backend {
    const char *name;
    maker_fn *make;
} backends[] = { { "shm", make_shm }, { "mem", make_mem }, { "redis", make_redis },
                 { "mem provider", make_mem_provider } };

#define NBACKENDS (int)(sizeof backends / sizeof backends[0])

/* ------------------------------------------------------------------ */
/* The suite                                                           */

static void id_n(uint32_t n, uint8_t id[MQL_ID_BYTES])
{
    int k;

    for (k = 0; k < MQL_ID_BYTES; k++)
        id[k] = (uint8_t)(n * 131 + k * 7 + 1);
    memcpy(id, &n, sizeof n);
}

static mql_scoring_t scoring(void)
{
    mql_scoring_t sc;

    mql_scoring_defaults(&sc);
    sc.half_life = 0;
    sc.threshold = 30;
    return sc;
}

static mql_hit_t hit_of(unsigned events, const char *path)
{
    mql_hit_t h;

    memset(&h, 0, sizeof h);
    h.events = events;
    h.path = path;
    h.site = 1;
    return h;
}

static apr_status_t hit(mql_visitors_t *vs, uint32_t n, unsigned events, uint32_t now,
                        mql_hit_result_t *res)
{
    mql_scoring_t sc = scoring();
    mql_hit_t h = hit_of(events, "/whitepapers/guide.pdf");
    mql_visitor_ref_t ref;
    mql_delta_t d;
    uint8_t id[MQL_ID_BYTES];

    id_n(n, id);
    mql_visitors_ref(vs, id, &ref);
    mql_score_resolve(&sc, &h, &d);
    return mql_visitors_hit(vs, &ref, &d, now, res);
}

static int count_fn(const mql_visitor_t *v, const char *contact, void *baton)
{
    (*(unsigned *)baton)++;
    return 0;
}

static unsigned walk_count(mql_visitors_t *vs, int which)
{
    unsigned n = 0;

    mql_visitors_walk(vs, which, count_fn, &n);
    return n;
}

static unsigned feed_count(mql_visitors_t *vs, uint32_t now)
{
    unsigned n = 0;

    mql_visitors_lead_changes(vs, now, 0, count_fn, &n);
    return n;
}

/* The Redis store feeds the fleet's stage changes, which Redis decides:
 * without Redis its feed stays empty (t/redis.t tests it). */
static int fleet_feed(mql_visitors_t *vs)
{
    return mql_redis_store_queue(vs) != NULL;
}

static void conformance(const char *name, maker_fn *make)
{
    mql_visitors_t *vs = make(64);
    mql_visitors_stats_t st;
    mql_hit_result_t res;
    mql_change_t ch[8];
    mql_visitor_t v;
    char contact[MQL_CONTACT_LEN];
    uint8_t id[MQL_ID_BYTES];
    uint64_t seq = 0;
    unsigned n, i;

    /* a hit as data: applied, counted once */
    is_int(hit(vs, 1, MQL_EV_BIT(MQL_EV_VIEW), NOW, &res), APR_SUCCESS, "%s: a hit", name);
    ok(!res.found && res.after.score == 1 && res.after.counts[MQL_EV_VIEW] == 1
       && res.after.site == 1, "%s: a new visitor, scored by the rules, of the hit's site", name);
    id_n(1, id);
    ok(mql_visitors_get_id(vs, id, NOW, &v, contact) && v.score == 1 && !contact[0],
       "%s: get finds it, without a contact", name);
    mql_visitors_stats(vs, &st);
    ok(st.used == 1 && st.events[MQL_EV_VIEW] == 1 && st.inserts == 1,
       "%s: stats: one visitor, one view", name);

    /* the threshold crossed once, and the change fed once */
    hit(vs, 1, MQL_EV_BIT(MQL_EV_DOWNLOAD), NOW + 1, &res);
    is_int(res.stage_changed, 0, "%s: 11 points: no lead", name);
    hit(vs, 1, MQL_EV_BIT(MQL_EV_FORM), NOW + 2, &res);
    ok(res.stage_changed && res.after.stage == MQL_STAGE_MQL && res.found,
       "%s: 31 points: an MQL", name);
    ok(!strcmp(res.after.trigger, "/whitepapers/guide.pdf")
       && res.after.trigger_event == MQL_EV_FORM, "%s: with its trigger", name);
    hit(vs, 1, MQL_EV_BIT(MQL_EV_FORM), NOW + 3, &res);
    is_int(res.stage_changed, 0, "%s: crossed once", name);
    if (!fleet_feed(vs)) {
        n = mql_visitors_stage_changes(vs, &seq, ch, 8, NULL);
        ok(n == 1 && ch[0].old_stage == MQL_STAGE_VISITOR && ch[0].new_stage == MQL_STAGE_MQL
           && !memcmp(ch[0].id, id, MQL_ID_BYTES), "%s: the stage-change feed has it once",
           name);
        is_int(mql_visitors_stage_changes(vs, &seq, ch, 8, NULL), 0, "%s: and then nothing",
               name);
    }

    /* the lead-change feed */
    is_int(feed_count(vs, NOW + 4), 1, "%s: the lead-change feed has the new lead", name);
    is_int(feed_count(vs, NOW + 4), 0, "%s: once", name);
    hit(vs, 2, MQL_EV_BIT(MQL_EV_VIEW), NOW + 4, NULL);
    is_int(feed_count(vs, NOW + 4), 0, "%s: a plain visitor is not in it", name);
    hit(vs, 1, MQL_EV_BIT(MQL_EV_VIEW), NOW + 5, NULL);
    is_int(feed_count(vs, NOW + 5), 1, "%s: a lead's new figures are", name);

    /* contact, stage, forget */
    is_int(mql_visitors_set_contact(vs, id, "jane@example.com", NOW + 6), APR_SUCCESS,
           "%s: set contact", name);
    ok(mql_visitors_get_id(vs, id, NOW + 6, &v, contact)
       && !strcmp(contact, "jane@example.com"), "%s: the contact comes back", name);
    is_int(feed_count(vs, NOW + 6), 1, "%s: a new contact is fed", name);
    is_int(mql_visitors_set_stage(vs, id, MQL_STAGE_SQL, NOW + 7), APR_SUCCESS,
           "%s: sales accept the lead", name);
    if (!fleet_feed(vs)) {
        n = mql_visitors_stage_changes(vs, &seq, ch, 8, NULL);
        ok(n == 1 && ch[0].new_stage == MQL_STAGE_SQL, "%s: the decision is fed", name);
    }
    ok(mql_visitors_get_id(vs, id, NOW + 7, &v, NULL) && v.stage == MQL_STAGE_SQL
       && v.stage_since == NOW + 7, "%s: and kept", name);
    id_n(999, id);
    is_int(mql_visitors_set_stage(vs, id, MQL_STAGE_SQL, NOW), APR_ENOENT,
           "%s: an unknown visitor: ENOENT", name);
    is_int(mql_visitors_set_contact(vs, id, "x", NOW), APR_ENOENT, "%s: for a contact too",
           name);
    is_int(mql_visitors_forget(vs, id), APR_ENOENT, "%s: and a forget", name);

    is_int(walk_count(vs, MQL_WALK_ALL), 2, "%s: walk: every visitor", name);
    is_int(walk_count(vs, MQL_WALK_LEADS), 1, "%s: walk: the leads", name);
    is_int(walk_count(vs, MQL_WALK_CONTACTS), 1, "%s: walk: those with a contact", name);
    id_n(2, id);
    is_int(mql_visitors_forget(vs, id), APR_SUCCESS, "%s: forget", name);
    ok(!mql_visitors_get_id(vs, id, NOW + 8, &v, NULL), "%s: forgotten", name);

    /* a full store evicts plain visitors, never a lead the feed has not
     * yet handed out */
    for (i = 100; i < 200; i++)
        hit(vs, i, MQL_EV_BIT(MQL_EV_VIEW), NOW + 10 + i, NULL);
    mql_visitors_stats(vs, &st);
    ok(st.used <= 64 && st.evictions > 0, "%s: a full store evicts (%u used, %llu evicted)",
       name, st.used, (unsigned long long)st.evictions);
    id_n(1, id);
    ok(mql_visitors_get_id(vs, id, NOW + 300, &v, NULL), "%s: the lead stays", name);

    /* put: a record back as it was, the newer one kept */
    memset(&v, 0, sizeof v);
    id_n(7000, v.id);
    v.score = 42;
    v.stage = MQL_STAGE_REJECTED;
    v.last_seen = v.first_seen = v.stage_since = NOW + 300;
    is_int(mql_visitors_put(vs, &v, "back@example.com", 1), APR_SUCCESS, "%s: put", name);
    v.last_seen = NOW;
    is_int(mql_visitors_put(vs, &v, NULL, 1), APR_EEXIST, "%s: an older copy is refused", name);
    ok(mql_visitors_get_id(vs, v.id, NOW + 300, &v, contact) && v.score == 42
       && v.stage == MQL_STAGE_REJECTED && !strcmp(contact, "back@example.com"),
       "%s: what was put comes back, contact and all", name);

    /* expiry */
    n = mql_visitors_expire(vs, NOW + 300 + EXPIRE + 1);
    mql_visitors_stats(vs, &st);
    ok(n > 0 && st.used == st.stages[MQL_STAGE_SQL] + st.stages[MQL_STAGE_REJECTED]
       + st.stages[MQL_STAGE_MQL], "%s: expiry forgets the idle plain visitors (%u)", name, n);
    ok(mql_visitors_validate(vs, pool) == NULL, "%s: the store is consistent", name);
}

/*
 * A store full of leads: those already in their DBM file (the feed took
 * them, the writer said they are published, nothing changed since) make
 * room, the longest idle first, while plain visitors are fewer than a
 * sixteenth of the store (here: none), and come back merged with their
 * return.
 */
static void published_leads(const char *name, maker_fn *make)
{
    mql_visitors_t *vs = make(8);
    mql_visitors_stats_t st;
    mql_change_t ch[4];
    mql_visitor_t v, lead1;
    uint8_t id[MQL_ID_BYTES];
    uint64_t seq;
    unsigned i;

    if (!mql_visitors_can_restore(vs)) {
        /* (the Redis store keeps every lead of the fleet in its cache) */
        printf("# %s: lets no lead go, takes none back: nothing to check\n", name);
        return;
    }
    for (i = 1; i <= 8; i++) {
        memset(&v, 0, sizeof v);
        id_n(i, v.id);
        v.stage = MQL_STAGE_MQL;
        v.score = 40;
        v.counts[MQL_EV_VIEW] = 5;
        v.caps[0] = 2;
        v.first_seen = NOW - 100;
        v.stage_since = NOW - 50;
        v.last_seen = NOW + i;
        if (i == 1)
            lead1 = v;
        mql_visitors_put(vs, &v, NULL, 0);
    }
    mql_visitors_stats(vs, &st);
    seq = st.change_seq;
    is_int(hit(vs, 100, MQL_EV_BIT(MQL_EV_VIEW), NOW + 20, NULL), APR_ENOSPC,
           "%s: a store full of leads not yet in their file refuses a visitor", name);
    is_int(feed_count(vs, NOW + 20), 8, "%s: the feed hands the eight out", name);
    is_int(hit(vs, 100, MQL_EV_BIT(MQL_EV_VIEW), NOW + 21, NULL), APR_ENOSPC,
           "%s: handed out is not yet published", name);
    mql_visitors_published(vs, NOW + 21);
    is_int(hit(vs, 100, MQL_EV_BIT(MQL_EV_VIEW), NOW + 22, NULL), APR_SUCCESS,
           "%s: published, a lead makes room", name);
    id_n(1, id);
    ok(!mql_visitors_get_id(vs, id, NOW + 22, NULL, NULL), "%s: the longest idle went", name);
    mql_visitors_stats(vs, &st);
    ok(st.lead_evictions == 1 && st.stages[MQL_STAGE_MQL] == 7 && st.used == 8,
       "%s: counted as a lead eviction (%llu)", name, (unsigned long long)st.lead_evictions);

    /* lead 1 returns: a fresh record first (the plain visitor goes for
     * it, though seen after every lead), then the writer puts its record
     * back */
    is_int(hit(vs, 1, MQL_EV_BIT(MQL_EV_DOWNLOAD), NOW + 30, NULL), APR_SUCCESS,
           "%s: the lead returns", name);
    ok(mql_visitors_get_id(vs, id, NOW + 30, &v, NULL) && v.stage == MQL_STAGE_VISITOR
       && v.score == 10, "%s: at first as a new visitor", name);
    id_n(2, id);
    ok(mql_visitors_get_id(vs, id, NOW + 30, NULL, NULL),
       "%s: a lead idle longer than a plain visitor stays", name);
    id_n(100, id);
    ok(!mql_visitors_get_id(vs, id, NOW + 30, NULL, NULL),
       "%s: the plain visitor went, though seen later", name);
    id_n(1, id);
    is_int(mql_visitors_restore(vs, &lead1, "back@example.com", 0, NOW + 31), APR_SUCCESS,
           "%s: restored from its record", name);
    ok(mql_visitors_get_id(vs, id, NOW + 31, &v, NULL) && v.stage == MQL_STAGE_MQL
       && v.score == 50 && v.counts[MQL_EV_VIEW] == 5 && v.counts[MQL_EV_DOWNLOAD] == 1
       && v.first_seen == NOW - 100 && v.stage_since == NOW - 50 && v.last_seen == NOW + 30
       && v.caps[0] == 2, "%s: merged: stage, history, both scores and counts", name);
    is_int(mql_visitors_restore(vs, &lead1, NULL, 0, NOW + 32), APR_EEXIST,
           "%s: a second restore changes nothing", name);
    ok(mql_visitors_get_id(vs, id, NOW + 32, &v, NULL) && v.score == 50,
       "%s: the score counted once", name);
    is_int(mql_visitors_stage_changes(vs, &seq, ch, 4, NULL), 0,
           "%s: a restore is no stage change", name);
    is_int(feed_count(vs, NOW + 33), 1, "%s: the merged lead is due for its file", name);

    /* one absent is inserted as it was (a published lead makes room) */
    mql_visitors_published(vs, NOW + 40);
    id_n(50, id);
    memcpy(lead1.id, id, MQL_ID_BYTES);
    is_int(mql_visitors_restore(vs, &lead1, NULL, 0, NOW + 40), APR_SUCCESS,
           "%s: an absent lead is put back", name);
    ok(mql_visitors_get_id(vs, id, NOW + 40, &v, NULL) && v.stage == MQL_STAGE_MQL
       && v.score == 40, "%s: as it was", name);
    mql_visitors_stats(vs, &st);
    ok(st.stages[MQL_STAGE_VISITOR] + st.stages[MQL_STAGE_MQL] == st.used,
       "%s: the stage counts add up (%u + %u = %u)", name, st.stages[0], st.stages[1], st.used);
    ok(mql_visitors_validate(vs, pool) == NULL, "%s: consistent", name);
}

/* Snapshots and copies between backends: the format is the visitors'. */
typedef struct snapshot_check {
    unsigned records, leads, contacts;
} snapshot_check_t;

static int check_fn(const mql_visitor_t *v, const char *contact, void *baton)
{
    snapshot_check_t *c = baton;

    c->records++;
    c->leads += MQL_STAGE_IS_LEAD(v->stage);
    c->contacts += contact != NULL;
    return 0;
}

static void across(const struct backend *from, const struct backend *to)
{
    mql_visitors_t *a = from->make(200), *b = to->make(200), *c = to->make(30);
    const char *path = apr_psprintf(pool, "%s/%s-%s.snap", dir, from->name, to->name);
    const char *why = NULL;
    uint32_t saved = 0, restored = 0, i;
    snapshot_check_t chk = { 0 };
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t v, w;

    for (i = 0; i < 150; i++) {
        hit(a, i, MQL_EV_BIT(i % 5 ? MQL_EV_VIEW : MQL_EV_FORM) | MQL_EV_BIT(MQL_EV_DOWNLOAD),
            NOW + i, NULL);
        if (i % 5 == 0) {
            hit(a, i, MQL_EV_BIT(MQL_EV_FORM), NOW + i, NULL);
            id_n(i, id);
            mql_visitors_set_contact(a, id, apr_psprintf(pool, "c%u@example.com", i), NOW + i);
        }
    }
    is_int(mql_snapshot_save(a, path, pool, &saved), APR_SUCCESS,
           "%s -> %s: saved", from->name, to->name);
    is_int(mql_snapshot_restore(b, path, pool, &restored, &why), APR_SUCCESS,
           "%s -> %s: restored", from->name, to->name);
    is_int(restored, saved, "%s -> %s: every visitor", from->name, to->name);
    for (i = 0; i < 150; i++) {
        id_n(i, id);
        if (!mql_visitors_get_id(a, id, NOW + i, &v, NULL)
            || !mql_visitors_get_id(b, id, NOW + i, &w, NULL) || memcmp(&v, &w, sizeof v))
            break;
    }
    is_int(i, 150, "%s -> %s: records identical", from->name, to->name);
    is_int(mql_snapshot_read(path, 0, pool, check_fn, &chk, &why), APR_SUCCESS,
           "%s -> %s: read as a file", from->name, to->name);
    ok(chk.records == 150 && chk.leads == 30 && chk.contacts == 30,
       "%s -> %s: 150 records, 30 leads, 30 contacts", from->name, to->name);
    is_int(mql_visitors_copy(a, c), 30, "%s -> %s: a copy into a store of 30",
           from->name, to->name);
    is_int(walk_count(c, MQL_WALK_LEADS), 30, "%s -> %s: the leads first", from->name,
           to->name);
}

/* A snapshot of mod_mql 1.0 (version 1, the 1.0 table's slots): ten
 * visitors i = 0..9, ID bytes i*17+k, score 10.5*i, last seen
 * 1764000000+i, i+1 views, i%3 downloads, site i%2, caps[0] = i; every
 * third a lead (sql when odd, else mql) with trigger download:/wp/i.pdf,
 * country DE and contact leadi@example.com. */
static void old_snapshot(const struct backend *be)
{
    mql_visitors_t *vs = be->make(64);
    const char *why = NULL;
    uint32_t count = 0, i, good = 0;
    char contact[MQL_CONTACT_LEN];
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t v;
    int k;

    is_int(mql_snapshot_restore(vs, "t/unit/data/snapshot-v1.bin", pool, &count, &why),
           APR_SUCCESS, "%s: a 1.0 snapshot restores (%s)", be->name, why ? why : "ok");
    is_int(count, 10, "%s: all ten visitors", be->name);
    for (i = 0; i < 10; i++) {
        int lead = i % 3 == 0;
        for (k = 0; k < MQL_ID_BYTES; k++)
            id[k] = (uint8_t)(i * 17 + k);
        if (!mql_visitors_get_id(vs, id, 1764000000 + i, &v, contact))
            continue;
        good += v.score == 10.5 * i && v.last_seen == 1764000000 + i
                && v.counts[MQL_EV_VIEW] == i + 1 && v.counts[MQL_EV_DOWNLOAD] == i % 3
                && v.site == i % 2 && v.caps[0] == i
                && v.stage == (lead ? (i % 2 ? MQL_STAGE_SQL : MQL_STAGE_MQL) : 0)
                && (!lead || (!strcmp(v.trigger, apr_psprintf(pool, "download:/wp/%u.pdf", i))
                              && !memcmp(v.country, "DE", 2) && (v.flags & MQL_VF_COUNTRY)
                              && !strcmp(contact, apr_psprintf(pool, "lead%u@example.com", i))))
                && (lead || !contact[0]);
    }
    is_int(good, 10, "%s: each with its figures, stage, trigger, country and contact",
           be->name);
}

int main(void)
{
    int i, j;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    mql_log_set(NULL, NULL, MQL_LOG_ERR);
    snprintf(dir, sizeof dir, "/tmp/mql-visitors-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    provider_shape();
    foreign_changes();
    for (i = 0; i < NBACKENDS; i++)
        conformance(backends[i].name, backends[i].make);
    for (i = 0; i < NBACKENDS; i++)
        published_leads(backends[i].name, backends[i].make);
    for (i = 0; i < NBACKENDS; i++)
        for (j = 0; j < NBACKENDS; j++)
            across(&backends[i], &backends[j]);
    for (i = 0; i < NBACKENDS; i++)
        old_snapshot(&backends[i]);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
