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
 * Flood limits per client network (see mql_flood.h for the slot layout).
 */
#include <stdio.h>
#include <string.h>
#include "mql_flood.h"
#include "mql_log.h"
#include "mql_parse.h"
#include <apr_atomic.h>
#include <apr_siphash.h>
#include <apr_strings.h>

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

/* An IPv4 address mapped into IPv6 is the IPv4 client it stands for. */
static size_t unmap(const uint8_t **addr, size_t addr_len)
{
    static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (addr_len == 16 && !memcmp(*addr, v4_mapped, sizeof v4_mapped)) {
        *addr += 12;
        return 4;
    }
    return addr_len == 4 ? 4 : 16;
}

static uint64_t hash_prefix(const uint8_t key[16], const uint8_t *addr, size_t len,
                            unsigned bits)
{
    uint8_t net[17];
    unsigned i;

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
     * 10.0.0.0/24 and a 16-byte address starting 0a 00 00 differ, and
     * so do a /48 and the /64 at its start */
    net[16] = (uint8_t)(len == 4 ? bits : 0x80 | bits);
    return apr_siphash24(net, sizeof net, key);
}

uint64_t mql_flood_network(const uint8_t key[16], const uint8_t *addr, size_t addr_len,
                           unsigned v4_prefix, unsigned v6_prefix)
{
    size_t len = unmap(&addr, addr_len);

    return hash_prefix(key, addr, len, len == 4 ? v4_prefix : v6_prefix);
}

unsigned mql_flood_networks(const uint8_t key[16], const uint8_t *addr, size_t addr_len,
                            const mql_flood_nets_t *cfg, mql_flood_net_t out[MQL_FLOOD_LEVELS])
{
    const mql_flood_level_t *l;
    size_t len;
    unsigned n, i;

    if (addr_len != 4 && addr_len != 16)
        return 0;
    len = unmap(&addr, addr_len);
    l = len == 4 ? cfg->v4 : cfg->v6;
    n = len == 4 ? cfg->n4 : cfg->n6;
    if (n > MQL_FLOOD_LEVELS)
        n = MQL_FLOOD_LEVELS;
    for (i = 0; i < n; i++) {
        out[i].hash = hash_prefix(key, addr, len, l[i].prefix);
        out[i].times = l[i].times ? l[i].times : 1;
    }
    return n;
}

const char *mql_flood_parse_levels(apr_pool_t *p, const char *text, unsigned min_bits,
                                   unsigned max_bits, mql_flood_level_t *out, unsigned *n)
{
    const char *s = text;
    unsigned count = 0;

    for (;;) {
        const char *end = s + strcspn(s, ",");
        const char *star = memchr(s, '*', (size_t)(end - s));
        int64_t bits, times = 1;

        if (*s == '/')
            s++;
        if (count == MQL_FLOOD_LEVELS)
            return apr_psprintf(p, "at most %d prefix lengths", MQL_FLOOD_LEVELS);
        if (mql_parse_int(p, apr_pstrmemdup(p, s, (apr_size_t)((star ? star : end) - s)),
                          min_bits, max_bits, &bits))
            return apr_psprintf(p, "a prefix length from %u to %u", min_bits, max_bits);
        if (star && mql_parse_int(p, apr_pstrmemdup(p, star + 1, (apr_size_t)(end - star - 1)),
                                  1, MQL_FLOOD_TIMES_MAX, &times))
            return apr_psprintf(p, "a factor from 1 to %d after '*'", MQL_FLOOD_TIMES_MAX);
        if (count && bits >= out[count - 1].prefix)
            return "each prefix length shorter than the one before (narrowest first)";
        out[count].prefix = (uint8_t)bits;
        out[count].times = (uint8_t)times;
        count++;
        if (!*end)
            break;
        s = end + 1;
    }
    *n = count;
    return NULL;
}

void mql_flood_levels_text(const mql_flood_level_t *l, unsigned n, char *buf, size_t len)
{
    size_t used = 0;
    unsigned i;

    if (!len)
        return;
    buf[0] = '\0';
    for (i = 0; i < n && used < len; i++) {
        int w = l[i].times > 1
            ? snprintf(buf + used, len - used, "%s%u*%u", i ? "," : "", l[i].prefix, l[i].times)
            : snprintf(buf + used, len - used, "%s%u", i ? "," : "", l[i].prefix);

        if (w < 0)
            break;
        used += (size_t)w;
    }
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
        uint64_t w = apr_atomic_read64(slot);

        for (;;) {
            uint64_t want, seen;
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
            if ((seen = apr_atomic_cas64(slot, want, w)) == w)
                return MQL_FLOOD_OK;
            w = seen;               /* what another process wrote: judge it again */
        }
    }
    return MQL_FLOOD_FULL;
}

/* Give back one charged by mql_flood_check: only ever a count taken
 * away, never the slot, which other networks' probes may run past. */
static void refund(mql_flood_t *f, uint64_t network, uint32_t now, mql_flood_kind_t kind)
{
    uint64_t tag = tag_of(network), one;
    unsigned minute = minute_of(now), p;
    uint32_t mask = f->nslots - 1;

    one = (uint64_t)1 << (kind == MQL_FLOOD_VISITORS ? VISITOR_SHIFT : 0);
    for (p = 0; p < MQL_FLOOD_PROBES; p++) {
        uint64_t *slot = &f->slots[((uint32_t)network + p) & mask];
        uint64_t w = apr_atomic_read64(slot), seen;

        while (w >> TAG_SHIFT == tag && ((w >> MINUTE_SHIFT) & 0xffffu) == minute) {
            if (!count_in(w, kind))
                return;
            if ((seen = apr_atomic_cas64(slot, w - one, w)) == w)
                return;
            w = seen;
        }
        if (!w || ((w >> MINUTE_SHIFT) & 0xffffu) != minute)
            return;                 /* the minute turned: nothing to give back */
    }
}

static unsigned level_limit(unsigned limit, unsigned times)
{
    unsigned long l = (unsigned long)limit * (times ? times : 1);

    return l > MQL_FLOOD_LIMIT_MAX ? MQL_FLOOD_LIMIT_MAX : (unsigned)l;
}

mql_flood_verdict_t mql_flood_check_nets(mql_flood_t *f, const mql_flood_net_t *nets,
                                         unsigned n, uint32_t now, mql_flood_kind_t kind,
                                         unsigned limit, int fail_closed)
{
    unsigned i, full = 0;
    int done[MQL_FLOOD_LEVELS];

    if (!limit || !n)
        return MQL_FLOOD_OK;
    if (n > MQL_FLOOD_LEVELS)
        n = MQL_FLOOD_LEVELS;
    /* A look first, narrowest first: a network at its budget (a client
     * that keeps trying) is refused with one read, charging nothing. */
    if (n > 1) {
        for (i = 0; i < n; i++)
            switch (mql_flood_check(f, nets[i].hash, now, kind,
                                    level_limit(limit, nets[i].times), 0)) {
            case MQL_FLOOD_OVER:
                return MQL_FLOOD_OVER;
            case MQL_FLOOD_FULL:
                full = 1;
                break;
            default:
                break;
            }
        if (full)
            mql_flood_note(&f->stats.table_full);
        if (full && fail_closed)
            return MQL_FLOOD_FULL;
    }
    /* Then the charges, widest first: a holder over its budget takes no
     * slot for a narrower network.  Each charge checks again, so racing
     * requests never pass a budget; one refused takes back the others. */
    for (i = n; i-- > 0;) {
        mql_flood_verdict_t v = mql_flood_check(f, nets[i].hash, now, kind,
                                                level_limit(limit, nets[i].times), 1);

        done[i] = v == MQL_FLOOD_OK;
        if (v == MQL_FLOOD_OK)
            continue;
        if (v == MQL_FLOOD_FULL && !full)
            mql_flood_note(&f->stats.table_full);
        if (v == MQL_FLOOD_FULL && !fail_closed) {
            full = 1;
            continue;
        }
        while (++i < n)
            if (done[i])
                refund(f, nets[i].hash, now, kind);
        return v;
    }
    return full ? MQL_FLOOD_FULL : MQL_FLOOD_OK;
}

unsigned mql_flood_count(mql_flood_t *f, uint64_t network, uint32_t now, mql_flood_kind_t kind)
{
    uint64_t tag = tag_of(network);
    unsigned minute = minute_of(now), p;
    uint32_t mask = f->nslots - 1;

    for (p = 0; p < MQL_FLOOD_PROBES; p++) {
        uint64_t w = apr_atomic_read64(&f->slots[((uint32_t)network + p) & mask]);

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
    apr_atomic_inc64(counter);
}

void mql_flood_stats(mql_flood_t *f, mql_flood_stats_t *out)
{
    out->visitors_refused = apr_atomic_read64(&f->stats.visitors_refused);
    out->leads_held_rate = apr_atomic_read64(&f->stats.leads_held_rate);
    out->leads_held_young = apr_atomic_read64(&f->stats.leads_held_young);
    out->table_full = apr_atomic_read64(&f->stats.table_full);
    out->leads_held_full = apr_atomic_read64(&f->stats.leads_held_full);
}

uint32_t mql_flood_used(mql_flood_t *f, uint32_t now)
{
    unsigned minute = minute_of(now);
    uint32_t i, used = 0;

    for (i = 0; i < f->nslots; i++) {
        uint64_t w = apr_atomic_read64(&f->slots[i]);

        used += w && ((w >> MINUTE_SHIFT) & 0xffffu) == minute;
    }
    return used;
}

/* Warnings at the 1st, 2nd, 4th, 8th ... occurrence: a flood must not
 * flood the error log too. */
static int worth_logging(uint64_t n)
{
    return n && !(n & (n - 1));
}

int mql_lead_gate_admit(const mql_lead_gate_t *g, const mql_visitor_t *v, uint32_t now)
{
    mql_flood_net_t nets[MQL_FLOOD_LEVELS];
    unsigned n;
    uint64_t held;

    /* the hit's events are in the counts already */
    if (mql_flood_too_young(v, 0, now, g->min_age, g->min_events)) {
        if (g->table)
            mql_flood_note(&g->table->stats.leads_held_young);
        return 0;
    }
    if (!g->table || !g->lead_limit || !g->addr || !g->nets)
        return 1;
    n = mql_flood_networks(g->key, g->addr, g->addr_len, g->nets, nets);
    switch (mql_flood_check_nets(g->table, nets, n, now, MQL_FLOOD_LEADS, g->lead_limit, 1)) {
    case MQL_FLOOD_OVER:
        mql_flood_note(&g->table->stats.leads_held_rate);
        return 0;
    case MQL_FLOOD_FULL:
        /* the visitor keeps its score and is promoted on a later request,
         * once its networks find slots: a full table lifts no limit */
        held = apr_atomic_inc64(&g->table->stats.leads_held_full) + 1;
        if (worth_logging(held))
            mql_log(MQL_LOG_WARNING, "MQL05101: the flood limits' table is full (%u slots): "
                    "a promotion is held back until its client's networks find a slot "
                    "(%" APR_UINT64_T_FMT " held so far; MQLFloodTableSize)",
                    (unsigned)g->table->nslots, held);
        return 0;
    default:
        return 1;
    }
}
