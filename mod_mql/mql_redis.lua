#!lua name=mql
-- Copyright 2026 mod_mql maintainers
--
-- Licensed under the Apache License, Version 2.0 (the "License");
-- you may not use this file except in compliance with the License.
-- You may obtain a copy of the License at
--
--     http://www.apache.org/licenses/LICENSE-2.0
--
-- Unless required by applicable law or agreed to in writing, software
-- distributed under the License is distributed on an "AS IS" BASIS,
-- WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
-- See the License for the specific language governing permissions and
-- limitations under the License.

--
-- mod_mql's Redis Function library (MQLStore redis://): applies what the
-- servers of a fleet queued, atomically, so that capped rules, the
-- threshold, MQLRequire, decay and the stage change are decided once for
-- the whole fleet.  The module loads it (FUNCTION LOAD REPLACE) on every
-- connection: Functions are kept by Redis across restarts and
-- replicated, which EVALSHA's script cache is not.
--
-- FCALL mql_apply_many N+3 SEQ_KEY STREAM_KEY TOTALS_KEY VKEY_1 .. VKEY_N
-- ENTRY_1 .. ENTRY_N applies N entries of one shard in queue order (see
-- apply_many below).  All keys of a call share one hash tag (the shard),
-- so every call is valid on a Redis Cluster.  On a single Redis the sync
-- thread sends its whole batch, every shard of it, as one FCALL
-- mql_apply_batch (below).
--
-- A hit arrives resolved by the server that saw it, as a delta
-- (mql_delta.h): figures, no rules.  apply_delta is mql_delta_apply's
-- twin, checked against the same vectors (t/vectors/delta.txt); a new
-- kind of rule never changes this file.
--
-- The fleet's totals: each shard's hash TOTALS_KEY counts what the calls
-- of that shard did, in fields 'visitors' (records created), 'hits' (hit
-- entries applied), 'forgotten' (records forgotten) and 'stage1' ..
-- 'stage3' (records at that stage now: leads, which never expire).
-- Each server's sync thread sums the shards' hashes for its status page.
-- The hash has no TTL; a key that is absent counts from 0.
--
-- A visitor's record is one string (see pack), not a hash of 26
-- fields: one GET and one SET per visitor and call, packed and unpacked
-- by the struct library in C, where a hash cost Redis a quadratic
-- listpack update and 26 number conversions each way.  Its fields are
-- mql_fields.h's, laid out by the module as it loads the library
-- (RECORD_LAYOUT).  FCALL_RO mql_fields 1 VKEY gives a record as field,
-- value, ... for people and tests.
--
-- Idempotence: each server (ORIGIN) numbers what it queues (SEQ); SEQ_KEY
-- keeps the last number applied per origin in this shard, and an entry
-- whose number is not above it changes nothing (a batch sent again after
-- a lost reply).  Nothing here stores an IP address.

local VF_FIT = 2
local UNCAPPED = 255
local STREAM_MAXLEN = '100000'
local SEQ_TTL = 30 * 86400       -- an origin's numbers outlive any queue
local SEQ_RENEW = 4096           -- numbers between renewals of that TTL

-- The record's layout, from mql_fields.h: the module puts it here as it
-- loads the library (mql_redis_library), so that a field of the record
-- is never written by hand below:
-- @RECORD_LAYOUT@

-- The fields a delta may set (d.sets): the record's strings; and those
-- it may add to (d.adds): the record's numbers, each with its elements
-- and its largest value (none for a double), as mql_delta.c keeps them.
local SETTABLE, ADDABLE = {}, {}
local MAX_OF = { B = 255, H = 65535, I4 = 4294967295 }
for i = 1, #RECORD_LAYOUT do     -- no ipairs while the library loads
    local f = RECORD_LAYOUT[i]
    if f[2] == 's' then SETTABLE[f[1]] = true end
    if f[2] == 'n' then ADDABLE[f[1]] = { f[3], MAX_OF[f[4]] } end
end

-- A new visitor's record: every field zero or empty, its times now.
local function fresh(now)
    local v = { contact = '' }
    for _, f in ipairs(RECORD_LAYOUT) do
        local name, kind, n = f[1], f[2], f[3]
        if kind == 'n' and n > 1 then
            local a = {}
            for i = 0, n - 1 do a[i] = 0 end
            v[name] = a
        elseif kind == 'n' then
            v[name] = 0
        else
            v[name] = ''
        end
    end
    v.first, v.last, v.since = now, now, now
    return v
end

-- The record as field, value, ... (an array's elements as name0,
-- name1, ...; every value a string): built once per call and used for
-- the stream and the reply alike.
local function pairs_of(v)
    local out, n = {}, 0
    for _, f in ipairs(RECORD_LAYOUT) do
        local name, kind, len, x = f[1], f[2], f[3], v[f[1]]
        if kind == 'n' then
            local fmt = f[4] == 'd' and '%.17g' or '%d'
            if len > 1 then
                for i = 0, len - 1 do
                    out[n + 1], out[n + 2] = name .. i, string.format(fmt, x[i])
                    n = n + 2
                end
            else
                out[n + 1], out[n + 2] = name, string.format(fmt, x)
                n = n + 2
            end
        else
            out[n + 1], out[n + 2] = name, x
            n = n + 2
        end
    end
    out[n + 1], out[n + 2] = 'contact', v.contact
    return out
end

local function country_in(packed, cc)
    if #cc ~= 2 then return false end
    cc = string.upper(cc)
    for i = 1, #packed - 1, 2 do
        if string.upper(string.sub(packed, i, i + 1)) == cc then return true end
    end
    return false
end

-- A stage change, or a lead's new figures, for every server: the record
-- travels with it, so a server puts it into its table without a lookup.
local function announce(stream, kind, id, old, fv, now)
    local args = { 'XADD', stream, 'MAXLEN', '~', STREAM_MAXLEN, '*',
                   'type', kind, 'id', id, 'old', tostring(old), 'time', tostring(now) }
    if fv then
        for i = 1, #fv do args[#args + 1] = fv[i] end
    end
    return redis.call(unpack(args))
end

-- A delta applied to a record, as mql_delta_apply does (mql_delta.c),
-- line for line: decay, items (a capped one while its counter is under
-- its cap), fit, country, fields to set, numbers to add to, counts,
-- last_seen, promotion, flags, site.
-- Arithmetic on the record only.  d: see delta_from_binary.
local function apply_delta(v, d, now)
    if d.half_life > 0 and now > v.last then
        v.score = v.score * 2 ^ (-(now - v.last) / d.half_life)
    end
    local k = v.k
    for _, it in ipairs(d.items) do
        local slot = it[3]
        if slot == UNCAPPED then
            v.score = v.score + it[1]
        elseif slot <= 7 and k[slot] < it[4] then
            k[slot] = k[slot] + 1
            v.score = v.score + it[1]
        end
    end
    if d.has_fit and bit.band(v.flags, VF_FIT) == 0 then
        v.score = v.score + d.fit
        v.flags = bit.bor(v.flags, VF_FIT)
    end
    if d.cc ~= '' and v.cc == '' then v.cc = d.cc end
    for _, set in ipairs(d.sets) do
        if set[3] or v[set[1]] == '' then v[set[1]] = set[2] end
    end
    for _, add in ipairs(d.adds) do
        local name, elem, value = add[1], add[2], add[3]
        local a, max = ADDABLE[name][1], ADDABLE[name][2]
        local x = (a > 1 and v[name][elem] or v[name]) + value
        if max then
            if x < 0 then x = 0 elseif x > max then x = max end
        end
        if a > 1 then v[name][elem] = x else v[name] = x end
    end
    -- the event bits, lowest first, as many turns as bits set
    local c, events, ev = v.c, d.events, 0
    while events > 0 and ev <= 6 do
        if events % 2 == 1 and c[ev] < 65535 then c[ev] = c[ev] + 1 end
        events = math.floor(events / 2)
        ev = ev + 1
    end
    if now > v.last then v.last = now end
    local was_lead = v.stage ~= 0
    local promoted = false
    if not d.hold and v.stage == 0 and v.score >= d.threshold then
        local need, ok = d.need_counts, true
        for i = 0, 6 do
            if bit.band(need, 2 ^ i) ~= 0 and c[i] < 1 then ok = false end
        end
        if ok and (not d.need_country or country_in(d.countries, v.cc)) then
            v.stage = 1
            v.since = now
            v.tev = d.tev
            v.trig = d.trig
            promoted = true
        end
    end
    v.flags = bit.bor(v.flags, d.set_flags)
    if not was_lead then v.site = d.site end
    return promoted
end

-- Numbers in a reply would become integers: the record's go as strings.
local function strings(fv)
    for i = 2, #fv, 2 do
        if type(fv[i]) == 'number' then fv[i] = string.format('%d', fv[i]) end
    end
    return fv
end

-- A delta as mql_delta_encode writes it, from position pos of s: the
-- delta and the position after it, or nil.
local DELTA_HEAD = '<I4I4B'
local DELTA_ITEM = '<i4BBB'
local DELTA_REST = '<Bi4c2BBBBI4dHc0BHc0B'
local DELTA_SET = '<Bc0Hc0B'
local DELTA_ADD = '<Bc0Bi4'
local NO_ITEMS = {}              -- shared, never written
local MAX_SETS = 2               -- MQL_DELTA_SETS
local MAX_ADDS = 4               -- MQL_DELTA_ADDS
local MAX_ITEMS = 9              -- MQL_DELTA_ITEMS
local function delta_from_binary(s, pos)
    local ok, events, half_life, n, at = pcall(struct.unpack, DELTA_HEAD, s, pos)
    if not ok or n > MAX_ITEMS then return nil end
    local items = NO_ITEMS
    if n > 0 then
        items = {}
        for i = 1, n do
            local ok1, points, group, slot, cap, after = pcall(struct.unpack, DELTA_ITEM, s, at)
            if not ok1 then return nil end
            items[i] = { points, group, slot, cap }
            at = after
        end
    end
    -- into locals, not a table of the values: this parse was a quarter
    -- of the Function's time per page view
    local ok2, has_fit, fit, cc, set_flags, site, need_country, hold, need_counts,
          threshold, countries, tev, trig, nsets, next = pcall(struct.unpack, DELTA_REST, s, at)
    if not ok2 or nsets > MAX_SETS then return nil end
    local sets = NO_ITEMS
    if nsets > 0 then
        sets = {}
        for i = 1, nsets do
            local ok3, name, value, replace, after = pcall(struct.unpack, DELTA_SET, s, next)
            -- a field to set is a string of the record, and set only
            -- with something: as mql_delta_apply does
            if not ok3 or not SETTABLE[name] or replace > 1 then return nil end
            if value ~= '' then sets[#sets + 1] = { name, value, replace == 1 } end
            next = after
        end
    end
    local nadds = string.byte(s, next)
    if not nadds or nadds > MAX_ADDS then return nil end
    next = next + 1
    local adds = NO_ITEMS
    if nadds > 0 then
        adds = {}
        for i = 1, nadds do
            local ok5, name, elem, value, after = pcall(struct.unpack, DELTA_ADD, s, next)
            -- a number of the record, an element it has: as mql_delta.c
            if not ok5 or not ADDABLE[name] or elem >= ADDABLE[name][1] then return nil end
            adds[i] = { name, elem, value }
            next = after
        end
    end
    if string.find(cc, '\0', 1, true) then cc = '' end
    return { events = events, half_life = half_life, items = items, has_fit = has_fit ~= 0,
             fit = fit, cc = cc, set_flags = set_flags, site = site,
             need_country = need_country ~= 0, hold = hold ~= 0, need_counts = need_counts,
             threshold = threshold, countries = countries, tev = tev, trig = trig,
             sets = sets, adds = adds }, next
end

-- An entry as mql_apply_many takes it, one argument, little-endian
-- (mql_redis_entry_binary):
--   KIND (1) ORIGIN (16, hex) SEQ (double) ID (22, text) NOW (uint32), then by kind
--   h  EXPIRE (uint32) DELTA (delta_from_binary)
--   s  STAGE (uint8) EXPIRE (uint32)
--   c  CONTACT (uint16 length, bytes) EXPIRE (uint32)
--   f, g  nothing more
local ENTRY_HEAD = '<c1c16dc22I4'
local function entry_from_binary(s)
    local ok, kind, origin, seq, id, now, pos = pcall(struct.unpack, ENTRY_HEAD, s)
    if not ok then return nil end
    local e = { kind = kind, origin = origin, seq = seq, id = id, now = now }
    if kind == 'h' then
        local ok2, expire, at = pcall(struct.unpack, '<I4', s, pos)
        if not ok2 then return nil end
        local d, next = delta_from_binary(s, at)
        if not d or next ~= #s + 1 then return nil end
        e.expire, e.delta = expire, d
    elseif kind == 's' then
        local ok2, stage, expire, next = pcall(struct.unpack, '<BI4', s, pos)
        if not ok2 or next ~= #s + 1 then return nil end
        e.stage, e.expire = stage, expire
    elseif kind == 'c' then
        local ok2, contact, expire, next = pcall(struct.unpack, '<Hc0I4', s, pos)
        if not ok2 or next ~= #s + 1 then return nil end
        e.contact, e.expire = contact, expire
    elseif (kind ~= 'f' and kind ~= 'g') or pos ~= #s + 1 then
        return nil
    end
    return e
end

-- The record as Redis keeps it and as the sync thread reads it back
-- (mql_redis_record_from_binary): little-endian, the format byte, the
-- number of fields after the contact, the contact (uint16 length and
-- bytes), then the fields of RECORD_LAYOUT.  A record of a build with
-- fewer fields reads with the rest as fresh() has them.
local function pack(v)
    local a, n = { RECORD_FORMAT, #RECORD_LAYOUT, #v.contact, v.contact }, 4
    for _, f in ipairs(RECORD_LAYOUT) do
        local x, kind, len = v[f[1]], f[2], f[3]
        if kind == 'n' and len > 1 then
            for i = 0, len - 1 do a[n + 1 + i] = x[i] end
            n = n + len
        elseif kind == 's' then
            a[n + 1], a[n + 2] = #x, x
            n = n + 2
        elseif kind == 'c' then
            if #x ~= len then x = string.rep('\0', len) end
            a[n + 1] = x
            n = n + 1
        else
            a[n + 1] = x
            n = n + 1
        end
    end
    return struct.pack(RECORD_FORMATS[#RECORD_LAYOUT], unpack(a, 1, n))
end

-- Format 1: the record before its layout came from mql_fields.h, which
-- Redis still holds for leads written then.  Read, never written.
local RECORD_V1 = '<BdI4I4I4HHHHHHHBBBBBBBBBBBBc2Hc0Hc0'
local function unpack_v1(s)
    local x = { struct.unpack(RECORD_V1, s) }
    -- the fields format 1 lacks as fresh() has them, then its own
    local v = fresh(0)
    v.score, v.first, v.last, v.since, v.c, v.k = x[2], x[3], x[4], x[5], {}, {}
    v.stage, v.tev, v.site, v.flags = x[13], x[14], x[15], x[16]
    v.cc, v.trig, v.contact = x[25], x[26], x[27]
    for i = 0, 6 do v.c[i] = x[6 + i] end
    for i = 0, 7 do v.k[i] = x[17 + i] end
    if v.cc == '\0\0' then v.cc = '' end
    return v
end

local function unpack_record(s)
    local format = string.byte(s, 1)
    if format == 1 then return unpack_v1(s) end
    if format ~= RECORD_FORMAT then return nil end
    local nf = string.byte(s, 2)
    if nf > #RECORD_LAYOUT then nf = #RECORD_LAYOUT end
    local x = { struct.unpack(RECORD_FORMATS[nf], s) }
    local v = fresh(0)
    v.contact = x[3]
    local j = 4
    for i = 1, nf do
        local f = RECORD_LAYOUT[i]
        local kind, len = f[2], f[3]
        if kind == 'n' and len > 1 then
            local a = v[f[1]]
            for k = 0, len - 1 do a[k] = x[j + k] end
            j = j + len
        else
            local val = x[j]
            if kind == 'c' and val == string.rep('\0', len) then val = '' end
            v[f[1]] = val
            j = j + 1
        end
    end
    return v
end

-- A visitor's record, or nil.
local function read(vkey)
    local got = redis.call('GET', vkey)
    if got == false then return nil end
    return unpack_record(got)
end

-- A record's stage before and after an entry (nil: no record) as
-- changes of the shard's totals: a record created, one forgotten, a
-- lead's stage left and reached.  Stage 0 is not counted: plain
-- visitors expire in Redis without a word, so no count of them could
-- stay true.
local function tally_stage(count, before, after)
    if before == after then return end
    if before == nil then count('visitors', 1) end
    if after == nil then count('forgotten', 1) end
    if before and before ~= 0 then count('stage' .. before, -1) end
    if after and after ~= 0 then count('stage' .. after, 1) end
end

-- The call's changes of the shard's totals, one HINCRBY per field that
-- changed.  HINCRBY makes the hash when it is absent, without a TTL.
local function write_totals(totalskey, tally)
    for fieldname, by in pairs(tally) do
        if by ~= 0 then redis.call('HINCRBY', totalskey, fieldname, by) end
    end
end

-- Entries in queue order, of one shard (mql_apply_many, on a Cluster)
-- or of any (mql_apply_batch, stream nil): each entry is decided exactly
-- as a call of its own would decide it, but the sequence is read and
-- written once, a visitor's record is read once and written once, and a
-- lead's figures go to the stream once per call rather than once per hit.
--
-- FCALL mql_apply_many N+3 SEQ_KEY STREAM_KEY TOTALS_KEY VKEY_1 .. VKEY_N
-- ENTRY_1 .. ENTRY_N with ENTRY_i for VKEY_i as entry_from_binary reads
-- it; all keys carry the shard's hash tag.  The reply: one string per
-- entry, 'a' (applied) or 'd' (duplicate), followed, for the last entry
-- of each visitor in the call only, by the record after the call
-- (pack; nothing when there is none).
local function apply_entries(seqkey, stream, vkeys, entries, totalskey)
    local n = #entries
    -- stream nil (mql_apply_batch): each entry's change goes to the
    -- stream of its visitor's shard, named by the visitor key's hash tag
    local function stream_for(vkey)
        return stream or (string.match(vkey, '^(.-:)v:') or 'mql:') .. 'changes'
    end
    -- the shard's totals' changes in this call, written once at the end
    local tally = {}
    local function count(fieldname, by)
        tally[fieldname] = (tally[fieldname] or 0) + by
    end
    -- the shard's last number per origin, read once; written once, before
    -- any record, to the highest number in the call
    local last, top = {}, {}
    for i = 1, n do
        local e = entries[i]
        if e.kind ~= 'g' then
            local o, seq = e.origin, e.seq
            if last[o] == nil then
                last[o] = tonumber(redis.call('HGET', seqkey, o) or '0')
                top[o] = last[o]
            end
            if seq > top[o] then top[o] = seq end
        end
    end
    -- its TTL renewed when an origin starts and then every SEQ_RENEW
    -- numbers, not on every call: a TTL check per call cost as much as
    -- the sequence itself
    local renew = false
    for o, t in pairs(top) do
        if t > last[o] then
            redis.call('HSET', seqkey, o, string.format('%d', t))
            if last[o] == 0 or math.floor(t / SEQ_RENEW) ~= math.floor(last[o] / SEQ_RENEW) then
                renew = true
            end
        end
    end
    if renew then
        redis.call('EXPIRE', seqkey, SEQ_TTL)
    end
    -- a visitor's state across the call: rec (nil: none), dirty,
    -- expire, and a lead's figures still to announce
    local state, order, lastof = {}, {}, {}
    local function get(vkey)
        local st = state[vkey]
        if st then return st end
        st = { rec = read(vkey) }
        state[vkey] = st
        order[#order + 1] = vkey
        return st
    end
    local status = {}
    for i = 1, n do
        local e, vkey = entries[i], vkeys[i]
        local kind, o, seq, id, now = e.kind, e.origin, e.seq, e.id, e.now
        local st = get(vkey)
        lastof[vkey] = i
        if kind ~= 'g' and seq <= last[o] then
            status[i] = 'd'
        else
            if kind ~= 'g' then last[o] = seq end
            status[i] = 'a'
            local before = st.rec and st.rec.stage
            if kind == 'f' then
                redis.call('DEL', vkey)
                st.rec, st.dirty, st.pending = nil, false, nil
                announce(stream_for(vkey), 'f', id, 0, nil, now)
            elseif kind ~= 'g' then
                local v = st.rec or fresh(now)
                st.rec = v
                local old = v.stage
                local was_lead = old ~= 0
                local changed = false
                if kind == 'h' then
                    changed = apply_delta(v, e.delta, now)
                elseif kind == 's' then
                    -- 128 + stage: a knock-out's, taken by a plain
                    -- visitor only (MQL_STAGE_IF_VISITOR)
                    local stage, only_visitor = e.stage, e.stage >= 128
                    if only_visitor then stage = stage - 128 end
                    if stage ~= v.stage and (not only_visitor or v.stage == 0) then
                        v.stage = stage
                        v.since = now
                        changed = true
                    end
                else
                    v.contact = e.contact
                end
                st.expire = e.expire
                st.dirty = true
                if changed then
                    -- the change with the record as it is now, in order
                    announce(stream_for(vkey), 's', id, old, strings(pairs_of(v)), now)
                    st.pending = nil
                elseif was_lead or v.stage ~= 0 then
                    -- a lead's figures: every server's leads file
                    -- follows them, once per call is enough
                    st.pending = { id = id, old = old, now = now }
                end
            end
            if kind == 'h' then count('hits', 1) end
            tally_stage(count, before, st.rec and st.rec.stage)
        end
    end
    write_totals(totalskey, tally)
    -- each record written once, with its TTL in the same command: idle
    -- visitors go, leads stay until forgotten (SET without EX drops a TTL)
    for _, vkey in ipairs(order) do
        local st = state[vkey]
        local v = st.rec
        if v and st.dirty then
            st.packed = pack(v)
            if v.stage == 0 and st.expire > 0 then
                redis.call('SET', vkey, st.packed, 'EX', st.expire)
            else
                redis.call('SET', vkey, st.packed)
            end
            if st.pending then
                announce(stream_for(vkey), 'u', st.pending.id, st.pending.old,
                         strings(pairs_of(v)), st.pending.now)
            end
        end
    end
    local out = {}
    for i = 1, n do
        local vkey = vkeys[i]
        local st = state[vkey]
        if lastof[vkey] == i and st.rec then
            st.packed = st.packed or pack(st.rec)
            out[i] = status[i] .. st.packed
        else
            out[i] = status[i]
        end
    end
    return out
end

-- The entries of a call (ARGV) and their visitors (KEYS after the fixed
-- ones), every entry read before anything is written: a malformed call
-- changes nothing.  nil and the error reply when one cannot be read.
local function read_entries(fname, keys, a, fixed)
    local vkeys, entries = {}, {}
    for i = 1, #a do
        entries[i] = entry_from_binary(a[i])
        if not entries[i] then
            return nil, redis.error_reply(fname .. ': entry ' .. i .. ' malformed')
        end
        vkeys[i] = keys[i + fixed]
    end
    return vkeys, entries
end

local function apply_many(keys, a)
    local n = #a
    if #keys ~= n + 3 then
        return redis.error_reply('mql_apply_many: ' .. #keys .. ' keys, ' .. n .. ' entries')
    end
    local vkeys, entries = read_entries('mql_apply_many', keys, a, 3)
    if not vkeys then return entries end
    return apply_entries(keys[1], keys[2], vkeys, entries, keys[3])
end

-- A server's whole batch in one call, on a single Redis, in queue order
-- whatever the shards (on a Cluster a call's keys must share a slot: one
-- mql_apply_many per shard there):
-- FCALL mql_apply_batch N+2 SEQ_KEY TOTALS_KEY VKEY_1 .. VKEY_N ENTRY_1 ..
-- ENTRY_N.  One sequence and one totals hash for the server's calls (the
-- totals are summed over every shard's hash anyway); each change goes to
-- the stream of its visitor's shard.  The sequence, the totals and the
-- call itself are paid once per batch instead of once per shard.
local function apply_batch(keys, a)
    local n = #a
    if #keys ~= n + 2 then
        return redis.error_reply('mql_apply_batch: ' .. #keys .. ' keys, ' .. n .. ' entries')
    end
    local vkeys, entries = read_entries('mql_apply_batch', keys, a, 2)
    if not vkeys then return entries end
    return apply_entries(keys[1], nil, vkeys, entries, keys[2])
end

-- A record as field, value, ...: FCALL_RO mql_fields 1 VKEY, for people
-- and tests.
local function fields(keys)
    local v = read(keys[1])
    if not v then return {} end
    return strings(pairs_of(v))
end

-- A server of the fleet says it is there and learns how many are:
-- FCALL mql_heartbeat 1 SERVERS_KEY SERVER.  SERVERS_KEY is a sorted set
-- of servers (the origin of their queue, no address) by the time of
-- Redis (not theirs: clocks of the fleet may differ) they last said so;
-- the reply counts those heard within HEARTBEAT_FRESH seconds.  Servers
-- silent for HEARTBEAT_GONE seconds leave the set, and the set goes
-- with the fleet.
local HEARTBEAT_FRESH, HEARTBEAT_GONE = 15, 60
local function heartbeat(keys, a)
    local t = redis.call('TIME')
    local now = tonumber(t[1])
    redis.call('ZADD', keys[1], now, a[1])
    redis.call('ZREMRANGEBYSCORE', keys[1], '-inf', '(' .. (now - HEARTBEAT_GONE))
    redis.call('EXPIRE', keys[1], HEARTBEAT_GONE)
    return redis.call('ZCOUNT', keys[1], now - HEARTBEAT_FRESH, '+inf')
end

-- mqlctl forget, straight to Redis (a stopped server cannot queue it):
-- FCALL mql_forget 3 VKEY STREAM_KEY TOTALS_KEY ID NOW.  The record goes
-- and is counted as forgotten; the stream gets the notice every server
-- takes the visitor out of its table and leads files by, as after an 'f'
-- entry.  The reply: 1 and the record's contact ('' when none), or 0 and
-- '' when there was no record.  Its stream entries go with
-- mql_forget_scan, in steps, as a stream may be long.
local function forget(keys, a)
    local vkey, id, now = keys[1], a[1], tonumber(a[2]) or 0
    local v = read(vkey)
    redis.call('DEL', vkey)
    announce(keys[2], 'f', id, 0, nil, now)
    if not v then return { 0, '' } end
    local tally = {}
    tally_stage(function(f, by) tally[f] = (tally[f] or 0) + by end, v.stage, nil)
    write_totals(keys[3], tally)
    return { 1, v.contact }
end

-- Contacts compare as the module normalises them: trimmed, case-folded.
local function norm(s)
    return string.lower((string.gsub(s, '^%s*(.-)%s*$', '%1')))
end

-- FCALL mql_forget_scan 1 STREAM_KEY FROM COUNT ID [CONTACT ...]: up to
-- COUNT entries of the stream after FROM ('-': from its start) read, and
-- those that carry the visitor's ID or one of the contacts deleted (XDEL),
-- but for the forget notices ('f'), which the servers still to read them
-- need and which hold the ID alone.  A step costs Redis about as much as
-- COUNT entries read, so each call stays short however long the stream.
-- The reply: the ID to go on after ('' at the end) and how many went.
local function forget_scan(keys, a)
    local stream, from, count, id = keys[1], a[1], tonumber(a[2]) or 1000, a[3]
    local contacts = {}
    for i = 4, #a do
        if a[i] ~= '' then contacts[norm(a[i])] = true end
    end
    if count < 1 or count > 5000 then count = 1000 end
    local got = redis.call('XRANGE', stream, from == '-' and '-' or '(' .. from, '+',
                           'COUNT', count)
    local gone = {}
    for _, e in ipairs(got) do
        local fv, kind, hit = e[2], nil, false
        for j = 1, #fv - 1, 2 do
            local f, val = fv[j], fv[j + 1]
            if f == 'type' then kind = val
            elseif f == 'id' and val == id then hit = true
            elseif f == 'contact' and val ~= '' and contacts[norm(val)] then hit = true
            end
        end
        if hit and kind ~= 'f' then gone[#gone + 1] = e[1] end
    end
    if #gone > 0 then redis.call('XDEL', stream, unpack(gone)) end
    local next = ''
    if #got == count then next = got[#got][1] end
    return { next, #gone }
end

redis.register_function('mql_heartbeat', heartbeat)
redis.register_function('mql_apply_many', apply_many)
redis.register_function('mql_apply_batch', apply_batch)
redis.register_function('mql_forget', forget)
redis.register_function('mql_forget_scan', forget_scan)
redis.register_function{ function_name = 'mql_fields', callback = fields,
                         flags = { 'no-writes' } }
