#!lua name=mql
--
-- mod_mql's Redis Function library (MQLStore redis://): applies what the
-- servers of a fleet queued, atomically, so that capped rules, the
-- threshold, MQLRequire, decay and the stage change are decided once for
-- the whole fleet.  The module loads it (FUNCTION LOAD REPLACE) on every
-- connection: Functions are kept by Redis across restarts and
-- replicated, which EVALSHA's script cache is not.
--
-- FCALL mql_apply_many N+2 SEQ_KEY STREAM_KEY VKEY_1 .. VKEY_N  ENTRY_1 .. ENTRY_N
-- applies N entries of one shard in queue order (see apply_many below);
-- FCALL mql_apply 3 VKEY SEQ_KEY STREAM_KEY ENTRY is the same for one.
-- All keys of a call share one hash tag (the shard), so every call is
-- valid on a Redis Cluster.
--
-- A visitor's record is one string (see RECORD), not a hash of 26
-- fields: one GET and one SET per visitor and call, packed and unpacked
-- by the struct library in C, where a hash cost Redis a quadratic
-- listpack update and 26 number conversions each way.  A record still
-- held as a hash (an earlier version of this library) is read as such
-- and written back as a string.  FCALL_RO mql_fields 1 VKEY gives a
-- record as field, value, ... for people and tests.
--
-- Idempotence: each server (ORIGIN) numbers what it queues (SEQ); SEQ_KEY
-- keeps the last number applied per origin in this shard, and an entry
-- whose number is not above it changes nothing (a batch sent again after
-- a lost reply).  Nothing here stores an IP address.

local VF_COUNTRY, VF_FIT = 1, 2
local EV_DOWNLOAD, EV_FORM = 1, 2
local REQ_DOWNLOAD, REQ_FORM, REQ_COUNTRY = 1, 2, 4
local STREAM_MAXLEN = '100000'
local SEQ_TTL = 30 * 86400       -- an origin's numbers outlive any queue

local function bit_set(mask, bit)
    return math.floor(mask / (2 ^ bit)) % 2 == 1
end

-- The record from its hash as read (field -> value).
local function load_raw(r)
    local v = {}
    v.score = tonumber(r.score) or 0
    v.first = tonumber(r.first) or 0
    v.last = tonumber(r.last) or 0
    v.since = tonumber(r.since) or 0
    v.c, v.k = {}, {}
    for i = 0, 6 do v.c[i] = tonumber(r['c' .. i]) or 0 end
    for i = 0, 7 do v.k[i] = tonumber(r['k' .. i]) or 0 end
    v.stage = tonumber(r.stage) or 0
    v.tev = tonumber(r.tev) or 0
    v.site = tonumber(r.site) or 0
    v.flags = tonumber(r.flags) or 0
    v.cc = r.cc or ''
    v.trig = r.trig or ''
    v.contact = r.contact or ''
    return v
end

local function fresh(now)
    local v = { score = 0, first = now, last = now, since = now, c = {}, k = {},
                stage = 0, tev = 0, site = 0, flags = 0, cc = '', trig = '', contact = '' }
    for i = 0, 6 do v.c[i] = 0 end
    for i = 0, 7 do v.k[i] = 0 end
    return v
end

-- The record as field, value, ...: built once per call
-- and used for HSET, the stream and the reply alike.
local function pairs_of(v)
    local c, k = v.c, v.k
    return { 'score', string.format('%.17g', v.score), 'first', string.format('%d', v.first),
             'last', string.format('%d', v.last), 'since', string.format('%d', v.since),
             'c0', c[0], 'c1', c[1], 'c2', c[2], 'c3', c[3], 'c4', c[4], 'c5', c[5], 'c6', c[6],
             'stage', v.stage, 'tev', v.tev, 'site', v.site, 'flags', v.flags, 'cc', v.cc,
             'k0', k[0], 'k1', k[1], 'k2', k[2], 'k3', k[3], 'k4', k[4], 'k5', k[5],
             'k6', k[6], 'k7', k[7], 'trig', v.trig, 'contact', v.contact }
end

local function alpha2(cc)
    return cc ~= nil and string.match(cc, '^%a%a$') ~= nil
end

local function country_in(packed, cc)
    if not alpha2(cc) then return false end
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

-- The hit as mql_score_hit applies it (mql_score.c), in the same order:
-- decay, events, rules, fit, last_seen, promotion, country flag, site.
local function apply_hit(v, a, now)
    local events = tonumber(a[6])
    local half_life = tonumber(a[13])
    if half_life > 0 and now > v.last then
        v.score = v.score * 2 ^ (-(now - v.last) / half_life)
    end
    v.score = v.score + tonumber(a[7])
    for ev = 0, 6 do
        if bit_set(events, ev) and v.c[ev] < 65535 then v.c[ev] = v.c[ev] + 1 end
    end
    -- rules matched by the server that saw the request: uncapped ones
    -- summed, capped ones as slot:points:cap, paid while under the cap
    v.score = v.score + tonumber(a[8])
    for slot, pts, cap in string.gmatch(a[9], '(%d+):(%-?%d+):(%d+)') do
        slot, pts, cap = tonumber(slot), tonumber(pts), tonumber(cap)
        if slot >= 0 and slot <= 7 and v.k[slot] < tonumber(cap) then
            v.k[slot] = v.k[slot] + 1
            v.score = v.score + pts
        end
    end
    local cc = a[10]
    if alpha2(cc) then
        if v.cc == '' then v.cc = string.upper(cc) end
        if a[11] ~= '' and not bit_set(v.flags, 1) then
            v.score = v.score + tonumber(a[11])
            v.flags = v.flags + VF_FIT
        end
    end
    if now > v.last then v.last = now end
    local changed = false
    local req = tonumber(a[14])
    if a[16] == '0' and v.stage == 0 and v.score >= tonumber(a[12])
        and (not bit_set(req, 0) or v.c[EV_DOWNLOAD] >= 1)
        and (not bit_set(req, 1) or v.c[EV_FORM] >= 1)
        and (not bit_set(req, 2) or country_in(a[15], v.cc)) then
        v.stage = 1
        v.since = now
        v.tev = tonumber(a[20])
        v.trig = a[18]
        changed = true
    end
    if cc ~= '' and not bit_set(v.flags, 0) then v.flags = v.flags + VF_COUNTRY end
    return changed
end

-- Numbers in a reply would become integers: the record's go as strings.
local function strings(fv)
    for i = 2, #fv, 2 do
        if type(fv[i]) == 'number' then fv[i] = string.format('%d', fv[i]) end
    end
    return fv
end

-- mql_apply's ARGV count by kind, for mql_apply_many's entries
local NARGS = { h = 20, s = 7, c = 7, f = 5, g = 5 }

-- The record as Redis keeps it and as the sync thread reads it back
-- (mql_redis_record_from_binary): little-endian, a format byte, score
-- (double), first, last, since (uint32), c0..c6 (uint16), stage, tev,
-- site, flags, k0..k7 (uint8), cc (2 bytes, zeros for none), then trig
-- and contact each as a uint16 length and its bytes.
local RECORD = '<BdI4I4I4HHHHHHHBBBBBBBBBBBBc2Hc0Hc0'
local RECORD_FORMAT = 1

local function pack(v)
    local c, k = v.c, v.k
    local cc = v.cc
    if #cc ~= 2 then cc = '\0\0' end
    return struct.pack(RECORD, RECORD_FORMAT, v.score, v.first, v.last, v.since,
                       c[0], c[1], c[2], c[3], c[4], c[5], c[6],
                       v.stage, v.tev, v.site, v.flags,
                       k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7],
                       cc, #v.trig, v.trig, #v.contact, v.contact)
end

local function unpack_record(s)
    if string.byte(s, 1) ~= RECORD_FORMAT then return nil end
    local x = { struct.unpack(RECORD, s) }
    local v = { score = x[2], first = x[3], last = x[4], since = x[5], c = {}, k = {},
                stage = x[13], tev = x[14], site = x[15], flags = x[16],
                cc = x[25], trig = x[26], contact = x[27] }
    for i = 0, 6 do v.c[i] = x[6 + i] end
    for i = 0, 7 do v.k[i] = x[17 + i] end
    if v.cc == '\0\0' then v.cc = '' end
    return v
end

-- A visitor's record, or nil: a string, or a hash left by an earlier
-- version of this library.
local function read(vkey)
    local got = redis.pcall('GET', vkey)
    if type(got) == 'string' then
        return unpack_record(got)
    elseif got == false then
        return nil
    end
    local raw = redis.call('HGETALL', vkey)
    if #raw == 0 then return nil end
    local r = {}
    for j = 1, #raw, 2 do r[raw[j]] = raw[j + 1] end
    return load_raw(r)
end

-- Several entries of one shard in one call (the sync thread groups a
-- batch by shard): each entry is decided exactly as one call of its own
-- would decide it, in order, but the shard's sequence is read and written
-- once, a visitor's record is read once and written once, and a lead's figures go to the stream once per
-- call rather than once per hit.  All keys carry the shard's hash tag.
--
-- FCALL mql_apply_many N+2 SEQ_KEY STREAM_KEY VKEY_1 .. VKEY_N  ENTRY_1 .. ENTRY_N
-- where ENTRY_i is mql_apply's ARGV for VKEY_i:
--   KIND ORIGIN SEQ ID NOW, then by kind
--   h  EVENTS EV_POINTS RULE_POINTS CAPPED COUNTRY FIT THRESHOLD HALF_LIFE
--      REQUIRE REQUIRE_COUNTRIES HOLD SITE TRIGGER EXPIRE TRIGGER_EVENT
--   s  STAGE EXPIRE           (mqlctl set)
--   c  CONTACT EXPIRE         (X-MQL-Contact)
--   f                         (mqlctl forget)
--   g                         (the record, changing nothing)
-- The reply: one string per entry, 'a' (applied) or 'd' (duplicate),
-- followed, for the last entry of each visitor in the call only, by the
-- record after the call (RECORD; nothing when there is none).
local function apply_many(keys, a)
    local seqkey, stream = keys[1], keys[2]
    local n = #keys - 2
    local entries, pos = {}, 1
    -- every entry parsed before anything is written: a malformed call
    -- changes nothing
    for i = 1, n do
        local kind = a[pos]
        local cnt = NARGS[kind]
        if not cnt or pos + cnt - 1 > #a then
            return redis.error_reply('mql_apply_many: bad entry ' .. i)
        end
        entries[i] = { unpack(a, pos, pos + cnt - 1) }
        pos = pos + cnt
    end
    if pos - 1 ~= #a then
        return redis.error_reply('mql_apply_many: ' .. (#a - pos + 1) .. ' arguments too many')
    end
    -- the shard's last number per origin, read once; written once, before
    -- any record, to the highest number in the call
    local last, top = {}, {}
    for i = 1, n do
        local e = entries[i]
        if e[1] ~= 'g' then
            local o, seq = e[2], tonumber(e[3])
            if last[o] == nil then
                last[o] = tonumber(redis.call('HGET', seqkey, o) or '0')
                top[o] = last[o]
            end
            if seq > top[o] then top[o] = seq end
        end
    end
    local touched = false
    for o, t in pairs(top) do
        if t > last[o] then
            redis.call('HSET', seqkey, o, string.format('%d', t))
            touched = true
        end
    end
    if touched and redis.call('TTL', seqkey) < SEQ_TTL - 86400 then
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
        local e, vkey = entries[i], keys[i + 2]
        local kind, o, seq, id, now = e[1], e[2], tonumber(e[3]), e[4], tonumber(e[5])
        local st = get(vkey)
        lastof[vkey] = i
        if kind ~= 'g' and seq <= last[o] then
            status[i] = 'd'
        else
            if kind ~= 'g' then last[o] = seq end
            status[i] = 'a'
            if kind == 'f' then
                redis.call('DEL', vkey)
                st.rec, st.dirty, st.pending = nil, false, nil
                announce(stream, 'f', id, 0, nil, now)
            elseif kind ~= 'g' then
                local v = st.rec or fresh(now)
                st.rec = v
                local old = v.stage
                local was_lead = old ~= 0
                local changed = false
                if kind == 'h' then
                    changed = apply_hit(v, e, now)
                    if not was_lead then v.site = tonumber(e[17]) end
                    st.expire = tonumber(e[19])
                elseif kind == 's' then
                    local stage = tonumber(e[6])
                    if stage ~= v.stage then
                        v.stage = stage
                        v.since = now
                        changed = true
                    end
                    st.expire = tonumber(e[7])
                else
                    v.contact = e[6]
                    st.expire = tonumber(e[7])
                end
                st.dirty = true
                if changed then
                    -- the change with the record as it is now, in order
                    announce(stream, 's', id, old, strings(pairs_of(v)), now)
                    st.pending = nil
                elseif was_lead or v.stage ~= 0 then
                    -- a lead's figures: every server's leads file
                    -- follows them, once per call is enough
                    st.pending = { id = id, old = old, now = now }
                end
            end
        end
    end
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
                announce(stream, 'u', st.pending.id, st.pending.old, strings(pairs_of(v)),
                         st.pending.now)
            end
        end
    end
    local out = {}
    for i = 1, n do
        local vkey = keys[i + 2]
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

-- One entry: FCALL mql_apply 3 VKEY SEQ_KEY STREAM_KEY  KIND ORIGIN SEQ ID NOW ...
-- (the sync thread sends mql_apply_many; this is for one-off use).
local function apply(keys, a)
    return apply_many({ keys[2], keys[3], keys[1] }, a)
end

-- A record as field, value, ... (as HGETALL gave it when records were
-- hashes): FCALL_RO mql_fields 1 VKEY, for people and tests.
local function fields(keys)
    local v = read(keys[1])
    if not v then return {} end
    return strings(pairs_of(v))
end

redis.register_function('mql_apply', apply)
redis.register_function('mql_apply_many', apply_many)
redis.register_function{ function_name = 'mql_fields', callback = fields,
                         flags = { 'no-writes' } }
