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
 * Flood limits per client network: how many new visitors and how many new
 * leads one network may make per minute.  Held in shared memory only and
 * never written anywhere; a network is kept as a keyed hash of its prefix
 * (the key is drawn at each start), so memory holds no address in the
 * clear (the key is in the same memory: this is not secrecy against the
 * server's user, who sees the addresses anyway).
 *
 * One 64-bit word per slot, changed only by compare-and-swap, so every
 * process and thread may use the table without a lock and a count is
 * never lost or torn:
 *
 *   63          40 39        24 23        12 11         0
 *   +-------------+------------+------------+------------+
 *   | network tag | minute     | visitors   | leads      |
 *   | (24 bits)   | (16 bits)  | (12 bits)  | (12 bits)  |
 *   +-------------+------------+------------+------------+
 *
 * The window is the calendar minute (Unix time / 60, modulo 2^16): a
 * slot whose minute is not the current one is free.  A network probes
 * MQL_FLOOD_PROBES slots from its hash; when all hold other networks of
 * this minute the table is full for it.  Slots are only ever taken
 * within a minute, never given back, so a network's slot cannot move.
 *
 * A client belongs to several networks at once, one per level of
 * MQLClientNetwork (by default an IPv6 /64, the /56 and the /48 around
 * it), each with a budget of its own: the limits times the level's
 * factor.  A new IPv6 network is cheap to get (a /48 holds 65 536 /64s),
 * so a wider level bounds what the narrow ones of one holder add up to,
 * and how many slots they can take: a level over its budget refuses
 * before any narrower network is given a slot.
 *
 * A table full for a network is no way around the limits: a promotion
 * that finds no slot is held (the visitor keeps its score and becomes a
 * lead on a later request), while a new visitor is let through, only
 * the levels that have a slot counting it, so that a flood of networks
 * can delay leads but never stop the tracking of anyone.
 */
#ifndef MQL_FLOOD_H
#define MQL_FLOOD_H

#include <stdint.h>
#include <stddef.h>
#include <apr_pools.h>
#include "mql_types.h"

#define MQL_FLOOD_LIMIT_MAX 4000    /* a counter has 12 bits */
#define MQL_FLOOD_PROBES 8
#define MQL_FLOOD_LEVELS 4          /* prefix lengths per address family */
#define MQL_FLOOD_TIMES_MAX 100     /* a level's factor on the limits */

typedef enum { MQL_FLOOD_VISITORS = 0, MQL_FLOOD_LEADS = 1 } mql_flood_kind_t;

typedef enum {
    MQL_FLOOD_OK = 0,       /* under the limit (and counted when asked) */
    MQL_FLOOD_OVER = 1,     /* at the limit: refuse */
    MQL_FLOOD_FULL = 2      /* no slot free for this network this minute */
} mql_flood_verdict_t;

/* Counters for the status page; 64-bit, changed with atomic adds. */
typedef struct mql_flood_stats {
    uint64_t visitors_refused;  /* new visitors not tracked: network over its limit */
    uint64_t leads_held_rate;   /* promotions held: network over MQLNewLeadLimit */
    uint64_t leads_held_young;  /* promotions held: MQLLeadMinAge / MQLLeadMinEvents */
    uint64_t table_full;        /* lookups that found no slot for a network */
    uint64_t leads_held_full;   /* promotions held: no slot for the network */
} mql_flood_stats_t;

typedef struct mql_flood {
    mql_flood_stats_t stats;
    uint32_t nslots;
    uint32_t reserved;
    uint64_t slots[];           /* nslots words, zero = free */
} mql_flood_t;

/* Bytes of shared memory for a table of nslots (a power of two). */
size_t mql_flood_size(uint32_t nslots);

/* Format fresh memory of mql_flood_size(nslots) bytes. */
void mql_flood_format(void *base, uint32_t nslots);

/*
 * The hash that stands for a client network: the address cut to its
 * prefix (v4_prefix bits of an IPv4 address, v6_prefix of IPv6; an IPv4
 * address mapped into IPv6 counts as IPv4), hashed with SipHash under key.
 * addr holds 4 or 16 bytes.
 */
uint64_t mql_flood_network(const uint8_t key[16], const uint8_t *addr, size_t addr_len,
                           unsigned v4_prefix, unsigned v6_prefix);

/* One level of MQLClientNetwork: a prefix length, and the factor on the
 * limits that makes its budget. */
typedef struct mql_flood_level {
    uint8_t prefix;
    uint8_t times;
} mql_flood_level_t;

/* The levels of both families, narrowest first. */
typedef struct mql_flood_nets {
    unsigned n4, n6;
    mql_flood_level_t v4[MQL_FLOOD_LEVELS], v6[MQL_FLOOD_LEVELS];
} mql_flood_nets_t;

/*
 * "64,56*2,48*4": prefix lengths from min_bits to max_bits, each wider
 * than the one before, each optionally times a factor (1 to
 * MQL_FLOOD_TIMES_MAX; 1 when left out), at most MQL_FLOOD_LEVELS; a
 * '/' before a length is allowed.  NULL on success, else what is wrong.
 */
const char *mql_flood_parse_levels(apr_pool_t *p, const char *text, unsigned min_bits,
                                   unsigned max_bits, mql_flood_level_t *out, unsigned *n);

/* The levels as mql_flood_parse_levels reads them ("64,56*2,48*4"). */
void mql_flood_levels_text(const mql_flood_level_t *l, unsigned n, char *buf, size_t len);

/* A network of one level, and the factor on the limits for it. */
typedef struct mql_flood_net {
    uint64_t hash;
    unsigned times;
} mql_flood_net_t;

/* The networks addr belongs to, one per level of its family, narrowest
 * first; returns how many (0 when addr_len is neither 4 nor 16). */
unsigned mql_flood_networks(const uint8_t key[16], const uint8_t *addr, size_t addr_len,
                            const mql_flood_nets_t *cfg, mql_flood_net_t out[MQL_FLOOD_LEVELS]);

/*
 * Whether the network may make one more of kind this minute (limit > 0;
 * 0 = no limit: always MQL_FLOOD_OK, nothing counted).  With charge, an
 * OK is also counted against the limit in the same atomic step.
 */
mql_flood_verdict_t mql_flood_check(mql_flood_t *f, uint64_t network, uint32_t now,
                                    mql_flood_kind_t kind, unsigned limit, int charge);

/*
 * mql_flood_check over all the networks of a client (limit times each
 * one's factor), charging either every one of them or none: OVER when
 * one is at its budget.  FULL when a network found no slot: with
 * fail_closed nothing is charged, else the networks that have a slot
 * are, and the caller lets the client through.  Each lookup that found
 * no slot is counted in the table's stats.
 */
mql_flood_verdict_t mql_flood_check_nets(mql_flood_t *f, const mql_flood_net_t *nets,
                                         unsigned n, uint32_t now, mql_flood_kind_t kind,
                                         unsigned limit, int fail_closed);

/* How many of kind the network made in the minute of now (tests, status). */
unsigned mql_flood_count(mql_flood_t *f, uint64_t network, uint32_t now, mql_flood_kind_t kind);

/*
 * The age gate (MQLLeadMinAge, MQLLeadMinEvents): 1 when the visitor is
 * too young to become a lead on a hit with these events -- first seen
 * less than min_age seconds before now, or fewer than min_events scored
 * events with this hit's (one request that is both a form and a campaign
 * counts two).
 */
int mql_flood_too_young(const mql_visitor_t *v, unsigned hit_events, uint32_t now,
                        uint32_t min_age, unsigned min_events);

/* Atomic add to one of the stats counters. */
void mql_flood_note(uint64_t *counter);

/* A copy of the counters (each read atomically). */
void mql_flood_stats(mql_flood_t *f, mql_flood_stats_t *out);

/* Slots that hold a network in the minute of now (status). */
uint32_t mql_flood_used(mql_flood_t *f, uint32_t now);

/*
 * The flood limits a hit carries to the store (mql_hit_t.gate), as data:
 * a store applies them where it applies the hit, under its own lock.
 */
typedef struct mql_lead_gate {
    mql_flood_t *table;             /* NULL: no limit per network */
    const uint8_t *key;             /* mql_flood_network's */
    const uint8_t *addr;            /* the client's address, 4 or 16 bytes */
    size_t addr_len;
    const mql_flood_nets_t *nets;   /* MQLClientNetwork */
    unsigned lead_limit;            /* MQLNewLeadLimit, 0 = none */
    uint32_t min_age;               /* MQLLeadMinAge, seconds */
    unsigned min_events;            /* MQLLeadMinEvents */
} mql_lead_gate_t;

/*
 * Whether a visitor that qualifies may become a lead now: old and active
 * enough, and each of its networks under its leads for this minute (then
 * counted against them).  A network that finds no slot holds the
 * promotion back: a full table must not lift the limit.  Each refusal is
 * counted in the table's stats.  The networks' hashes are only made
 * here, on the rare hit that would promote.
 */
int mql_lead_gate_admit(const mql_lead_gate_t *g, const mql_visitor_t *v, uint32_t now);

#endif
