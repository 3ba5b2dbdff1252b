/*
 * Flood limits per client network (see mql_flood.h for the slot layout).
 */
#include <string.h>
#include "mql_flood.h"
#include <apr_siphash.h>

#define TAG_SHIFT 40
#define MINUTE_SHIFT 24
#define VISITOR_SHIFT 12
#define COUNT_MASK 0xfffu

size_t mql_flood_size(uint32_t nslots)
{
    return sizeof(mql_flood_t) + (size_t)nslots * sizeof(uint64_t);
}

void mql_flood_format(void *base, uint32_t nslots)
{
    mql_flood_t *f = base;

    memset(base, 0, mql_flood_size(nslots));
    f->nslots = nslots;
}

uint64_t mql_flood_network(const uint8_t key[16], const uint8_t *addr, size_t addr_len,
                           unsigned v4_prefix, unsigned v6_prefix)
{
    static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    uint8_t net[17];
    unsigned bits, i;
    size_t len;

    if (addr_len == 16 && !memcmp(addr, v4_mapped, sizeof v4_mapped)) {
        addr += 12;
        addr_len = 4;
    }
    len = addr_len == 4 ? 4 : 16;
    bits = addr_len == 4 ? v4_prefix : v6_prefix;
    if (bits > len * 8)
        bits = (unsigned)len * 8;
    memset(net, 0, sizeof net);
    memcpy(net, addr, len);
    for (i = 0; i < len; i++) {
        unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
        if (keep < 8)
            net[i] &= (uint8_t)(0xff00u >> keep);
    }
    /* the family and the prefix length are part of what is hashed, so
     * 10.0.0.0/24 and a 16-byte address starting 0a 00 00 differ */
    net[16] = (uint8_t)(len == 4 ? bits : 0x80 | bits);
    return apr_siphash24(net, sizeof net, key);
}

static unsigned minute_of(uint32_t now)
{
    return (now / 60) & 0xffffu;
}

static unsigned count_in(uint64_t w, mql_flood_kind_t kind)
{
    return (unsigned)(w >> (kind == MQL_FLOOD_VISITORS ? VISITOR_SHIFT : 0)) & COUNT_MASK;
}

/* A slot's word for this network and minute with the given counts. */
static uint64_t word(uint64_t tag, unsigned minute, unsigned visitors, unsigned leads)
{
    return tag << TAG_SHIFT | (uint64_t)minute << MINUTE_SHIFT
        | (uint64_t)visitors << VISITOR_SHIFT | leads;
}

/* 24 bits of the hash, never zero (zero marks a free slot) */
static uint64_t tag_of(uint64_t network)
{
    uint64_t tag = network >> 40;

    return tag ? tag : 1;
}

mql_flood_verdict_t mql_flood_check(mql_flood_t *f, uint64_t network, uint32_t now,
                                    mql_flood_kind_t kind, unsigned limit, int charge)
{
    uint64_t tag = tag_of(network);
    unsigned minute = minute_of(now), p;
    uint32_t mask = f->nslots - 1;

    if (!limit)
        return MQL_FLOOD_OK;
    if (limit > MQL_FLOOD_LIMIT_MAX)
        limit = MQL_FLOOD_LIMIT_MAX;
    for (p = 0; p < MQL_FLOOD_PROBES; p++) {
        uint64_t *slot = &f->slots[((uint32_t)network + p) & mask];
        uint64_t w = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

        for (;;) {
            uint64_t want;
            int mine = w >> TAG_SHIFT == tag && ((w >> MINUTE_SHIFT) & 0xffffu) == minute;
            int stale = !w || ((w >> MINUTE_SHIFT) & 0xffffu) != minute;

            if (mine) {
                if (count_in(w, kind) >= limit)
                    return MQL_FLOOD_OVER;
                if (!charge)
                    return MQL_FLOOD_OK;
                want = w + ((uint64_t)1 << (kind == MQL_FLOOD_VISITORS ? VISITOR_SHIFT : 0));
            }
            else if (stale) {
                if (!charge)
                    return MQL_FLOOD_OK;        /* nothing made this minute */
                want = word(tag, minute, kind == MQL_FLOOD_VISITORS, kind == MQL_FLOOD_LEADS);
            }
            else
                break;                          /* another network's: probe on */
            if (__atomic_compare_exchange_n(slot, &w, want, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
                return MQL_FLOOD_OK;
            /* w now holds what another process wrote: judge it again */
        }
    }
    return MQL_FLOOD_FULL;
}

unsigned mql_flood_count(mql_flood_t *f, uint64_t network, uint32_t now, mql_flood_kind_t kind)
{
    uint64_t tag = tag_of(network);
    unsigned minute = minute_of(now), p;
    uint32_t mask = f->nslots - 1;

    for (p = 0; p < MQL_FLOOD_PROBES; p++) {
        uint64_t w = __atomic_load_n(&f->slots[((uint32_t)network + p) & mask], __ATOMIC_ACQUIRE);

        if (w >> TAG_SHIFT == tag && ((w >> MINUTE_SHIFT) & 0xffffu) == minute)
            return count_in(w, kind);
    }
    return 0;
}

int mql_flood_too_young(const mql_visitor_t *v, unsigned hit_events, uint32_t now,
                        uint32_t min_age, unsigned min_events)
{
    unsigned events = 0, ev;

    /* a first_seen ahead of now (a clock stepped back) counts as young */
    if (min_age && (now < v->first_seen || now - v->first_seen < min_age))
        return 1;
    if (min_events <= 1)
        return 0;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        events += v->counts[ev] + ((hit_events >> ev) & 1u);
    return events < min_events;
}

void mql_flood_note(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

void mql_flood_stats(mql_flood_t *f, mql_flood_stats_t *out)
{
    out->visitors_refused = __atomic_load_n(&f->stats.visitors_refused, __ATOMIC_RELAXED);
    out->leads_held_rate = __atomic_load_n(&f->stats.leads_held_rate, __ATOMIC_RELAXED);
    out->leads_held_young = __atomic_load_n(&f->stats.leads_held_young, __ATOMIC_RELAXED);
    out->table_full = __atomic_load_n(&f->stats.table_full, __ATOMIC_RELAXED);
}

int mql_lead_gate_admit(const mql_lead_gate_t *g, const mql_visitor_t *v, uint32_t now)
{
    uint64_t network;

    /* the hit's events are in the counts already */
    if (mql_flood_too_young(v, 0, now, g->min_age, g->min_events)) {
        if (g->table)
            mql_flood_note(&g->table->stats.leads_held_young);
        return 0;
    }
    if (!g->table || !g->lead_limit || !g->addr)
        return 1;
    network = mql_flood_network(g->key, g->addr, g->addr_len, g->v4_prefix, g->v6_prefix);
    switch (mql_flood_check(g->table, network, now, MQL_FLOOD_LEADS, g->lead_limit, 1)) {
    case MQL_FLOOD_OVER:
        mql_flood_note(&g->table->stats.leads_held_rate);
        return 0;
    case MQL_FLOOD_FULL:
        /* never fail a page for bookkeeping: let it through, counted */
        mql_flood_note(&g->table->stats.table_full);
        return 1;
    default:
        return 1;
    }
}
