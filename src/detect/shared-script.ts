/**
 * The one Lua script of shared detector state (shared.ts): a batch of per-key deltas from one gateway process
 * applied atomically, the cluster-wide counts read back, thresholds judged, the cluster cool-down lock taken, and
 * the repeats of ended cool-downs handed to the process that raised them, in one round trip per batch. Redis runs a script alone, so two processes syncing the same key at the same moment
 * are serialised: the first sees its own share, the second sees the sum and is the one that raises.
 *
 * ARGV[1] is the batch as JSON (cjson is part of Redis' Lua):
 *
 *   { p: key prefix,
 *     c: claims   [[detector, key hash, signal, at, cooldown ms, n, report 0|1], ...],
 *     d: per detector { n: detector, w: window ms, cap: distinct cap (0: none),
 *                       s: signals [[name, 'c'|'d' (count or distinct), threshold, cooldown ms], ...],
 *                       k: keys [[key hash, at, hits, count delta, [value hash, seen at, ...]], ...] },
 *     f: forwards [[detector, key hash, signal, cooldown ms, n], ...],
 *     e: ends     [[detector, key hash, signal, end], ...] }
 *
 * Reply: JSON rows [group (0 for a claim, -1 for an end), index, signal, won 0|1, count, distinct, x], where x is
 * the repeats suppressed since the previous event when won (reported with it), else the time the holder's cool-down
 * ends; for an end, x is the repeats handed over. Claims come first, so a cool-down taken while this process judged
 * alone (Redis unreachable) is in place before its backlog of deltas is judged. A claim that does not report (such a
 * cool-down, told late) leaves the suppressed count alone: it belongs to whoever asks at a cool-down's end.
 *
 * Ends come last, after the deltas and forwards of the same batch were counted. An end is asked by the process that
 * raised, once its cool-down (ending at `end`, the value its lock holds) is over: if a lock ending later is held,
 * another raise has taken over since and it (or its own end) reports the repeats, so the answer is 0; otherwise the
 * suppressed count is taken (GET and DEL, atomically, so no repeat is reported twice) and returned. A forward adds
 * the repeats a process counted on its own during a cool-down another process holds (it lost the claim).
 *
 * Keys (all under the prefix, all with a TTL, every attacker-chosen part a fixed-length hash):
 *   <detector>:<key>:n:<window index>  INCRBY counter of one fixed window (TTL 2 windows: it is the "previous"
 *                                      window of the next one)
 *   <detector>:<key>:set               ZSET value hash -> last seen (TTL 1 window, trimmed to the window and the cap)
 *   <detector>:<key>:lock:<signal>     cool-down lock, value = the caller-clock time it ends (TTL the cool-down)
 *   <detector>:<key>:sup:<signal>      repeats seen during the cool-down (TTL 2 cool-downs)
 *
 * Time: every time is the caller's (observation times, the injected clock), never Redis TIME, so replayed traces
 * drive the same script as live traffic. The lock is `SET key until PX cooldown` taken only when no lock ends after
 * `at`: with a live clock exactly SET NX PX; with an injected clock running faster than the wall clock the stored end
 * time decides and the TTL only bounds memory. Counts over a sliding window are the two-fixed-window estimate of
 * state.ts SlidingCount, with windows aligned to the epoch so every process agrees on them.
 *
 * Needs Redis >= 6.2 (ZADD GT). The script touches keys it builds from its argument, so it runs on a standalone or
 * replicated Redis, not on Redis Cluster (whose scripts must declare their keys).
 */
export const DETECT_SYNC_LUA = `
local batch = cjson.decode(ARGV[1])
local prefix = batch.p
local out = {}

local function int(x) return string.format('%.0f', x) end

local function addRepeats(sk, n, cooldown)
  if n > 0 then
    redis.call('INCRBY', sk, n)
    redis.call('PEXPIRE', sk, 2 * cooldown)
  end
end

local function take(sk)
  local suppressed = tonumber(redis.call('GET', sk)) or 0
  if suppressed > 0 then redis.call('DEL', sk) end
  return suppressed
end

local function lock(base, signal, at, cooldown, n, report)
  local lk = base .. ':lock:' .. signal
  local sk = base .. ':sup:' .. signal
  local held = tonumber(redis.call('GET', lk))
  if held ~= nil and held > at then
    addRepeats(sk, n, cooldown)
    return 0, held
  end
  redis.call('SET', lk, int(at + cooldown), 'PX', cooldown)
  if not report then return 1, 0 end
  return 1, take(sk)
end

local function ended(base, signal, e)
  local held = tonumber(redis.call('GET', base .. ':lock:' .. signal))
  if held ~= nil and held > tonumber(int(e)) then return 0 end
  return take(base .. ':sup:' .. signal)
end

local function windowed(base, w, at, delta)
  local index = math.floor(at / w)
  local current = base .. ':n:' .. int(index)
  local count
  if delta > 0 then
    count = redis.call('INCRBY', current, delta)
    redis.call('PEXPIRE', current, 2 * w)
  else
    count = tonumber(redis.call('GET', current)) or 0
  end
  local previous = tonumber(redis.call('GET', base .. ':n:' .. int(index - 1))) or 0
  return count + previous * (1 - (at - index * w) / w)
end

local function distinct(base, w, cap, at, values)
  local set = base .. ':set'
  local i = 1
  while i <= #values do
    local args = {}
    while i <= #values and #args < 1000 do
      args[#args + 1] = values[i + 1]
      args[#args + 1] = values[i]
      i = i + 2
    end
    redis.call('ZADD', set, 'GT', unpack(args))
  end
  if #values > 0 then redis.call('PEXPIRE', set, w) end
  redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. int(at - w))
  local n = redis.call('ZCARD', set)
  if n > cap then
    redis.call('ZREMRANGEBYRANK', set, 0, n - cap - 1)
    n = cap
  end
  return n
end

for i, c in ipairs(batch.c) do
  local won, x = lock(prefix .. c[1] .. ':' .. c[2], c[3], c[4], c[5], c[6], c[7] == 1)
  if c[7] == 1 then out[#out + 1] = {0, i, 0, won, 0, 0, x} end
end

for g, d in ipairs(batch.d) do
  for i, k in ipairs(d.k) do
    local base = prefix .. d.n .. ':' .. k[1]
    local at = k[2]
    local count = windowed(base, d.w, at, k[4])
    local n = 0
    if d.cap > 0 then n = distinct(base, d.w, d.cap, at, k[5]) end
    for s, signal in ipairs(d.s) do
      local measure = count
      if signal[2] == 'd' then measure = n end
      if measure >= signal[3] then
        local won, x = lock(base, signal[1], at, signal[4], k[3], true)
        out[#out + 1] = {g, i, s, won, count, n, x}
      end
    end
  end
end

for _, f in ipairs(batch.f or {}) do
  addRepeats(prefix .. f[1] .. ':' .. f[2] .. ':sup:' .. f[3], f[5], f[4])
end

for i, e in ipairs(batch.e or {}) do
  out[#out + 1] = {-1, i, 0, 0, 0, 0, ended(prefix .. e[1] .. ':' .. e[2], e[3], e[4])}
end

if #out == 0 then return '[]' end
return cjson.encode(out)
`;
