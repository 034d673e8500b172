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
 * sliding-window estimate, which is fractional and returned as a '%.17g' string (exact round trip to a JS number).
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

/** Shared helpers: the caller's time or Redis' own, in ms and µs. */
const CLOCK = `
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
 * Reply: {allowed, remaining, retryAfterMs, resetMs}. The key expires exactly when the allowance is full again: an
 * idle key costs nothing. Shared by GCRA_LUA (one key) and GCRA_BATCH_LUA (several), so both decide alike.
 */
const GCRA_FUNCTION = `
local function gcra(key, interval, burst, now)
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local next_tat = tat + interval
  local ahead = next_tat - now
  local tolerance = burst * interval
  if ahead > tolerance then
    return {0, 0, math.ceil((ahead - tolerance) / 1000), math.ceil((tat - now) / 1000)}
  end
  redis.call('SET', key, string.format('%.0f', next_tat), 'PX', math.ceil(ahead / 1000))
  return {1, math.floor((tolerance - ahead) / interval), 0, math.ceil(ahead / 1000)}
end
`;

/** GCRA for KEYS[1]. ARGV: emission interval µs, burst, now ms (or -1). Reply: one decision. */
export const GCRA_LUA = `${CLOCK}${GCRA_FUNCTION}
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), now_us(ARGV[3]))
`;

/**
 * GCRA for several keys at once: the checks one event-loop turn of a gateway issued (counters.ts batches them),
 * in one round trip and one script run instead of one each. KEYS[i] gets ARGV[3i-2..3i] (interval µs, burst,
 * now ms or -1) and the i-th decision of the reply. Redis' clock is read once for the batch. The checks run in
 * order, so a key named twice is counted twice, exactly as two separate scripts would count it.
 */
export const GCRA_BATCH_LUA = `${CLOCK}${GCRA_FUNCTION}
local server_now = nil
local out = {}
for i = 1, #KEYS do
  local at = tonumber(ARGV[3 * i])
  local now
  if at >= 0 then
    now = at * 1000
  else
    if server_now == nil then server_now = now_us(-1) end
    now = server_now
  end
  out[i] = gcra(KEYS[i], tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), now)
end
return out
`;

/**
 * Calendar quota: KEYS[1] is a hash {s: period start ms, e: period end ms, n: count}.
 * ARGV: limit, 'day' | 'month', now ms (or -1). Reply: {allowed, remaining, retryAfterMs, resetMs}.
 * Month boundaries use Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC), the same
 * calendar as JavaScript's Date.UTC.
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
local limit = tonumber(ARGV[1])
local now = now_ms(ARGV[3])
local start
local finish
if ARGV[2] == 'day' then
  start = now - (now % DAY)
  finish = start + DAY
else
  local y, m = civil_from_days(math.floor(now / DAY))
  start = days_from_civil(y, m, 1) * DAY
  if m == 12 then y = y + 1; m = 1 else m = m + 1 end
  finish = days_from_civil(y, m, 1) * DAY
end
local stored = redis.call('HMGET', KEYS[1], 's', 'e', 'n')
local count = 0
local s = tonumber(stored[1])
if s ~= nil and s >= start then
  -- The current period, or (callers' clocks disagreeing) a later one: count into the later.
  start = s
  finish = tonumber(stored[2]) or finish
  count = tonumber(stored[3]) or 0
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
 */
export const ACQUIRE_LUA = `${CLOCK}
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[3])
local now = now_ms(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
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
 */
export const WINDOW_LUA = `
local w = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local add = ARGV[3] == '1'
local idx = math.floor(now / w)
local h = redis.call('HMGET', KEYS[1], 'w', 'i', 'c', 'p')
local ci = tonumber(h[2])
local cc = tonumber(h[3]) or 0
local cp = tonumber(h[4]) or 0
if tonumber(h[1]) ~= w then ci = nil; cc = 0; cp = 0 end
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
 * Lock until a time (keeps a later existing lock): KEYS[1] holds the lock's end (ms). ARGV: until ms.
 * The key outlives the lock by a minute (measured on Redis' clock) so callers whose clocks run a little behind
 * still see it; `lockedUntil` compares the end with the caller's `now`.
 */
export const LOCK_LUA = `
local untilv = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]))
if current ~= nil and current >= untilv then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = untilv - now
if ttl < 0 then ttl = 0 end
redis.call('SET', KEYS[1], string.format('%.0f', untilv), 'PX', math.floor(ttl) + 60000)
return 1
`;

export const GCRA = script(GCRA_LUA);
export const GCRA_BATCH = script(GCRA_BATCH_LUA);
export const QUOTA = script(QUOTA_LUA);
export const ACQUIRE = script(ACQUIRE_LUA);
export const WINDOW = script(WINDOW_LUA);
export const LOCK = script(LOCK_LUA);
/** Every script, loaded on each connection when it becomes ready. */
export const COUNTER_SCRIPTS: readonly LuaScript[] = [GCRA, GCRA_BATCH, QUOTA, ACQUIRE, WINDOW, LOCK];
