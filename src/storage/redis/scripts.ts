/**
 * The Lua scripts of the Redis counter adapter. Each check is one script: atomic (Redis runs a script alone), one
 * round trip, sent as EVALSHA; the connection loads every script once when it becomes ready (SCRIPT LOAD), and a
 * NOSCRIPT answer (SCRIPT FLUSH, a failover to a server that never saw them) is answered by sending the script
 * itself once with EVAL, which caches it again (connection.ts `runScript`).
 *
 * Time: the rate-limit scripts read Redis' own clock (`TIME`) so every gateway node agrees on one time line, whatever
 * their clocks say; `now` < 0 in ARGV asks for it. A caller time (>= 0) is used as it is: the adapter's `clock:
 * 'caller'` option, which lets the accuracy tests drive the very same scripts with an injected clock. Scripts that
 * read TIME and then write need effects replication, the default since Redis 5 (and the only mode since 7).
 *
 * Numbers: Lua 5.1 numbers are doubles. GCRA times are integer microseconds (about 1.8e15 today, exact below 2^53);
 * they are written with '%.0f', never tostring(), whose '%.14g' would round them. Replies are integers except the
 * sliding-window estimate, which is fractional and returned as a '%.17g' string (exact round trip to a JS number),
 * and a lock's end, a '%.0f' string (or nil).
 *
 * Stored data is input too: anything with access to Redis (an operator's HSET, a restored dump, a bug elsewhere)
 * can leave a value these scripts never wrote, and Lua's `tonumber` accepts more than they write: 'nan', 'inf',
 * '-inf', '1e400' (infinity) and '1e300' all parse. A NaN compares false with everything, so a NaN count never
 * reaches a limit (the lockout failed open, forever, since every write refreshed it); an infinite or absurd time
 * never ends. So every stored number goes through `stored_number`: what is not a finite number in [0, 2^53 - 1]
 * (the range the adapter writes, exactly representable) counts as absent, the way a non-numeric 'abc' always did,
 * and the script's next write replaces it. Where a value in that range can still be impossible, the script bounds
 * it too (GCRA, QUOTA, ACQUIRE, and locks without an expiry: see each script).
 */

import { createHash } from 'node:crypto';

/** A script and its SHA-1 (the name EVALSHA runs it by). */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua, 'utf8').digest('hex') };
}

/**
 * A number read back from Redis, or nil when it is absent or damaged (see "Stored data is input too" above): nil
 * for a missing value (`false` from GET/HMGET), a non-numeric text, NaN (the only value for which x ~= x), ±inf,
 * a negative number or one beyond 2^53 - 1. Every script starts with it.
 */
const STORED_NUMBER = `
local MAX_STORED = 9007199254740991
local function stored_number(value)
  local n = tonumber(value)
  if n == nil or n ~= n or n < 0 or n > MAX_STORED then return nil end
  return n
end
`;

/** Shared helpers: the caller's time or Redis' own, in ms and µs. */
const CLOCK = `${STORED_NUMBER}
local function now_us(arg)
  local v = tonumber(arg)
  if v >= 0 then return v * 1000 end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function now_ms(arg)
  local v = tonumber(arg)
  if v >= 0 then return v end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * GCRA (see ports.ts CounterStore) for one key: `key` holds the theoretical arrival time in µs.
 * Reply: {allowed, remaining, retryAfterMs, resetMs, granted}. The key expires exactly when the allowance is full
 * again: an idle key costs nothing. Shared by GCRA_LUA (one key) and GCRA_BATCH_LUA (several), so both decide alike.
 * A damaged TAT counts as absent (a full allowance, as for 'abc'). A TAT more than `tolerance` ahead cannot come
 * from this limit on a clock that only moves forward (each allowed request leaves it at most that far ahead): it
 * is damaged (a TAT years ahead would otherwise refuse for years, as refusals write nothing), left by an earlier
 * config with a larger allowance, or the clock went back. It is cut to `now + tolerance` and written back: an
 * empty allowance that refills at the limit's own rate, never a longer wait.
 *
 * `want` > 1 reserves up to that many units at once for the caller's lease (counters.ts): as many as the allowance
 * holds right now, at least one or the request is refused exactly as a single one would be. Reserved units are
 * spent here, when granted: every unit admitted anywhere was counted here once (see counters.ts LeaseSettings for
 * what using a unit later than it was counted means).
 */
const GCRA_FUNCTION = `
local function gcra(key, interval, burst, now, want)
  local tolerance = burst * interval
  local tat = stored_number(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  if tat > now + tolerance then
    tat = now + tolerance
    redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil(tolerance / 1000))
  end
  local next_tat = tat + interval
  local ahead = next_tat - now
  if ahead > tolerance then
    return {0, 0, math.ceil((ahead - tolerance) / 1000), math.ceil((tat - now) / 1000), 0}
  end
  local granted = 1
  if want > 1 then
    granted = math.min(want, math.floor((tolerance - (tat - now)) / interval))
    if granted < 1 then granted = 1 end
    next_tat = tat + granted * interval
    ahead = next_tat - now
  end
  redis.call('SET', key, string.format('%.0f', next_tat), 'PX', math.ceil(ahead / 1000))
  return {1, math.floor((tolerance - ahead) / interval), 0, math.ceil(ahead / 1000), granted}
end
`;

/** GCRA for KEYS[1]. ARGV: emission interval µs, burst, now ms (or -1), units wanted. Reply: one decision. */
export const GCRA_LUA = `${CLOCK}${GCRA_FUNCTION}
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), now_us(ARGV[3]), tonumber(ARGV[4]) or 1)
`;

/**
 * GCRA for several keys at once: the checks one event-loop turn of a gateway issued (counters.ts batches them),
 * in one round trip and one script run instead of one each. The checks come in groups that share their
 * parameters (a limit has one emission interval, burst and lease size; the clock is Redis' unless a test injects
 * one), so each parameter set is sent once rather than once per key: ARGV[1] is the number of groups, then per
 * group ARGV[5g+2..5g+6] = interval µs, burst, now ms (or -1), units wanted, key count; KEYS hold the groups' keys
 * in group order, and the reply holds one decision per key in KEYS order. (Three arguments per key cost the client
 * about twice the CPU per batch command: ioredis formats every argument on its own.) Redis' clock is read once for
 * the batch. The checks run in KEYS order, so a key named twice is counted twice, exactly as two separate scripts
 * would count it. Grouping keeps the order of the checks within a group; checks of different groups are of
 * different limits, whose keys are namespaced apart (rate-limit/index.ts), so their relative order decides
 * nothing. (With a clock injected by a test, one key checked at two times in one turn is two groups, run in
 * first-seen order of times.) A group list that does not add up to KEYS is refused (an error reply: the callers
 * fail as on any store error).
 */
export const GCRA_BATCH_LUA = `${CLOCK}${GCRA_FUNCTION}
local groups = tonumber(ARGV[1])
local total = 0
for g = 0, groups - 1 do total = total + tonumber(ARGV[5 * g + 6]) end
if total ~= #KEYS then return redis.error_reply('ERR GCRA batch: group counts do not match the keys') end
local server_now = nil
local out = {}
local k = 1
for g = 0, groups - 1 do
  local interval = tonumber(ARGV[5 * g + 2])
  local burst = tonumber(ARGV[5 * g + 3])
  local at = tonumber(ARGV[5 * g + 4])
  local want = tonumber(ARGV[5 * g + 5])
  local now
  if at >= 0 then
    now = at * 1000
  else
    if server_now == nil then server_now = now_us(-1) end
    now = server_now
  end
  for _ = 1, tonumber(ARGV[5 * g + 6]) do
    out[k] = gcra(KEYS[k], interval, burst, now, want)
    k = k + 1
  end
end
return out
`;

/**
 * Calendar quota: KEYS[1] is a hash {s: period start ms, e: period end ms, n: count}.
 * ARGV: limit, 'day' | 'month', now ms (or -1). Reply: {allowed, remaining, retryAfterMs, resetMs}.
 * Month boundaries use Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC), the same
 * calendar as JavaScript's Date.UTC. The stored count is used only while its period's start lies in the current
 * period or at the next one's start; that period's end is computed from its start, never read back (`e` is
 * written for readers of the key). A damaged start, or one beyond the next period (a start in the year 10^300
 * would count into a period that never ends), counts as absent: a fresh period from 0, as a non-numeric start
 * always did. A damaged count is 0 likewise. So nothing stored outlasts the next period.
 */
export const QUOTA_LUA = `${CLOCK}
local DAY = 86400000
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m
end
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
-- The start and end of the period holding time t.
local function period_of(t)
  if ARGV[2] == 'day' then
    local first = t - (t % DAY)
    return first, first + DAY
  end
  local y, m = civil_from_days(math.floor(t / DAY))
  local first = days_from_civil(y, m, 1) * DAY
  if m == 12 then y = y + 1; m = 1 else m = m + 1 end
  return first, days_from_civil(y, m, 1) * DAY
end
local limit = tonumber(ARGV[1])
local now = now_ms(ARGV[3])
local start, finish = period_of(now)
local stored = redis.call('HMGET', KEYS[1], 's', 'n')
local count = 0
local s = stored_number(stored[1])
if s ~= nil and s >= start and s <= finish then
  -- The current period, or (callers' clocks disagreeing) the next one: count into the later.
  start, finish = period_of(s)
  count = stored_number(stored[2]) or 0
end
if count >= limit then
  return {0, 0, finish - now, finish - now}
end
redis.call('HSET', KEYS[1], 's', string.format('%.0f', start), 'e', string.format('%.0f', finish), 'n', count + 1)
redis.call('PEXPIRE', KEYS[1], math.max(finish - now, 0) + 60000)
return {1, limit - count - 1, 0, finish - now}
`;

/**
 * Concurrency slots: KEYS[1] is a sorted set of lease ids scored by their expiry (ms). Expired leases (a node died
 * holding them) are dropped first. ARGV: limit, lease id, lease ms, now ms (or -1). Reply: slots left, or -1.
 * Redis scores may be ±inf (never NaN): a lease ending at -inf is expired like any past one; one ending later than
 * `now + lease` (+inf, 1e300, or a longer lease of an earlier config) would hold its slot forever, as every
 * acquire refreshes the key's expiry, so it is cut to `now + lease`: it still holds its slot, for one lease at most.
 */
export const ACQUIRE_LUA = `${CLOCK}
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[3])
local now = now_ms(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local latest = string.format('%.0f', now + lease)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. latest, '+inf')) do
  redis.call('ZADD', KEYS[1], latest, id)
end
local held = redis.call('ZCARD', KEYS[1])
if held >= limit then return -1 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease), ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease)
return limit - held - 1
`;

/**
 * Sliding-window counter (brute-force counters; see ports.ts): KEYS[1] is a hash {w: window ms, i: bucket index,
 * c: current count, p: previous count}. ARGV: window ms, now ms (the caller's: these windows are minutes long and
 * the port's contract fixes the caller's time), 1 to add an event or 0 to read. Reply: the estimate as a string.
 * Same arithmetic, in the same order, as memory/counters.ts and shared.ts slidingWindowCount.
 * A damaged field counts as absent: a damaged count is 0 and is overwritten by the next event, a damaged window
 * or bucket index starts the counter afresh. So a failure counter set to 'nan' or 'inf' counts from 1 again
 * instead of answering NaN for ever (a lockout that never locks). A count in range, however large, is kept: it
 * locks (fails closed) and ends with the key, which expires two windows after the last event.
 */
export const WINDOW_LUA = `${STORED_NUMBER}
local w = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local add = ARGV[3] == '1'
local idx = math.floor(now / w)
local h = redis.call('HMGET', KEYS[1], 'w', 'i', 'c', 'p')
local ci = stored_number(h[2])
local cc = stored_number(h[3]) or 0
local cp = stored_number(h[4]) or 0
if stored_number(h[1]) ~= w then ci = nil; cc = 0; cp = 0 end
local weight = (w - (now % w)) / w
if add then
  if ci == nil then
    ci = idx; cc = 0; cp = 0
  elseif idx > ci then
    if idx == ci + 1 then cp = cc else cp = 0 end
    cc = 0
    ci = idx
  end
  cc = cc + 1
  redis.call('HSET', KEYS[1], 'w', w, 'i', string.format('%.0f', ci), 'c', cc, 'p', cp)
  redis.call('PEXPIRE', KEYS[1], 2 * w)
  return string.format('%.17g', cc + cp * weight)
end
if ci == nil then return '0' end
if idx == ci then return string.format('%.17g', cc + cp * weight) end
if idx == ci + 1 then return string.format('%.17g', 0 + cc * weight) end
if idx < ci then return string.format('%.17g', cc) end
return '0'
`;

/**
 * The stored end of a lock (ms): nil when there is no lock, false when the stored one is damaged. Damaged: not a
 * number `stored_number` accepts (an 'Infinity' would outlast every new lock yet read as unlocked in JS; '1e300'
 * would lock for ever), or a key without an expiry, which LOCK_LUA never leaves (every key of this adapter
 * carries one): only something else wrote it, and nothing would ever end it.
 */
const STORED_LOCK_END = `${STORED_NUMBER}
local function stored_lock_end(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  local untilv = stored_number(raw)
  if untilv == nil or redis.call('PTTL', key) < 0 then return false end
  return untilv
end
`;

/**
 * Lock until a time (keeps a later existing lock; a damaged one is replaced): KEYS[1] holds the lock's end (ms).
 * ARGV: until ms. The key outlives the lock by a minute (measured on Redis' clock) so callers whose clocks run a
 * little behind still see it; `lockedUntil` compares the end with the caller's `now`.
 */
export const LOCK_LUA = `${STORED_LOCK_END}
local untilv = tonumber(ARGV[1])
local current = stored_lock_end(KEYS[1])
if current and current >= untilv then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = untilv - now
if ttl < 0 then ttl = 0 end
redis.call('SET', KEYS[1], string.format('%.0f', untilv), 'PX', math.floor(ttl) + 60000)
return 1
`;

/**
 * The end of KEYS[1]'s lock, as a '%.0f' string, or nil when there is none (ended locks included: the caller
 * compares with its own `now`). ARGV: now ms (the caller's), hold ms. A damaged lock fails closed but bounded: it
 * is replaced, atomically, by a lock from `now` for `hold` (expiring like any lock), whose end is the reply. Read
 * as unlocked it would open a lock; kept, it might never end (nothing calls `lockUntil` while a key reads as
 * locked); and a later `lockUntil` replaces it as usual.
 */
export const LOCKED_LUA = `${STORED_LOCK_END}
local current = stored_lock_end(KEYS[1])
if current == nil then return false end
if current then return string.format('%.0f', current) end
local hold = tonumber(ARGV[2])
local repaired = string.format('%.0f', tonumber(ARGV[1]) + hold)
redis.call('SET', KEYS[1], repaired, 'PX', hold + 60000)
return repaired
`;

export const GCRA = script(GCRA_LUA);
export const GCRA_BATCH = script(GCRA_BATCH_LUA);
export const QUOTA = script(QUOTA_LUA);
export const ACQUIRE = script(ACQUIRE_LUA);
export const WINDOW = script(WINDOW_LUA);
export const LOCK = script(LOCK_LUA);
export const LOCKED = script(LOCKED_LUA);
/** Every script, loaded on each connection when it becomes ready. */
export const COUNTER_SCRIPTS: readonly LuaScript[] = [GCRA, GCRA_BATCH, QUOTA, ACQUIRE, WINDOW, LOCK, LOCKED];
