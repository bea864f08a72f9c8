-- Lua scripts of the Redis backend (wg_core/backends/redis/), one per transition.
--
-- Every key a script touches is passed in KEYS, so that with the hash-tag option each
-- script is single-slot (Redis Cluster). The "prelude" block is prepended to every
-- other block. Job states in the id index ({ns}:ids, job id -> location) are one letter
-- followed by the location: q<envelope> (in {ns}:jobs), s<envelope> ({ns}:schedule),
-- t<envelope> ({ns}:retry), d<envelope> ({ns}:dead), r<token> (running).
-- Stored text whose id cannot be read from it (text that is not an envelope, given an id
-- at enqueue; the dead-letter envelope of such a job) has that id in {ns}:aliases
-- (text -> job id), so that claims, listings and look-ups agree on the job's id.
-- Times are Unix seconds from the server's clock (TIME); Lua numbers are returned as
-- strings because Redis truncates Lua numbers to integers in replies.

-- name: prelude
local function now_seconds()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000, t
end

-- The job id of an envelope: a pattern for the usual compact layout (both the Rust and
-- the Python writers put "id" first), else a full decode; nil for text that is not an
-- envelope (the worker buries it with the decode error).
local function envelope_id(raw)
  local id = string.match(raw, '^{"id":"([^"\\]*)"')
  if id then
    return id
  end
  local ok, doc = pcall(cjson.decode, raw)
  if ok and type(doc) == 'table' and type(doc.id) == 'string' then
    return doc.id
  end
  return nil
end

-- The id a stored text is known by: its alias if it has one, else its own.
local function stored_id(aliases, raw)
  return redis.call('HGET', aliases, raw) or envelope_id(raw)
end

-- Whether `raw` says it is job `id`: the compact layout's prefix, else a full decode.
local function says_id(raw, id)
  if string.sub(raw, 1, #id + 8) == '{"id":"' .. id .. '"' then
    return true
  end
  return envelope_id(raw) == id
end

-- Attempt tokens: a per-namespace counter, prefixed with the server time so that tokens
-- stay unique across destroy() (which resets the counter).
local function token_factory(seq_key, count, t)
  local last = redis.call('INCRBY', seq_key, count)
  local first = last - count
  local prefix = string.format('%s%06d-', t[1], tonumber(t[2]))
  local n = 0
  return function()
    n = n + 1
    return prefix .. (first + n)
  end
end

-- Forget a running attempt's bookkeeping (the caller has already removed it from
-- {ns}:running). Returns the job id whose index entry the caller should rewrite: the
-- entry points at this attempt, or is missing; nil if the entry belongs to another job
-- with the same id (never clobber it) or the text had no id.
local function end_attempt(leases, attempts, index, token)
  redis.call('ZREM', leases, token)
  local meta = redis.call('HGET', attempts, token)
  redis.call('HDEL', attempts, token)
  if not meta then
    return nil
  end
  local id = cjson.decode(meta)[1]
  if id == '' then
    return nil
  end
  local current = redis.call('HGET', index, id)
  if current == false or current == 'r' .. token then
    return id
  end
  return nil
end

-- Remove one stored envelope from the structure of its state (keys: jobs, schedule,
-- retry, dead, ids, died, aliases; a dead job's time of death and an alias go with it). Lists are searched
-- from the right, the oldest end, where admin commands (requeue the oldest dead jobs
-- first) usually find them at once.
local function remove_stored(keys, state, raw)
  if state == 'q' then
    return redis.call('LREM', keys[1], -1, raw)
  elseif state == 's' then
    return redis.call('ZREM', keys[2], raw)
  elseif state == 't' then
    return redis.call('ZREM', keys[3], raw)
  elseif state == 'd' then
    local removed = redis.call('LREM', keys[4], -1, raw)
    local id = removed > 0 and stored_id(keys[7], raw)
    if id then
      redis.call('HDEL', keys[6], id)
    end
    if removed > 0 then
      redis.call('HDEL', keys[7], raw)
    end
    return removed
  end
  return 0
end

-- Start an attempt on `raw` under a fresh token; returns the reply triple.
local function start_attempt(keys, raw, token, now, deadline, worker, old_token)
  local running, leases, attempts, index = keys[1], keys[2], keys[3], keys[4]
  local id = envelope_id(raw) or redis.call('HGET', keys[5], raw)
  redis.call('HSET', running, token, raw)
  redis.call('ZADD', leases, deadline, token)
  redis.call('HSET', attempts, token, cjson.encode({id or '', worker, now}))
  if id then
    local current = redis.call('HGET', index, id)
    if current == false or old_token == nil or current == 'r' .. old_token then
      redis.call('HSET', index, id, 'r' .. token)
    end
  end
  return id or ''
end

-- name: enqueue
-- KEYS: jobs, schedule, ids, aliases.  ARGV: n, timed 0|1, n job ids, n envelopes, and
-- when timed n delays in seconds.
-- All or nothing: a duplicate id fails the whole batch before anything is written. The
-- same job sent twice (a retried call whose first reply was lost) is not a duplicate.
-- Each key is read and written in commands of many jobs (unpack() is bounded by the C
-- stack, hence the chunks), not one command per job.
local n, timed = tonumber(ARGV[1]), ARGV[2] == '1'
local chunk = 500
local seen = {}
for i = 3, n + 2 do
  local id = ARGV[i]
  if seen[id] then
    return redis.error_reply('WGDUP ' .. id)
  end
  seen[id] = true
end
local again = {}
for first = 1, n, chunk do
  local last = math.min(n, first + chunk - 1)
  local current = redis.call('HMGET', KEYS[3], unpack(ARGV, first + 2, last + 2))
  for j = 1, last - first + 1 do
    local entry = current[j]
    if entry then
      local i = first + j - 1
      local raw = ARGV[n + 2 + i]
      if entry == 'q' .. raw or entry == 's' .. raw then
        again[i] = true
      else
        return redis.error_reply('WGDUP ' .. ARGV[i + 2])
      end
    end
  end
end
local now = nil -- TIME only when a job is scheduled: the common enqueue needs no clock
for first = 1, n, chunk do
  local last = math.min(n, first + chunk - 1)
  local queued, index, scheduled, aliases = {}, {}, {}, {}
  local nq, ni, ns, na = 0, 0, 0, 0 -- explicit counts: # is not O(1) in Lua 5.1
  for i = first, last do
    if not again[i] then
      local raw = ARGV[n + 2 + i]
      if not says_id(raw, ARGV[i + 2]) then
        aliases[na + 1] = raw
        aliases[na + 2] = ARGV[i + 2]
        na = na + 2
      end
      local delay = timed and tonumber(ARGV[2 * n + 2 + i]) or 0
      index[ni + 1] = ARGV[i + 2]
      if delay > 0 then
        now = now or now_seconds()
        scheduled[ns + 1] = now + delay
        scheduled[ns + 2] = raw
        ns = ns + 2
        index[ni + 2] = 's' .. raw
      else
        nq = nq + 1
        queued[nq] = raw
        index[ni + 2] = 'q' .. raw
      end
      ni = ni + 2
    end
  end
  if nq > 0 then
    redis.call('LPUSH', KEYS[1], unpack(queued, 1, nq))
  end
  if ns > 0 then
    redis.call('ZADD', KEYS[2], unpack(scheduled, 1, ns))
  end
  if ni > 0 then
    redis.call('HSET', KEYS[3], unpack(index, 1, ni))
  end
  if na > 0 then
    redis.call('HSET', KEYS[4], unpack(aliases, 1, na))
  end
end
return n

-- name: enqueue_one
-- KEYS: jobs, ids, aliases.  ARGV: job id, envelope.
-- The common case, one job for now, in as little script as possible (enqueue's
-- semantics: a duplicate id fails, the same job sent twice is stored once). Text that
-- does not start with its id (never what wg writes) is decoded to check it.
local entry = 'q' .. ARGV[2]
if redis.call('HSETNX', KEYS[2], ARGV[1], entry) == 1 then
  redis.call('LPUSH', KEYS[1], ARGV[2])
  if string.sub(ARGV[2], 1, #ARGV[1] + 8) ~= '{"id":"' .. ARGV[1] .. '"' then
    local ok, doc = pcall(cjson.decode, ARGV[2])
    if not (ok and type(doc) == 'table' and doc.id == ARGV[1]) then
      redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
    end
  end
  return 1
end
if redis.call('HGET', KEYS[2], ARGV[1]) == entry then
  return 0
end
return redis.error_reply('WGDUP ' .. ARGV[1])

-- name: claim
-- KEYS: jobs, running, leases, attempts, ids, seq, paused, resumed, aliases, and for a
-- claim that blocked: its claiming list and claimers.
-- ARGV: limit, lease, worker id.
-- Leases up to `limit` jobs from the right end of the list (oldest first), writing each
-- bookkeeping key once for the whole batch. A blocked claim runs this right after its
-- BLMOVE took a job into the claiming list: that job is leased first, and the claiming
-- list is disarmed (see `arm`).
-- Returns {paused 0|1, (job id or '', token, envelope)...}.
local claiming = KEYS[10]
if claiming then
  redis.call('ZREM', KEYS[11], claiming)
end
if redis.call('EXISTS', KEYS[7]) == 1 then
  -- Paused claimers block on `resumed`: make sure it is absent (set_paused deletes it;
  -- a pause flag set by hand would otherwise let them spin).
  redis.call('DEL', KEYS[8])
  if claiming then
    -- Back to the front, in the order they were taken.
    while redis.call('LMOVE', claiming, KEYS[1], 'LEFT', 'RIGHT') do
    end
  end
  return {1}
end
local limit = tonumber(ARGV[1])
local raws = {}
if claiming then
  local taken = redis.call('LRANGE', claiming, 0, -1)
  if #taken > 0 then
    redis.call('DEL', claiming)
    for i = #taken, 1, -1 do
      raws[#raws + 1] = taken[i]
    end
  end
end
if #raws < limit then
  local more = redis.call('RPOP', KEYS[1], limit - #raws)
  if more then
    for _, raw in ipairs(more) do
      raws[#raws + 1] = raw
    end
  end
end
if #raws == 0 then
  return {0}
end
local now, t = now_seconds()
local deadline = now + tonumber(ARGV[2])
local next_token = token_factory(KEYS[6], #raws, t)
local running, leases, attempts, index = {}, {}, {}, {}
local out = {0}
for _, raw in ipairs(raws) do
  local token = next_token()
  local id = envelope_id(raw) or redis.call('HGET', KEYS[9], raw)
  running[#running + 1] = token
  running[#running + 1] = raw
  leases[#leases + 1] = deadline
  leases[#leases + 1] = token
  attempts[#attempts + 1] = token
  attempts[#attempts + 1] = cjson.encode({id or '', ARGV[3], now})
  if id then
    index[#index + 1] = id
    index[#index + 1] = 'r' .. token
  end
  out[#out + 1] = id or ''
  out[#out + 1] = token
  out[#out + 1] = raw
end
redis.call('HSET', KEYS[2], unpack(running))
redis.call('ZADD', KEYS[3], unpack(leases))
redis.call('HSET', KEYS[4], unpack(attempts))
if #index > 0 then
  redis.call('HSET', KEYS[5], unpack(index))
end
return out

-- name: arm
-- KEYS: claimers.  ARGV: claiming list, seconds.
-- Sent just before a claimer's BLMOVE into its own claiming list (one pipeline: arm,
-- BLMOVE, claim): a job that BLMOVE took stays there, in Redis, until the claim script
-- leases it. Should the claim script never run (the connection died in between),
-- reclaim_expired puts the job back at the front of the queue once the deadline passed.
-- Sent with EVAL, not EVALSHA: a NOSCRIPT here would leave BLMOVE to take a job into a
-- list nobody watches. Hence no prelude either (the text stays short).
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + 1 + tonumber(ARGV[2]), ARGV[1])
return 1

-- name: unclaim
-- KEYS: a claiming list, claimers, jobs.
-- A blocking claim that ended without its claim script (cancelled, or an error reply):
-- whatever its BLMOVE took goes back to the front of the queue, in the order taken.
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[3], 'LEFT', 'RIGHT') do
  moved = moved + 1
end
redis.call('ZREM', KEYS[2], KEYS[1])
return moved

-- name: complete
-- KEYS: running, leases, attempts, ids, stats.  ARGV: tokens.
-- Deletes the jobs still held under these tokens; processed += how many. Each key is
-- read and written once for the whole batch.
local held, unique = {}, {}
local present = redis.call('HMGET', KEYS[1], unpack(ARGV))
for i, raw in ipairs(present) do
  local token = ARGV[i]
  if raw and not unique[token] then
    unique[token] = true
    held[#held + 1] = token
  end
end
if #held == 0 then
  return 0
end
redis.call('HDEL', KEYS[1], unpack(held))
redis.call('ZREM', KEYS[2], unpack(held))
local metas = redis.call('HMGET', KEYS[3], unpack(held))
redis.call('HDEL', KEYS[3], unpack(held))
local ids, expected = {}, {}
for i, meta in ipairs(metas) do
  if meta then
    local id = cjson.decode(meta)[1]
    if id ~= '' then
      ids[#ids + 1] = id
      expected[#expected + 1] = 'r' .. held[i]
    end
  end
end
if #ids > 0 then
  local current = redis.call('HMGET', KEYS[4], unpack(ids))
  local drop = {}
  for i, entry in ipairs(current) do
    if entry == expected[i] then
      drop[#drop + 1] = ids[i]
    end
  end
  if #drop > 0 then
    redis.call('HDEL', KEYS[4], unpack(drop))
  end
end
redis.call('HINCRBY', KEYS[5], 'processed', #held)
return #held

-- name: retry
-- KEYS: running, leases, attempts, ids, stats, retry.  ARGV: token, envelope, delay.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local id = end_attempt(KEYS[2], KEYS[3], KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[6], now_seconds() + tonumber(ARGV[3]), ARGV[2])
if id then
  redis.call('HSET', KEYS[4], id, 't' .. ARGV[2])
end
redis.call('HINCRBY', KEYS[5], 'failed', 1)
return 1

-- name: bury
-- KEYS: running, leases, attempts, ids, stats, dead, died, aliases.  ARGV: token, envelope.
-- The dead list grows at the left, like the queue: the oldest burial is at the right.
-- A dead envelope that does not carry the job's id (the dead-letter entry of text that
-- was not an envelope) gets an alias. The time of death is kept under the job's id.
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[8], stored)
local id = end_attempt(KEYS[2], KEYS[3], KEYS[4], ARGV[1])
redis.call('LPUSH', KEYS[6], ARGV[2])
local dead_id = envelope_id(ARGV[2])
if id then
  redis.call('HSET', KEYS[4], id, 'd' .. ARGV[2])
  if dead_id ~= id then
    redis.call('HSET', KEYS[8], ARGV[2], id)
    dead_id = id
  end
end
if dead_id then
  redis.call('HSET', KEYS[7], dead_id, string.format('%.6f', (now_seconds())))
end
redis.call('HINCRBY', KEYS[5], 'failed', 1)
return 1

-- name: release
-- KEYS: running, leases, attempts, ids, jobs.  ARGV: tokens in claim order.
-- Puts the jobs back at the right end (the front), the first-claimed rightmost.
local released = 0
for i = #ARGV, 1, -1 do
  local token = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], token)
  if raw then
    redis.call('HDEL', KEYS[1], token)
    local id = end_attempt(KEYS[2], KEYS[3], KEYS[4], token)
    redis.call('RPUSH', KEYS[5], raw)
    if id then
      redis.call('HSET', KEYS[4], id, 'q' .. raw)
    end
    released = released + 1
  end
end
return released

-- name: heartbeat
-- KEYS: running, leases, workers, seen, stopping.
-- ARGV: lease, worker id, worker JSON, stop flag 0|1, tokens...
-- Returns {stop requested before this beat 0|1, lost tokens...}.
local now = now_seconds()
local deadline = now + tonumber(ARGV[1])
local reply = {0}
for i = 5, #ARGV do
  local token = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], token) == 1 then
    redis.call('ZADD', KEYS[2], 'XX', deadline, token)
  else
    reply[#reply + 1] = token
  end
end
reply[1] = redis.call('SISMEMBER', KEYS[5], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], now, ARGV[2])
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[5], ARGV[2])
end
return reply

-- name: unregister_worker
-- KEYS: workers, seen, stopping.  ARGV: worker id.
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1

-- name: request_worker_stop
-- KEYS: workers, stopping.  ARGV: worker id.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
return 1

-- name: promote
-- KEYS: source zset (schedule or retry), jobs, ids, aliases.  ARGV: limit, state letter.
-- Select, remove and enqueue in one script: each due job moves exactly once however
-- many pools promote at the same time (the Rust original races here).
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_seconds(), 'LIMIT', 0,
  tonumber(ARGV[1]))
for _, raw in ipairs(due) do
  redis.call('ZREM', KEYS[1], raw)
  redis.call('LPUSH', KEYS[2], raw)
  local id = envelope_id(raw) or redis.call('HGET', KEYS[4], raw)
  if id then
    local current = redis.call('HGET', KEYS[3], id)
    if current == false or current == ARGV[2] .. raw then
      redis.call('HSET', KEYS[3], id, 'q' .. raw)
    end
  end
end
return #due

-- name: reclaim_expired
-- KEYS: running, leases, attempts, ids, seq, workers, seen, stopping, claimers, jobs,
-- aliases.
-- ARGV: limit, lease, worker id, forget workers silent for this many seconds, and
-- silent_after in seconds or ''.
-- Re-leases to the caller (the reaper), under new tokens, expired attempts and, with
-- silent_after, the attempts of registered workers not heard from for that long (found
-- by a pass over the attempts, made only when such a worker exists); puts jobs
-- stranded in the claiming list of a claimer that died between its BLMOVE and its claim
-- script back at the front of the queue (their index entries still say queued); and
-- drops workers that stopped heartbeating long ago.
local now, t = now_seconds()
local stranded = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', now)
for _, claiming in ipairs(stranded) do
  while redis.call('LMOVE', claiming, KEYS[10], 'LEFT', 'RIGHT') do
  end
  redis.call('ZREM', KEYS[9], claiming)
end
local limit = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
if ARGV[5] ~= '' and #expired < limit then
  local quiet = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now - tonumber(ARGV[5]))
  if #quiet > 0 then
    local silent, taken = {}, {}
    for _, worker in ipairs(quiet) do
      silent[worker] = true
    end
    for _, token in ipairs(expired) do
      taken[token] = true
    end
    local metas = redis.call('HGETALL', KEYS[3])
    for i = 1, #metas, 2 do
      if #expired >= limit then
        break
      end
      local token = metas[i]
      if not taken[token] and silent[cjson.decode(metas[i + 1])[2]] then
        expired[#expired + 1] = token
      end
    end
  end
end
local out = {}
if #expired > 0 then
  local deadline = now + tonumber(ARGV[2])
  local next_token = token_factory(KEYS[5], #expired, t)
  local keys = {KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[11]}
  for _, old in ipairs(expired) do
    local raw = redis.call('HGET', KEYS[1], old)
    redis.call('HDEL', KEYS[1], old)
    redis.call('ZREM', KEYS[2], old)
    redis.call('HDEL', KEYS[3], old)
    if raw then
      local token = next_token()
      out[#out + 1] = start_attempt(keys, raw, token, now, deadline, ARGV[3], old)
      out[#out + 1] = token
      out[#out + 1] = raw
    end
  end
end
local silent = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now - tonumber(ARGV[4]))
for _, worker in ipairs(silent) do
  redis.call('HDEL', KEYS[6], worker)
  redis.call('ZREM', KEYS[7], worker)
  redis.call('SREM', KEYS[8], worker)
end
return out

-- name: counts
-- KEYS: jobs, schedule, retry, running, dead, claimers.
-- Returns {queued, scheduled, retry, running, dead, next envelope to run or false}.
-- A job a blocking claim's BLMOVE just took into its claiming list is still queued
-- (the claim script leases it a moment later): counted, and next to run, so that the
-- counts never show a namespace empty while a job is on its way to a worker.
local queued, next_raw = redis.call('LLEN', KEYS[1]), false
for _, claiming in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
  local taken = redis.call('LLEN', claiming)
  if taken > 0 then
    queued = queued + taken
    next_raw = next_raw or redis.call('LINDEX', claiming, -1)
  end
end
if not next_raw then
  next_raw = redis.call('LINDEX', KEYS[1], -1)
end
return {queued, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
  redis.call('HLEN', KEYS[4]), redis.call('LLEN', KEYS[5]), next_raw}

-- name: get_job
-- KEYS: ids, jobs, schedule, retry, dead, running, leases, attempts, claimers, died.
-- ARGV: job id.
-- Returns {state letter, envelope, due time or lease deadline or '', attempt meta or
-- time of death or ''},
-- or nil when the index does not know the id. An entry whose job is gone (popped by a
-- program that does not keep the index, e.g. a Rust worker) is dropped.
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then
  return nil
end
local state, rest = string.sub(entry, 1, 1), string.sub(entry, 2)
if state == 'q' then
  if redis.call('LPOS', KEYS[2], rest) then
    return {state, rest, '', ''}
  end
  -- Taken by a claimer's BLMOVE, not leased yet: still queued.
  for _, claiming in ipairs(redis.call('ZRANGE', KEYS[9], 0, -1)) do
    if redis.call('LPOS', claiming, rest) then
      return {state, rest, '', ''}
    end
  end
elseif state == 'd' then
  if redis.call('LPOS', KEYS[5], rest) then
    return {state, rest, '', redis.call('HGET', KEYS[10], ARGV[1]) or ''}
  end
elseif state == 's' or state == 't' then
  local score = redis.call('ZSCORE', state == 's' and KEYS[3] or KEYS[4], rest)
  if score then
    return {state, rest, score, ''}
  end
elseif state == 'r' then
  local raw = redis.call('HGET', KEYS[6], rest)
  if raw then
    return {state, raw, redis.call('ZSCORE', KEYS[7], rest) or '',
      redis.call('HGET', KEYS[8], rest) or ''}
  end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return nil

-- name: move_to_queue
-- KEYS: jobs, schedule, retry, dead, ids, died, aliases.
-- ARGV: (job id, state letter, stored envelope or '', new envelope)...
-- An empty stored envelope means "where the id index says". Each job moves only if it is
-- still in that state. Returns one status per job: 1 moved, 0 not in that state, -1 the
-- index does not know where it is (the caller looks for it and calls again).
local statuses = {}
for i = 1, #ARGV, 4 do
  local id, state, old, new = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local status, indexed = 0, old == ''
  if indexed then
    local entry = redis.call('HGET', KEYS[5], id)
    if not entry then
      status = -1
    elseif string.sub(entry, 1, 1) == state then
      old = string.sub(entry, 2)
    end
  end
  if old ~= '' then
    if remove_stored(KEYS, state, old) > 0 then
      redis.call('LPUSH', KEYS[1], new)
      local current = redis.call('HGET', KEYS[5], id)
      if current == false or current == state .. old then
        redis.call('HSET', KEYS[5], id, 'q' .. new)
      end
      status = 1
    elseif indexed then
      -- The index was stale (a program that does not keep it moved the job).
      redis.call('HDEL', KEYS[5], id)
      status = -1
    end
  end
  statuses[#statuses + 1] = status
end
return statuses

-- name: delete_jobs
-- KEYS: jobs, schedule, retry, dead, ids, died, aliases.  ARGV: (job id, state letter or '', envelope or '')...
-- Empty state and envelope mean "where the id index says" (never a running job).
-- Returns one status per job, as move_to_queue does.
local statuses = {}
for i = 1, #ARGV, 3 do
  local id, state, raw = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local status, indexed = 0, raw == ''
  if indexed then
    local entry = redis.call('HGET', KEYS[5], id)
    if not entry then
      status = -1
    elseif string.sub(entry, 1, 1) ~= 'r' then
      state, raw = string.sub(entry, 1, 1), string.sub(entry, 2)
    end
  end
  if raw ~= '' then
    if remove_stored(KEYS, state, raw) > 0 then
      if redis.call('HGET', KEYS[5], id) == state .. raw then
        redis.call('HDEL', KEYS[5], id)
      end
      status = 1
    elseif indexed then
      redis.call('HDEL', KEYS[5], id)
      status = -1
    end
  end
  statuses[#statuses + 1] = status
end
return statuses

-- name: purge
-- KEYS: the state's list or zset, ids, died, aliases.  ARGV: 'list' | 'zset', state
-- letter, chunk size.
-- Deletes up to a chunk (the caller loops, so the server never blocks for long), and
-- the times of death of purged dead jobs.
local items
if ARGV[1] == 'list' then
  items = redis.call('RPOP', KEYS[1], tonumber(ARGV[3])) or {}
else
  items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
  if #items > 0 then
    redis.call('ZREM', KEYS[1], unpack(items))
  end
end
local has_aliases = redis.call('EXISTS', KEYS[4]) == 1
for _, raw in ipairs(items) do
  local id = has_aliases and stored_id(KEYS[4], raw) or envelope_id(raw)
  if id and redis.call('HGET', KEYS[2], id) == ARGV[2] .. raw then
    redis.call('HDEL', KEYS[2], id)
  end
  if id and ARGV[2] == 'd' then
    redis.call('HDEL', KEYS[3], id)
  end
  if has_aliases then
    redis.call('HDEL', KEYS[4], raw)
  end
end
return #items

-- name: set_paused
-- KEYS: paused, resumed.  ARGV: 1 to pause, 0 to resume.
-- Paused claimers block on the resumed list; pushing to it wakes all of them (they
-- rotate it, leaving it in place), and pausing deletes it so that they block again.
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], '1')
  redis.call('DEL', KEYS[2])
else
  redis.call('DEL', KEYS[1])
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('LPUSH', KEYS[2], '1')
  end
end
return 1
