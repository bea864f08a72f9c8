-- Lua scripts of the Redis backend (wg_core/backends/redis/), one per transition.
--
-- Every key a script touches is passed in KEYS, so that with the hash-tag option each
-- script is single-slot (Redis Cluster); queue names are ARGV data, never script text.
-- The "prelude" block holds helpers; each script gets those it calls. Job states in the
-- id index ({ns}:ids, job id -> location) are one letter followed by the location:
-- q<envelope> (queued), s<envelope> (scheduled), t<envelope> (retry), d<envelope>
-- (dead), r<token> (running). Which queue's structure holds it, and at which priority,
-- is in {ns}:placements (job id -> "<queue> <priority>"; absent: default, 0).
-- Stored text whose id cannot be read from it (text that is not an envelope, given an id
-- at enqueue; the dead-letter envelope of such a job) has that id in {ns}:aliases
-- (text -> job id), so that claims, listings and look-ups agree on the job's id.
-- Layout 3: a completed or cancelled job still kept has the entry 'c' or 'x' (the letter
-- alone), its record in {ns}:finished (job id -> a JSON header: state, finish and
-- expiry times, its last attempt's record or its queue and priority, result, last
-- error; a newline; the envelope as it ran, see finished_record), its id in its
-- queue's completed or cancelled ZSET (by finish time) and in {ns}:expiry (by expiry
-- time, for prune); its placement stays until it is pruned or deleted. Finished jobs
-- never touch the spec's keys.
-- Times are Unix seconds from the server's clock (TIME); Lua numbers are returned as
-- strings because Redis truncates Lua numbers to integers in replies.
--
-- A queue's jobs: its priority ZSET, scored -priority * 2^42 + arrival (FIFO within a
-- priority; a released job gets a decreasing front arrival); arrivals stay within
-- +-2^41 and priorities within +-1000, so scores are exact in a double, and a negative
-- score is a priority above 0. The queue default's priority-0 jobs are in the spec's
-- LIST {ns}:jobs instead (LPUSH in, taken from the right), where the Rust wg reads and
-- writes them; the LIST of any other queue stays empty (wg 2 writes none; the key is
-- kept for a later layout). Claim order within a queue: negative scores, then the
-- list, then the rest of the ZSET.

-- name: prelude
local function now_seconds()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000, t
end

-- Unique keys (layout 4): who holds a key, from its entry `held` in {ns}:unique ("<job
-- id> <hold until>"): the job, while it is queued, scheduled, retrying or running (its
-- entry in the id index `ids`) or until its hold runs out; nil when the key is free, or
-- is held by `mine` (the job asking: a retried call). `now` is read from TIME only when
-- needed (pass nil), and returned for the caller's next use.
local function unique_taker(held, ids, mine, now)
  local space = string.find(held, ' ', 1, true)
  local taker = string.sub(held, 1, space - 1)
  if taker == mine then
    return nil, now
  end
  local entry = redis.call('HGET', ids, taker)
  local letter = entry and string.sub(entry, 1, 1)
  if letter == 'q' or letter == 's' or letter == 't' or letter == 'r' then
    return taker, now
  end
  now = now or now_seconds()
  if tonumber(string.sub(held, space + 1)) > now then
    return taker, now
  end
  return nil, now
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

-- The score of a job at `priority` arriving `arrival`-th in its queue's priority set,
-- as exact decimal text (Lua's own number formatting keeps 14 digits only).
local function prio_score(priority, arrival)
  return string.format('%.0f', -priority * 4398046511104 + arrival)
end

-- The priority a priority-set score stands for.
local function score_priority(score)
  return -math.floor((tonumber(score) + 2199023255552) / 4398046511104)
end

-- The queue and priority of job `id` (default, 0 when it has no placement).
local function placement_of(placements, id)
  local entry = id and redis.call('HGET', placements, id)
  if not entry then
    return 'default', 0
  end
  local queue, priority = string.match(entry, '^(%S+) (%S+)$')
  return queue, tonumber(priority)
end

-- Put `raw` at the back (or the front) of its queue and priority: default's priority
-- 0 in the spec's list, everything else in the queue's priority set. A job that lands
-- anywhere but {ns}:jobs (whose pushes wake blocked claimers by themselves) appends to
-- the queue's wake stream, which the other idle claimers block on.
-- `q`: {jobs=, prio=, wake=, spec=}.
local function push_job(q, raw, priority, order, front)
  if priority == 0 and q.spec then
    if front then
      redis.call('RPUSH', q.jobs, raw)
    else
      redis.call('LPUSH', q.jobs, raw)
    end
  else
    local field, step = 'back', 1
    if front then
      field, step = 'front', -1
    end
    local arrival = redis.call('HINCRBY', order, field, step)
    redis.call('ZADD', q.prio, prio_score(priority, arrival), raw)
  end
  if not (priority == 0 and q.spec) then
    redis.call('XADD', q.wake, 'MAXLEN', '1', '*', 'j', '1')
  end
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

-- The token suffix naming the queue of a job other than default's (the Python side
-- reads it to pass that queue's keys to the later transitions).
local function queue_mark(queue)
  if queue == 'default' then
    return ''
  end
  return '@' .. queue
end

-- An attempt's record: [job id, worker, claim time] for a job of default at priority
-- 0 (what wg 1 wrote), with its queue and priority appended otherwise.
local function attempt_record(id, worker, now, queue, priority)
  if queue == 'default' and priority == 0 then
    return cjson.encode({id or '', worker, now})
  end
  return cjson.encode({id or '', worker, now, queue, priority})
end

-- The job id, queue and priority of an attempt's record.
local function read_record(meta)
  local doc = cjson.decode(meta)
  return doc[1], doc[4] or 'default', doc[5] or 0
end

-- An attempt's record (or false) as a table of six fields or seven: job id, worker,
-- claim time (0: unknown), queue, priority, the cancel request ({keep = seconds}, or 0
-- when none was made), then the progress ({fraction, message, updated_at}) if any.
local function full_record(meta)
  local doc = meta and cjson.decode(meta) or {''}
  doc[2] = doc[2] or ''
  doc[3] = doc[3] or 0
  doc[4] = doc[4] or 'default'
  doc[5] = doc[5] or 0
  doc[6] = doc[6] or 0
  return doc
end

-- The times of a job finished `now` and kept `keep` seconds, as text: finish time,
-- expiry time, and the record's members for them. (A Lua number handed to Redis or to
-- cjson is formatted with snprintf, which costs more than the rest of a record: the
-- hot path formats these once per batch.)
local function finish_times(now, keep)
  local finished, expires = string.format('%.6f', now), string.format('%.6f', now + keep)
  return finished, expires, '"finished_at":"' .. finished .. '","expires_at":"' .. expires .. '"'
end

-- The record of a finished job in {ns}:finished: a JSON header, a newline, then the
-- result (its length in bytes is in the header) and the envelope as it ran, both
-- verbatim (escaping them would cost more than the rest of the record). The header
-- holds the state, the `times` members, the attempt's record verbatim (`meta`: claim
-- time, queue, priority, progress) or, for a job that never ran, its queue and
-- priority, and the last error as a JSON string. (cjson escapes newlines, so the
-- header has none.)
local function finished_record(state, raw, result, last_error, meta, times, queue, priority)
  local attempt
  if meta then
    attempt = ',"attempt":' .. meta
  else
    attempt = ',"queue":"' .. queue .. '","priority":' .. string.format('%d', priority)
  end
  local sized, reason = '', ''
  if result then
    sized, raw = ',"result_bytes":' .. #result, result .. raw
  end
  if last_error then
    reason = ',"last_error":' .. cjson.encode(last_error)
  end
  return '{"state":"' .. state .. '",' .. times .. attempt .. sized .. reason .. '}\n' .. raw
end

-- Keep job `id` finished in state `letter` ('c' or 'x') until `expires` (keys:
-- finished, ids, expiry, and the queue's ZSET of that state), or (keep 0) forget it:
-- its index entry, placement and alias. Announces it on the finished channel.
local function finish_job(k, id, letter, record, finished, expires, keep, raw, channel)
  if keep > 0 then
    redis.call('HSET', k.finished, id, record)
    redis.call('HSET', k.ids, id, letter)
    redis.call('ZADD', k.zset, finished, id)
    redis.call('ZADD', k.expiry, expires, id)
  else
    redis.call('HDEL', k.ids, id)
    redis.call('HDEL', k.placements, id)
  end
  redis.call('HDEL', k.aliases, raw)
  redis.call('PUBLISH', channel, cjson.encode({id}))
end

-- Forget a running attempt's bookkeeping (the caller has already removed it from
-- {ns}:running; keys: leases, attempts, ids, running_counts). Returns the job id whose
-- index entry the caller should rewrite (the entry points at this attempt, or is
-- missing; nil if the entry belongs to another job with the same id, or the text had
-- no id), and the attempt's queue and priority.
local function end_attempt(leases, attempts, index, running_counts, token)
  redis.call('ZREM', leases, token)
  local meta = redis.call('HGET', attempts, token)
  redis.call('HDEL', attempts, token)
  if not meta then
    return nil, 'default', 0
  end
  local id, queue, priority = read_record(meta)
  if queue ~= 'default' then
    redis.call('HINCRBY', running_counts, queue, -1)
  end
  if id == '' then
    return nil, queue, priority
  end
  local current = redis.call('HGET', index, id)
  if current == false or current == 'r' .. token then
    return id, queue, priority
  end
  return nil, queue, priority
end

-- Remove one stored envelope from the structure of its state (keys: jobs, schedule,
-- retry, dead, ids, died, aliases, prio of its queue; a dead job's time of death and an
-- alias go with it). Lists are searched from the right, the oldest end, where admin
-- commands (requeue the oldest dead jobs first) usually find them at once. A finished
-- job ('c', 'x': `raw` is then its id) is removed from `done` ({finished=, expiry=,
-- c=, x=}: the record, the expiry set and its queue's ZSETs).
local function remove_stored(keys, state, raw, done)
  if (state == 'c' or state == 'x') and done then
    local removed = redis.call('HDEL', done.finished, raw)
    redis.call('ZREM', done[state], raw)
    redis.call('ZREM', done.expiry, raw)
    return removed
  elseif state == 'q' then
    local removed = redis.call('LREM', keys[1], -1, raw)
    if removed == 0 then
      removed = redis.call('ZREM', keys[8], raw)
    end
    return removed
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

-- name: enqueue
-- KEYS: ids, aliases, placements, queues, order, then per queue named in ARGV: its
-- jobs, prio, schedule, wake, and last, for a batch with unique keys, {ns}:unique.
-- ARGV: n, timed 0|1, mixed 0|1, nq, nq queue names, then columns of n: job ids,
-- envelopes, when mixed queue numbers (1-based) and priorities (else every job is the
-- first queue's at priority 0), when timed delays in seconds, and with {ns}:unique
-- unique keys ('' for none) and their holds in seconds (0 for none).
-- All or nothing: a duplicate id fails the whole batch before anything is written. The
-- same job sent twice (a retried call whose first reply was lost) is not a duplicate.
-- Each key is read and written in commands of many jobs (unpack() is bounded by the C
-- stack, hence the chunks), not one command per job.
-- Unique keys (layout 4, wg_core.unique): {ns}:unique maps a key to "<job id> <hold
-- until>" (Unix seconds, 0: none). A key is held while that job's entry in the id
-- index is q, s, t or r (queued, scheduled, retry, running: the transitions that end a
-- job free its key by that move alone), or until the hold. A job whose key is held (or
-- taken by an earlier job of the batch) is not stored: the reply then lists, per job,
-- '' (stored) or the id holding its key.
local n, timed, mixed, nq = tonumber(ARGV[1]), ARGV[2] == '1', ARGV[3] == '1', tonumber(ARGV[4])
local base = 4 + nq
local delays = base + (mixed and 4 or 2) * n
local chunk = 500
local seen = {}
for i = base + 1, base + n do
  local id = ARGV[i]
  if seen[id] then
    return redis.error_reply('WGDUP ' .. id)
  end
  seen[id] = true
end
local again = {}
for first = 1, n, chunk do
  local last = math.min(n, first + chunk - 1)
  local current = redis.call('HMGET', KEYS[1], unpack(ARGV, base + first, base + last))
  for j = 1, last - first + 1 do
    local entry = current[j]
    if entry then
      local i = first + j - 1
      local raw = ARGV[base + n + i]
      if entry == 'q' .. raw or entry == 's' .. raw then
        again[i] = true
      else
        return redis.error_reply('WGDUP ' .. ARGV[base + i])
      end
    end
  end
end
local now = nil -- TIME only when a job is scheduled: the common enqueue needs no clock
-- Only a batch with unique keys passes {ns}:unique, as its last key (periodic_fire,
-- which includes this block, passes keys of its own after enqueue's).
local unique = #KEYS == 6 + 4 * nq and KEYS[6 + 4 * nq] or nil
local holders, holds = {}, {}
if unique then
  local keys = delays + (timed and n or 0)
  local firsts = {}
  for i = 1, n do
    local key = ARGV[keys + i]
    if key ~= '' then
      local id = ARGV[base + i]
      local holder = firsts[key]
      if not holder then
        local held = redis.call('HGET', unique, key)
        if held then
          holder, now = unique_taker(held, KEYS[1], id, now)
        end
      end
      if holder then
        holders[i] = holder
      else
        firsts[key] = id
        local hold = tonumber(ARGV[keys + n + i])
        holds[#holds + 1] = key
        if hold > 0 then
          now = now or now_seconds()
          holds[#holds + 1] = id .. ' ' .. string.format('%.6f', now + hold)
        else
          holds[#holds + 1] = id .. ' 0'
        end
      end
    end
  end
end
local rung, named = {}, {}
for first = 1, n, chunk do
  local last = math.min(n, first + chunk - 1)
  local lists, prios, scheduled = {}, {}, {}
  local index, aliases, placed = {}, {}, {}
  local ni, na, np = 0, 0, 0 -- explicit counts: # is not O(1) in Lua 5.1
  for i = first, last do
    if not again[i] and not holders[i] then
      local id, raw = ARGV[base + i], ARGV[base + n + i]
      local qi, priority = 1, 0
      if mixed then
        qi, priority = tonumber(ARGV[base + 2 * n + i]), tonumber(ARGV[base + 3 * n + i])
      end
      local queue = ARGV[4 + qi]
      if not says_id(raw, id) then
        aliases[na + 1] = raw
        aliases[na + 2] = id
        na = na + 2
      end
      if queue ~= 'default' or priority ~= 0 then
        placed[np + 1] = id
        placed[np + 2] = queue .. ' ' .. priority
        np = np + 2
        if queue ~= 'default' and not named[queue] then
          named[queue] = true
          redis.call('SADD', KEYS[4], queue)
        end
      end
      local delay = timed and tonumber(ARGV[delays + i]) or 0
      index[ni + 1] = id
      if delay > 0 then
        now = now or now_seconds()
        local bucket = scheduled[qi] or {}
        scheduled[qi] = bucket
        bucket[#bucket + 1] = now + delay
        bucket[#bucket + 1] = raw
        index[ni + 2] = 's' .. raw
      else
        local listed = priority == 0 and queue == 'default'
        local bucket = listed and lists or prios
        local entries = bucket[qi] or {}
        bucket[qi] = entries
        if listed then
          entries[#entries + 1] = raw
        else
          entries[#entries + 1] = priority
          entries[#entries + 1] = raw
        end
        if priority ~= 0 or queue ~= 'default' then
          rung[qi] = true
        end
        index[ni + 2] = 'q' .. raw
      end
      ni = ni + 2
    end
  end
  for qi = 1, nq do
    local g = 5 + 4 * (qi - 1)
    if lists[qi] then
      redis.call('LPUSH', KEYS[g + 1], unpack(lists[qi]))
    end
    local entries = prios[qi]
    if entries then
      local count = #entries / 2
      local arrival = redis.call('HINCRBY', KEYS[5], 'back', count) - count
      local scored = {}
      for j = 1, #entries, 2 do
        arrival = arrival + 1
        scored[j] = prio_score(entries[j], arrival)
        scored[j + 1] = entries[j + 1]
      end
      redis.call('ZADD', KEYS[g + 2], unpack(scored))
    end
    if scheduled[qi] then
      redis.call('ZADD', KEYS[g + 3], unpack(scheduled[qi]))
    end
  end
  if ni > 0 then
    redis.call('HSET', KEYS[1], unpack(index, 1, ni))
  end
  if na > 0 then
    redis.call('HSET', KEYS[2], unpack(aliases, 1, na))
  end
  if np > 0 then
    redis.call('HSET', KEYS[3], unpack(placed, 1, np))
  end
end
for qi = 1, nq do
  if rung[qi] then
    redis.call('XADD', KEYS[5 + 4 * qi], 'MAXLEN', '1', '*', 'j', '1')
  end
end
if not unique then
  return n
end
for first = 1, #holds, 2 * chunk do
  redis.call('HSET', unique, unpack(holds, first, math.min(#holds, first + 2 * chunk - 1)))
end
local reply = {}
for i = 1, n do
  reply[i] = holders[i] or ''
end
return reply

-- name: enqueue_one
-- KEYS: jobs, ids, aliases.  ARGV: job id, envelope.
-- The common case, one job for now in default at priority 0, in as little script as
-- possible (enqueue's semantics: a duplicate id fails, the same job sent twice is
-- stored once). Text that does not start with its id (never what wg writes) is decoded
-- to check it.
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

-- name: enqueue_one_unique
-- KEYS: jobs, ids, aliases, unique.  ARGV: job id, envelope, unique key, hold seconds.
-- enqueue_one for a job with a unique key (see enqueue for when a key is held):
-- returns 1 when stored (or already stored: a retried call), else the id holding it.
local held = redis.call('HGET', KEYS[4], ARGV[3])
local now = nil
if held then
  local taker
  taker, now = unique_taker(held, KEYS[2], ARGV[1], now)
  if taker then
    return taker
  end
end
local entry = 'q' .. ARGV[2]
if redis.call('HSETNX', KEYS[2], ARGV[1], entry) == 1 then
  redis.call('LPUSH', KEYS[1], ARGV[2])
  if string.sub(ARGV[2], 1, #ARGV[1] + 8) ~= '{"id":"' .. ARGV[1] .. '"' then
    local ok, doc = pcall(cjson.decode, ARGV[2])
    if not (ok and type(doc) == 'table' and doc.id == ARGV[1]) then
      redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
    end
  end
elseif redis.call('HGET', KEYS[2], ARGV[1]) ~= entry then
  return redis.error_reply('WGDUP ' .. ARGV[1])
end
local hold = tonumber(ARGV[4])
local until_ = '0'
if hold > 0 then
  now = now or now_seconds()
  until_ = string.format('%.6f', now + hold)
end
redis.call('HSET', KEYS[4], ARGV[3], ARGV[1] .. ' ' .. until_)
return 1

-- name: claim
-- KEYS: running, leases, attempts, ids, seq, paused, resumed, aliases, running_counts,
-- {ns}:jobs, limits, then per queue served, in order: its jobs, prio, paused, wake; and for a
-- claim that blocked on {ns}:jobs: its claiming list and claimers.
-- ARGV: limit, lease, worker id, nq, nq queue names, blocked 0|1.
-- Leases up to `limit` jobs, queue by queue (a paused queue is skipped), within a queue
-- higher priority first, then oldest first, writing each bookkeeping key once for the
-- whole batch. A blocked claim runs this right after its BLMOVE took a job into the
-- claiming list: that job goes back to the front of {ns}:jobs first (an earlier queue
-- may have work now), and the claiming list is disarmed (see `arm`).
-- Returns {paused 0|1, idle, (job id or '', token, envelope)...}; `idle` is empty
-- unless nothing was leased, then {last wake id of each queue..., paused 0|1 of each
-- queue...}, what the claimer needs to block until one of its queues gets work.
local limit, nq = tonumber(ARGV[1]), tonumber(ARGV[4])
local claiming, claimers = nil, nil
if ARGV[5 + nq] == '1' then
  claiming, claimers = KEYS[11 + 4 * nq + 1], KEYS[11 + 4 * nq + 2]
  redis.call('ZREM', claimers, claiming)
  -- Back to the front, in the order they were taken.
  while redis.call('LMOVE', claiming, KEYS[10], 'LEFT', 'RIGHT') do
  end
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  -- Paused claimers block on `resumed`: make sure it is absent (set_paused deletes it;
  -- a pause flag set by hand would otherwise let them spin).
  redis.call('DEL', KEYS[7])
  return {1, {}}
end
local raws, queues, priorities = {}, {}, {}
local paused = {}
local function take(items, queue, scored)
  local step = scored and 2 or 1
  for j = 1, #items, step do
    raws[#raws + 1] = items[j]
    queues[#raws] = queue
    priorities[#raws] = scored and score_priority(items[j + 1]) or 0
  end
end
for i = 1, nq do
  local g = 11 + 4 * (i - 1)
  local queue = ARGV[4 + i]
  if redis.call('EXISTS', KEYS[g + 3]) == 1 then
    paused[i] = 1
  elseif redis.call('HEXISTS', KEYS[11], queue) == 1 then
    -- A limited queue is claimed by claim_limited only (a pool serving it claims it
    -- there); here it is skipped, as if it had nothing ready.
    paused[i] = 0
  else
    paused[i] = 0
    local prio = KEYS[g + 2]
    local has_prio = redis.call('EXISTS', prio) == 1
    if has_prio and #raws < limit then
      local higher = redis.call('ZRANGEBYSCORE', prio, '-inf', '(0', 'WITHSCORES', 'LIMIT', 0,
        limit - #raws)
      if #higher > 0 then
        redis.call('ZREMRANGEBYRANK', prio, 0, #higher / 2 - 1)
        take(higher, queue, true)
      end
    end
    if #raws < limit then
      local more = redis.call('RPOP', KEYS[g + 1], limit - #raws)
      if more then
        take(more, queue, false)
      end
    end
    if has_prio and #raws < limit then
      local lower = redis.call('ZRANGE', prio, 0, limit - #raws - 1, 'WITHSCORES')
      if #lower > 0 then
        redis.call('ZREMRANGEBYRANK', prio, 0, #lower / 2 - 1)
        take(lower, queue, true)
      end
    end
  end
  if #raws >= limit then
    break
  end
end
if #raws == 0 then
  local idle = {}
  for i = 1, nq do
    local last = redis.call('XREVRANGE', KEYS[11 + 4 * (i - 1) + 4], '+', '-', 'COUNT', 1)
    idle[i] = last[1] and last[1][1] or '0-0'
    idle[nq + i] = paused[i]
  end
  return {0, idle}
end
local now, t = now_seconds()
local deadline = now + tonumber(ARGV[2])
local next_token = token_factory(KEYS[5], #raws, t)
local running, leases, attempts, index = {}, {}, {}, {}
local per_queue = {}
local out = {0, {}}
for j, raw in ipairs(raws) do
  local queue = queues[j]
  local token = next_token() .. queue_mark(queue)
  local id = envelope_id(raw) or redis.call('HGET', KEYS[8], raw)
  running[#running + 1] = token
  running[#running + 1] = raw
  leases[#leases + 1] = deadline
  leases[#leases + 1] = token
  attempts[#attempts + 1] = token
  attempts[#attempts + 1] = attempt_record(id, ARGV[3], now, queue, priorities[j])
  if id then
    index[#index + 1] = id
    index[#index + 1] = 'r' .. token
  end
  if queue ~= 'default' then
    per_queue[queue] = (per_queue[queue] or 0) + 1
  end
  out[#out + 1] = id or ''
  out[#out + 1] = token
  out[#out + 1] = raw
end
redis.call('HSET', KEYS[1], unpack(running))
redis.call('ZADD', KEYS[2], unpack(leases))
redis.call('HSET', KEYS[3], unpack(attempts))
if #index > 0 then
  redis.call('HSET', KEYS[4], unpack(index))
end
for queue, count in pairs(per_queue) do
  redis.call('HINCRBY', KEYS[9], queue, count)
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
-- KEYS: running, leases, attempts, ids, stats, placements, running_counts.
-- ARGV: tokens.
-- Deletes the jobs still held under these tokens; processed += how many, in total and
-- for each queue but default (whose count is the rest). Each key is read and written
-- once for the whole batch.
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
local ids, expected, placed = {}, {}, {}
local per_queue = {}
for i, meta in ipairs(metas) do
  if meta then
    local id, queue, priority = read_record(meta)
    if queue ~= 'default' then
      per_queue[queue] = (per_queue[queue] or 0) + 1
    end
    if id ~= '' then
      ids[#ids + 1] = id
      expected[#expected + 1] = 'r' .. held[i]
      placed[#ids] = queue ~= 'default' or priority ~= 0
    end
  end
end
if #ids > 0 then
  local current = redis.call('HMGET', KEYS[4], unpack(ids))
  local drop, unplace = {}, {}
  for i, entry in ipairs(current) do
    if entry == expected[i] then
      drop[#drop + 1] = ids[i]
    end
    if placed[i] and (entry == expected[i] or not entry) then
      unplace[#unplace + 1] = ids[i]
    end
  end
  if #drop > 0 then
    redis.call('HDEL', KEYS[4], unpack(drop))
  end
  if #unplace > 0 then
    redis.call('HDEL', KEYS[6], unpack(unplace))
  end
end
redis.call('HINCRBY', KEYS[5], 'processed', #held)
for queue, count in pairs(per_queue) do
  redis.call('HINCRBY', KEYS[5], 'processed:' .. queue, count)
  redis.call('HINCRBY', KEYS[7], queue, -count)
end
return #held

-- name: complete_kept
-- KEYS: running, leases, attempts, ids, stats, running_counts, finished, expiry, then
-- per queue named in ARGV: its completed ZSET.
-- ARGV: finished channel, nq, nq queue names, the keep of every job in seconds (> 0)
-- or '' when each has its own, then per job its token, its result ('v' followed by its
-- JSON text, or '' for none) and, without a common keep, its keep.
-- complete's transition (processed += n, in total and per queue), but each job stays
-- COMPLETED for `keep` seconds: its record in {ns}:finished (the envelope as it ran,
-- the result, claim and finish times, last progress, queue and priority), its id in
-- its queue's completed ZSET and in {ns}:expiry, its index entry 'c' (its placement
-- stays). The finished ids are announced in one message on the finished channel.
-- Each key is read and written once for the whole batch.
local channel, nq = ARGV[1], tonumber(ARGV[2])
local zsets = {}
for i = 1, nq do
  zsets[ARGV[2 + i]] = KEYS[8 + i]
end
local common = tonumber(ARGV[3 + nq])
local tokens, results, keeps, unique = {}, {}, {}, {}
for i = 4 + nq, #ARGV, common and 2 or 3 do
  local token = ARGV[i]
  if not unique[token] then
    unique[token] = true
    tokens[#tokens + 1] = token
    results[#tokens] = ARGV[i + 1]
    keeps[#tokens] = common or tonumber(ARGV[i + 2])
  end
end
local present = redis.call('HMGET', KEYS[1], unpack(tokens))
local held, raws, which = {}, {}, {}
for i, raw in ipairs(present) do
  if raw then
    held[#held + 1] = tokens[i]
    raws[#held] = raw
    which[#held] = i
  end
end
if #held == 0 then
  return 0
end
redis.call('HDEL', KEYS[1], unpack(held))
redis.call('ZREM', KEYS[2], unpack(held))
local metas = redis.call('HMGET', KEYS[3], unpack(held))
redis.call('HDEL', KEYS[3], unpack(held))
local ids, expected, queues, rows = {}, {}, {}, {}
local per_queue = {}
for i, meta in ipairs(metas) do
  local id, queue = '', 'default'
  if meta then
    id, queue = read_record(meta)
  end
  if queue ~= 'default' then
    per_queue[queue] = (per_queue[queue] or 0) + 1
  end
  if id ~= '' then
    ids[#ids + 1] = id
    expected[#ids] = 'r' .. held[i]
    queues[#ids] = queue
    rows[#ids] = i
  end
end
if #ids > 0 then
  local now = now_seconds()
  local stamps = {} -- keep -> {finish time, expiry time, record members}, built once
  local current = redis.call('HMGET', KEYS[4], unpack(ids))
  -- Explicit counts: # is a binary search in Lua 5.1.
  local records, entries, expiries, scored, done = {}, {}, {}, {}, {}
  local n, counts = 0, {}
  for j, entry in ipairs(current) do
    -- An entry naming something else belongs to another job with this id: leave it.
    if entry == expected[j] or not entry then
      local id, i = ids[j], rows[j]
      local result, keep = results[which[i]], keeps[which[i]]
      result = result ~= '' and string.sub(result, 2) or nil
      local stamp = stamps[keep]
      if not stamp then
        stamp = {finish_times(now, keep)}
        stamps[keep] = stamp
      end
      local pair = 2 * n
      records[pair + 1] = id
      records[pair + 2] = finished_record('completed', raws[i], result, nil, metas[i], stamp[3])
      entries[pair + 1] = id
      entries[pair + 2] = 'c'
      expiries[pair + 1] = stamp[2]
      expiries[pair + 2] = id
      n = n + 1
      done[n] = id
      local zset = zsets[queues[j]]
      if zset then
        local list, m = scored[zset] or {}, counts[zset] or 0
        scored[zset] = list
        list[m + 1] = stamp[1]
        list[m + 2] = id
        counts[zset] = m + 2
      end
    end
  end
  if n > 0 then
    redis.call('HSET', KEYS[7], unpack(records))
    redis.call('HSET', KEYS[4], unpack(entries))
    redis.call('ZADD', KEYS[8], unpack(expiries))
    for zset, list in pairs(scored) do
      redis.call('ZADD', zset, unpack(list))
    end
    redis.call('PUBLISH', channel, cjson.encode(done))
  end
end
redis.call('HINCRBY', KEYS[5], 'processed', #held)
for queue, count in pairs(per_queue) do
  redis.call('HINCRBY', KEYS[5], 'processed:' .. queue, count)
  redis.call('HINCRBY', KEYS[6], queue, -count)
end
return #held

-- name: finish_cancelled
-- KEYS: running, leases, attempts, ids, running_counts, finished, expiry, placements,
-- aliases, the job's queue's cancelled ZSET.
-- ARGV: token, keep, error ('' for none, else 'v' followed by it), finished channel.
-- RUNNING -> CANCELLED for an attempt still held (a compare-and-set on its token, like
-- complete: whichever runs first wins); counted neither processed nor failed.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
local meta = redis.call('HGET', KEYS[3], ARGV[1]) or nil
local id, queue, priority = end_attempt(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
if id then
  local keep = tonumber(ARGV[2])
  local finished, expires, times = finish_times(now_seconds(), keep)
  local reason = ARGV[3] ~= '' and string.sub(ARGV[3], 2) or nil
  local record = finished_record('cancelled', raw, nil, reason, meta, times, queue, priority)
  local k = {finished = KEYS[6], ids = KEYS[4], zset = KEYS[10], expiry = KEYS[7],
    placements = KEYS[8], aliases = KEYS[9]}
  finish_job(k, id, 'x', record, finished, expires, keep, raw, ARGV[4])
end
return 1

-- name: cancel
-- KEYS: ids, placements, aliases, died, running, attempts, finished, expiry, claimers,
-- then the job's queue's jobs, schedule, retry, dead, prio, cancelled.
-- ARGV: job id, keep, queue name, finished channel, cancel channel, and for a job the
-- index does not know, its state letter and stored text.
-- One script, so atomic with respect to every other transition: a waiting job (queued,
-- also while a blocking claim's BLMOVE holds it in its claiming list; scheduled; retry;
-- dead) leaves its structure and becomes CANCELLED (kept `keep` seconds, or forgotten);
-- a running one gets the cancel request in its attempt's record (with `keep`, for a
-- release or a reaper that finishes it) and its worker is signalled.
-- Returns {outcome}: 'cancelled', 'requested', 'no' (finished, or gone), 'unknown' (the
-- index does not know the id: the caller looks for it), or {'elsewhere', queue} when
-- the job's placement names another queue (the caller calls again with its keys).
local id, keep, queue = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local placed, priority = placement_of(KEYS[2], id)
if placed ~= queue then
  return {'elsewhere', placed}
end
local state, raw = ARGV[6], ARGV[7]
if not state then
  local entry = redis.call('HGET', KEYS[1], id)
  if not entry then
    return {'unknown'}
  end
  state, raw = string.sub(entry, 1, 1), string.sub(entry, 2)
end
if state == 'r' then
  if redis.call('HEXISTS', KEYS[5], raw) == 0 then
    return {'no'}
  end
  local doc = full_record(redis.call('HGET', KEYS[6], raw))
  if doc[6] == 0 then
    doc[6] = {keep = keep}
    redis.call('HSET', KEYS[6], raw, cjson.encode(doc))
  end
  redis.call('PUBLISH', ARGV[5], id)
  return {'requested'}
end
if state ~= 'q' and state ~= 's' and state ~= 't' and state ~= 'd' then
  return {'no'}
end
local q = {KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[1], KEYS[4], KEYS[3], KEYS[14]}
local removed = remove_stored(q, state, raw)
if removed == 0 and state == 'q' then
  -- Taken by a blocking claim's BLMOVE, not leased yet: take it back from there.
  for _, claiming in ipairs(redis.call('ZRANGE', KEYS[9], 0, -1)) do
    removed = redis.call('LREM', claiming, -1, raw)
    if removed > 0 then
      break
    end
  end
end
if removed == 0 then
  if ARGV[6] then
    return {'no'}
  end
  redis.call('HDEL', KEYS[1], id) -- stale: a program that does not keep the index took it
  return {'unknown'}
end
local finished, expires, times = finish_times(now_seconds(), keep)
local record = finished_record('cancelled', raw, nil, nil, nil, times, queue, priority)
local k = {finished = KEYS[7], ids = KEYS[1], zset = KEYS[15], expiry = KEYS[8],
  placements = KEYS[2], aliases = KEYS[3]}
finish_job(k, id, 'x', record, finished, expires, keep, raw, ARGV[4])
return {'cancelled'}

-- name: set_progress
-- KEYS: running, attempts.  ARGV: token, fraction, message ('' for none, else 'v'
-- followed by it).
-- Records a held attempt's progress in its attempt's record (which complete reads, so
-- a completed job keeps its last progress at no cost to the hot path).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local doc = full_record(redis.call('HGET', KEYS[2], ARGV[1]))
local message = ARGV[3] ~= '' and string.sub(ARGV[3], 2) or nil
doc[7] = {fraction = tonumber(ARGV[2]), message = message,
  updated_at = string.format('%.6f', (now_seconds()))}
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(doc))
return 1

-- name: forget_unique
-- KEYS: unique, ids.  ARGV: limit.
-- The pruner's chore (layout 4): look at up to about `limit` holds of {ns}:unique,
-- resuming where the last call stopped (its HSCAN cursor is kept in the hash under the
-- empty field, which no unique key can be), and delete those nobody holds any more:
-- the hold ran out and its job is not queued, scheduled, retrying or running.
local cursor = redis.call('HGET', KEYS[1], '') or '0'
local scan = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', tonumber(ARGV[1]))
local now = now_seconds()
local items, forget = scan[2], {}
for j = 1, #items, 2 do
  local key = items[j]
  if key ~= '' and not unique_taker(items[j + 1], KEYS[2], nil, now) then
    forget[#forget + 1] = key
  end
end
if #forget > 0 then
  redis.call('HDEL', KEYS[1], unpack(forget))
end
if scan[1] == '0' then
  redis.call('HDEL', KEYS[1], '')
else
  redis.call('HSET', KEYS[1], '', scan[1])
end
return #forget

-- name: prune
-- KEYS: expiry, finished, ids, placements, then per queue named in ARGV: its completed
-- and cancelled ZSETs.  ARGV: limit, queue names...
-- Deletes up to `limit` finished jobs whose expiry has passed, oldest expiry first: one
-- script, so each is deleted exactly once however many pools prune.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', (now_seconds()), 'LIMIT', 0,
  tonumber(ARGV[1]))
if #due == 0 then
  return 0
end
local zsets = {}
for i = 2, #ARGV do
  zsets[ARGV[i]] = {c = KEYS[3 + 2 * (i - 1)], x = KEYS[4 + 2 * (i - 1)]}
end
redis.call('ZREM', KEYS[1], unpack(due))
redis.call('HDEL', KEYS[2], unpack(due))
local entries = redis.call('HMGET', KEYS[3], unpack(due))
local places = redis.call('HMGET', KEYS[4], unpack(due))
local forget = {}
for j, id in ipairs(due) do
  local entry, queue = entries[j], 'default'
  if places[j] then
    queue = string.match(places[j], '^(%S+) ')
  end
  local z = zsets[queue]
  if z then
    if entry ~= 'x' then
      redis.call('ZREM', z.c, id)
    end
    if entry ~= 'c' then
      redis.call('ZREM', z.x, id)
    end
  end
  if entry == 'c' or entry == 'x' then
    forget[#forget + 1] = id
  end
end
if #forget > 0 then
  redis.call('HDEL', KEYS[3], unpack(forget))
  redis.call('HDEL', KEYS[4], unpack(forget))
end
return #due

-- name: purge_finished
-- KEYS: a queue's completed or cancelled ZSET, finished, expiry, ids, placements.
-- ARGV: chunk size, state letter.
-- Deletes up to a chunk of that state's jobs of one queue (the caller loops).
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then
  return 0
end
redis.call('ZREM', KEYS[1], unpack(items))
redis.call('HDEL', KEYS[2], unpack(items))
redis.call('ZREM', KEYS[3], unpack(items))
local entries = redis.call('HMGET', KEYS[4], unpack(items))
local forget = {}
for j, id in ipairs(items) do
  if entries[j] == ARGV[2] then
    forget[#forget + 1] = id
  end
end
if #forget > 0 then
  redis.call('HDEL', KEYS[4], unpack(forget))
  redis.call('HDEL', KEYS[5], unpack(forget))
end
return #items

-- name: retry
-- KEYS: running, leases, attempts, ids, stats, the job's queue's retry, running_counts,
-- finished, expiry, placements, aliases, the job's queue's cancelled.
-- ARGV: token, envelope, delay, finished channel.
-- A job whose cancel was requested is not retried (its cancel returned, so it must not
-- run again): the failure counts, and it ends CANCELLED with the new envelope, kept as
-- long as the cancel asked.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local meta = redis.call('HGET', KEYS[3], ARGV[1])
local doc = meta and string.find(meta, '{"keep":', 1, true) and full_record(meta)
local id, queue, priority = end_attempt(KEYS[2], KEYS[3], KEYS[4], KEYS[7], ARGV[1])
if doc and type(doc[6]) == 'table' then
  if id then
    local keep = tonumber(doc[6].keep) or 0
    local finished, expires, times = finish_times(now_seconds(), keep)
    local record = finished_record('cancelled', ARGV[2], nil, nil, meta, times, queue, priority)
    local k = {finished = KEYS[8], ids = KEYS[4], zset = KEYS[12], expiry = KEYS[9],
      placements = KEYS[10], aliases = KEYS[11]}
    finish_job(k, id, 'x', record, finished, expires, keep, ARGV[2], ARGV[4])
  end
else
  redis.call('ZADD', KEYS[6], now_seconds() + tonumber(ARGV[3]), ARGV[2])
  if id then
    redis.call('HSET', KEYS[4], id, 't' .. ARGV[2])
  end
end
redis.call('HINCRBY', KEYS[5], 'failed', 1)
if queue ~= 'default' then
  redis.call('HINCRBY', KEYS[5], 'failed:' .. queue, 1)
end
return 1

-- name: bury
-- KEYS: running, leases, attempts, ids, stats, the job's queue's dead, died, aliases,
-- running_counts.  ARGV: token, envelope, finished channel.
-- The dead list grows at the left, like the queue: the oldest burial is at the right.
-- A dead envelope that does not carry the job's id (the dead-letter entry of text that
-- was not an envelope) gets an alias. The time of death is kept under the job's id.
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[8], stored)
local id, queue = end_attempt(KEYS[2], KEYS[3], KEYS[4], KEYS[9], ARGV[1])
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
  redis.call('PUBLISH', ARGV[3], cjson.encode({dead_id})) -- wait_finished returns DEAD jobs
end
redis.call('HINCRBY', KEYS[5], 'failed', 1)
if queue ~= 'default' then
  redis.call('HINCRBY', KEYS[5], 'failed:' .. queue, 1)
end
return 1

-- name: release
-- KEYS: running, leases, attempts, ids, order, running_counts, finished, expiry,
-- placements, aliases, then per queue named in ARGV: its jobs, prio, wake, cancelled.
-- ARGV: finished channel, nq, nq queue names, tokens in claim order.
-- Puts the jobs back at the front of their queue and priority, the first-claimed
-- frontmost. A job whose cancel was requested is not put back (its cancel returned, so
-- it must not run again): it becomes CANCELLED, kept as long as the cancel asked.
local channel, nq = ARGV[1], tonumber(ARGV[2])
local groups = {}
for i = 1, nq do
  local g = 10 + 4 * (i - 1)
  groups[ARGV[2 + i]] = {jobs = KEYS[g + 1], prio = KEYS[g + 2], wake = KEYS[g + 3],
    spec = ARGV[2 + i] == 'default', cancelled = KEYS[g + 4]}
end
local released = 0
for i = #ARGV, nq + 3, -1 do
  local token = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], token)
  if raw then
    redis.call('HDEL', KEYS[1], token)
    local meta = redis.call('HGET', KEYS[3], token)
    local doc = meta and string.find(meta, '{"keep":', 1, true) and full_record(meta)
    local id, queue, priority = end_attempt(KEYS[2], KEYS[3], KEYS[4], KEYS[6], token)
    if doc and type(doc[6]) == 'table' then
      if id then
        local keep = tonumber(doc[6].keep) or 0
        local finished, expires, times = finish_times(now_seconds(), keep)
        local record = finished_record('cancelled', raw, nil, nil, meta, times, queue, priority)
        local k = {finished = KEYS[7], ids = KEYS[4], zset = groups[queue].cancelled,
          expiry = KEYS[8], placements = KEYS[9], aliases = KEYS[10]}
        finish_job(k, id, 'x', record, finished, expires, keep, raw, channel)
      end
    else
      push_job(groups[queue], raw, priority, KEYS[5], true)
      if id then
        redis.call('HSET', KEYS[4], id, 'q' .. raw)
      end
    end
    released = released + 1
  end
end
return released

-- name: heartbeat
-- KEYS: running, leases, workers, seen, stopping, attempts.
-- ARGV: lease, worker id, worker JSON, stop flag 0|1, tokens...
-- Returns {stop requested before this beat 0|1, {lost tokens...}, {held tokens whose
-- job's cancel was requested...}}.
local now = now_seconds()
local deadline = now + tonumber(ARGV[1])
local lost, held, cancelled = {}, {}, {}
for i = 5, #ARGV do
  local token = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], token) == 1 then
    redis.call('ZADD', KEYS[2], 'XX', deadline, token)
    held[#held + 1] = token
  else
    lost[#lost + 1] = token
  end
end
if #held > 0 then
  for i, meta in ipairs(redis.call('HMGET', KEYS[6], unpack(held))) do
    -- Only records of six fields or more can carry a request: skip decoding the rest.
    if meta and string.find(meta, '{"keep":', 1, true) and
        type(cjson.decode(meta)[6]) == 'table' then
      cancelled[#cancelled + 1] = held[i]
    end
  end
end
local stop = redis.call('SISMEMBER', KEYS[5], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], now, ARGV[2])
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[5], ARGV[2])
end
return {stop, lost, cancelled}

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
-- KEYS: the queue's schedule or retry, its jobs, prio, wake, then ids, aliases,
-- placements, order.  ARGV: limit, state letter, queue name.
-- Select, remove and enqueue in one script: each due job moves exactly once however
-- many pools promote at the same time (the Rust original races here). Each goes to the
-- back of its priority.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_seconds(), 'LIMIT', 0,
  tonumber(ARGV[1]))
local q = {jobs = KEYS[2], prio = KEYS[3], wake = KEYS[4], spec = ARGV[3] == 'default'}
local placed = redis.call('EXISTS', KEYS[7]) == 1
for _, raw in ipairs(due) do
  redis.call('ZREM', KEYS[1], raw)
  local id = envelope_id(raw) or redis.call('HGET', KEYS[6], raw)
  local priority = 0
  if placed then
    local _
    _, priority = placement_of(KEYS[7], id)
  end
  push_job(q, raw, priority, KEYS[8], false)
  if id then
    local current = redis.call('HGET', KEYS[5], id)
    if current == false or current == ARGV[2] .. raw then
      redis.call('HSET', KEYS[5], id, 'q' .. raw)
    end
  end
end
return #due

-- name: reclaim_expired
-- KEYS: running, leases, attempts, ids, seq, workers, seen, stopping, claimers, jobs,
-- aliases.
-- ARGV: limit, lease, worker id, forget workers silent for this many seconds, and
-- silent_after in seconds or ''.
-- Returns (job id, token, envelope, cancel requested 0|1) per attempt.
-- Re-leases to the caller (the reaper), under new tokens (of the same queue), expired
-- attempts and, with silent_after, the attempts claimed that long ago by registered
-- workers not heard from for that long, other than the caller (found by a pass over the
-- attempts, made only when such a worker exists); puts jobs stranded in the claiming list of a claimer that died between its
-- BLMOVE and its claim script back at the front of {ns}:jobs (their index entries still
-- say queued); and drops workers that stopped heartbeating long ago.
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
  local claimed_before = now - tonumber(ARGV[5])
  local quiet = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', claimed_before)
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
      local record = cjson.decode(metas[i + 1])
      -- A claim is a sign of life too (after a restart a pool claims before its
      -- heartbeat is through), and the reaper's own worker is alive.
      if not taken[token] and silent[record[2]] and record[2] ~= ARGV[3]
          and (record[3] or 0) < claimed_before then
        expired[#expired + 1] = token
      end
    end
  end
end
local out = {}
if #expired > 0 then
  local deadline = now + tonumber(ARGV[2])
  local next_token = token_factory(KEYS[5], #expired, t)
  for _, old in ipairs(expired) do
    local raw = redis.call('HGET', KEYS[1], old)
    local meta = redis.call('HGET', KEYS[3], old)
    redis.call('HDEL', KEYS[1], old)
    redis.call('ZREM', KEYS[2], old)
    redis.call('HDEL', KEYS[3], old)
    if raw then
      local doc = full_record(meta)
      local id, queue, priority = doc[1], doc[4], doc[5]
      if id == '' then
        id = envelope_id(raw) or redis.call('HGET', KEYS[11], raw)
      end
      local token = next_token() .. queue_mark(queue)
      redis.call('HSET', KEYS[1], token, raw)
      redis.call('ZADD', KEYS[2], deadline, token)
      local record
      if doc[6] ~= 0 or doc[7] then
        -- The cancel request and the progress go with the job to its new attempt.
        record = cjson.encode({id or '', ARGV[3], now, queue, priority, doc[6], doc[7]})
      else
        record = attempt_record(id, ARGV[3], now, queue, priority)
      end
      redis.call('HSET', KEYS[3], token, record)
      if id then
        local current = redis.call('HGET', KEYS[4], id)
        if current == false or current == 'r' .. old then
          redis.call('HSET', KEYS[4], id, 'r' .. token)
        end
      end
      out[#out + 1] = id or ''
      out[#out + 1] = token
      out[#out + 1] = raw
      out[#out + 1] = doc[6] ~= 0 and 1 or 0
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
-- KEYS: running, running_counts, claimers, then per queue named in ARGV: its jobs,
-- prio, schedule, retry, dead, completed, cancelled.  ARGV: queue names.
-- Returns per queue {queued, scheduled, retry, running, dead, next envelope in its list
-- or false, first envelope of its priority set or false, completed, cancelled}, in one
-- consistent read.
-- A job a blocking claim's BLMOVE just took into its claiming list is still queued
-- (the claim script leases it a moment later): counted for default, and next to run,
-- so that the counts never show a namespace empty while a job is on its way to a
-- worker. The running jobs of default are those no other queue counts.
local others = 0
for _, count in ipairs(redis.call('HVALS', KEYS[2])) do
  others = others + tonumber(count)
end
local out = {}
for i, queue in ipairs(ARGV) do
  local g = 3 + 7 * (i - 1)
  local queued, next_raw = redis.call('LLEN', KEYS[g + 1]), false
  local running
  if queue == 'default' then
    for _, claiming in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
      local taken = redis.call('LLEN', claiming)
      if taken > 0 then
        queued = queued + taken
        next_raw = next_raw or redis.call('LINDEX', claiming, -1)
      end
    end
    running = redis.call('HLEN', KEYS[1]) - others
  else
    running = tonumber(redis.call('HGET', KEYS[2], queue) or '0')
  end
  if not next_raw then
    next_raw = redis.call('LINDEX', KEYS[g + 1], -1)
  end
  local first = redis.call('ZRANGE', KEYS[g + 2], 0, 0)
  out[i] = {queued + redis.call('ZCARD', KEYS[g + 2]), redis.call('ZCARD', KEYS[g + 3]),
    redis.call('ZCARD', KEYS[g + 4]), running, redis.call('LLEN', KEYS[g + 5]), next_raw,
    first[1] or false, redis.call('ZCARD', KEYS[g + 6]), redis.call('ZCARD', KEYS[g + 7])}
end
return out

-- name: get_job
-- KEYS: ids, then the job's queue's jobs, schedule, retry, dead, then running, leases,
-- attempts, claimers, died, then the queue's prio, then finished.  ARGV: job id.
-- Returns {state letter, envelope (a finished job's record), due time or lease deadline
-- or '', attempt meta or time of death or ''},
-- or nil when the index does not know the id. An entry whose job is gone (popped by a
-- program that does not keep the index, e.g. a Rust worker) is dropped.
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then
  return nil
end
local state, rest = string.sub(entry, 1, 1), string.sub(entry, 2)
if state == 'q' then
  if redis.call('LPOS', KEYS[2], rest) or redis.call('ZSCORE', KEYS[11], rest) then
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
elseif state == 'c' or state == 'x' then
  local record = redis.call('HGET', KEYS[12], ARGV[1])
  if record then
    return {state, record, '', ''}
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

-- name: import_jobs
-- KEYS: ids, aliases, placements, queues, order, died, finished, expiry, then the
-- queue's jobs, prio, schedule, retry, dead, wake, completed, cancelled, then unique,
-- limit_keys.
-- ARGV: queue name, then rows of 8: job id, state letter (q s t d c x), priority, time
-- (s, t: due; d: death, '' for now; c, x: finish), expiry (c, x; else ''), text (the
-- envelope; for c, x the finished record, see finished_record), unique key whose hold
-- the job takes ('' for none: sent for q, s, t only), limit key ('' for none).
-- wg migrate's import: each job lands in its state's structure unless its id is in the
-- index already (any state: skipped), so that importing twice stores each job once. A
-- stored job takes its unique key's hold (no timed part) unless another job holds it
-- (see unique_taker), and its limit key is set. Returns how many were stored.
local queue = ARGV[1]
local q = {jobs = KEYS[9], prio = KEYS[10], wake = KEYS[14], spec = queue == 'default'}
local stored, named, now = 0, false, nil
for i = 2, #ARGV, 8 do
  local id, letter, priority = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local at, expires, text = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local unique, limit_key = ARGV[i + 6], ARGV[i + 7]
  if redis.call('HSETNX', KEYS[1], id, letter) == 1 then
    stored = stored + 1
    if letter == 'c' or letter == 'x' then
      redis.call('HSET', KEYS[7], id, text)
      redis.call('ZADD', letter == 'c' and KEYS[15] or KEYS[16], at, id)
      redis.call('ZADD', KEYS[8], expires, id)
    else
      redis.call('HSET', KEYS[1], id, letter .. text)
      if letter == 'q' then
        push_job(q, text, priority, KEYS[5], false)
      elseif letter == 's' then
        redis.call('ZADD', KEYS[11], at, text)
      elseif letter == 't' then
        redis.call('ZADD', KEYS[12], at, text)
      else
        redis.call('LPUSH', KEYS[13], text)
        if at == '' then
          at = string.format('%.6f', (now_seconds()))
        end
        redis.call('HSET', KEYS[6], id, at)
      end
      if not says_id(text, id) then
        redis.call('HSET', KEYS[2], text, id)
      end
    end
    if queue ~= 'default' or priority ~= 0 then
      redis.call('HSET', KEYS[3], id, queue .. ' ' .. priority)
      if queue ~= 'default' and not named then
        named = true
        redis.call('SADD', KEYS[4], queue)
      end
    end
    if unique ~= '' then
      local held, taker = redis.call('HGET', KEYS[17], unique), nil
      if held then
        taker, now = unique_taker(held, KEYS[1], id, now)
      end
      if not taker then
        redis.call('HSET', KEYS[17], unique, id .. ' 0')
      end
    end
    if limit_key ~= '' then
      redis.call('HSET', KEYS[18], id, limit_key)
    end
  end
end
return stored

-- name: move_to_queue
-- KEYS: the queue's jobs, schedule, retry, dead, then ids, died, aliases, then the
-- queue's prio, wake, then placements, order, then finished, expiry, then the queue's
-- completed, cancelled.
-- ARGV: queue name, then (job id, state letter, stored envelope or '', new envelope)...
-- An empty stored envelope means "where the id index says". Each job moves only if it is
-- still in that state, to the back of its queue and priority (a completed or cancelled
-- job runs again, its record forgotten). Returns one status per job: 1 moved, 0 not in
-- that state, -1 the index does not know where it is (the caller looks for it and
-- calls again).
local q = {jobs = KEYS[1], prio = KEYS[8], wake = KEYS[9], spec = ARGV[1] == 'default'}
local done = {finished = KEYS[12], expiry = KEYS[13], c = KEYS[14], x = KEYS[15]}
local statuses = {}
for i = 2, #ARGV, 4 do
  local id, state, old, new = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local status, indexed = 0, old == ''
  local finished = state == 'c' or state == 'x'
  if indexed then
    local entry = redis.call('HGET', KEYS[5], id)
    if not entry then
      status = -1
    elseif string.sub(entry, 1, 1) == state then
      old = finished and id or string.sub(entry, 2)
    end
  end
  if old ~= '' then
    if remove_stored(KEYS, state, old, done) > 0 then
      local _, priority = placement_of(KEYS[10], id)
      push_job(q, new, priority, KEYS[11], false)
      local current = redis.call('HGET', KEYS[5], id)
      if current == false or current == (finished and state or state .. old) then
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
-- KEYS: the queue's jobs, schedule, retry, dead, then ids, died, aliases, then the
-- queue's prio, then placements, then finished, expiry, then the queue's completed,
-- cancelled.
-- ARGV: (job id, state letter or '', envelope or '')...
-- Empty state and envelope mean "where the id index says" (never a running job; a
-- completed or cancelled one too). Returns one status per job, as move_to_queue does.
local done = {finished = KEYS[10], expiry = KEYS[11], c = KEYS[12], x = KEYS[13]}
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
      if state == 'c' or state == 'x' then
        raw = id
      end
    end
  end
  if raw ~= '' then
    local finished = state == 'c' or state == 'x'
    if remove_stored(KEYS, state, raw, done) > 0 then
      if redis.call('HGET', KEYS[5], id) == (finished and state or state .. raw) then
        redis.call('HDEL', KEYS[5], id)
        redis.call('HDEL', KEYS[9], id)
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
-- KEYS: the state's list or zset (of one queue), ids, died, aliases, placements.
-- ARGV: 'list' | 'zset', state letter, chunk size.
-- Deletes up to a chunk (the caller loops, so the server never blocks for long), with
-- the times of death of purged dead jobs and the placements of purged jobs.
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
local has_placements = redis.call('EXISTS', KEYS[5]) == 1
for _, raw in ipairs(items) do
  local id = has_aliases and stored_id(KEYS[4], raw) or envelope_id(raw)
  if id and redis.call('HGET', KEYS[2], id) == ARGV[2] .. raw then
    redis.call('HDEL', KEYS[2], id)
    if has_placements then
      redis.call('HDEL', KEYS[5], id)
    end
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

-- name: set_queue_paused
-- KEYS: the queue's paused flag, its wake stream, queues.
-- ARGV: 1 to pause, 0 to resume, queue name.
-- Claimers skip a paused queue; resuming appends to its wake stream, which wakes the
-- idle claimers that serve it.
if ARGV[2] ~= 'default' then
  redis.call('SADD', KEYS[3], ARGV[2])
end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], '1')
else
  redis.call('DEL', KEYS[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '1', '*', 'j', '1')
end
return 1

-- name: upgrade_layout
-- KEYS: meta, lock.  ARGV: lock token, version found, version to record.
-- Records the new layout version if the caller still holds the upgrade lock and the
-- namespace is still at the version it upgraded from; releases the lock. Layout 2 reads
-- every job of layout 0 and 1 as it is (a job without a placement is default's, at
-- priority 0; an attempt record of three fields likewise), so recording is the upgrade.
-- Layout 3 adds keys only (finished jobs, their expiry, per-queue finished ZSETs) and
-- reads layout 2's records as they are (an attempt record of five fields has no cancel
-- request and no progress), so recording is that upgrade too.
-- Layout 4 adds keys only (queue limits: {ns}:limits, {ns}:limit_keys, each limited
-- queue's holders and starts), so recording is that upgrade as well; so is layout 5
-- (it changes the SQL engine only).
-- Returns 1 when recorded, 0 when another writer did it first.
local found = redis.call('HGET', KEYS[1], 'layout') or '0'
local recorded = 0
if redis.call('GET', KEYS[2]) == ARGV[1] and found == ARGV[2] then
  redis.call('HSET', KEYS[1], 'layout', ARGV[3], 'upgraded_from', found)
  redis.call('HINCRBY', KEYS[1], 'upgrades', 1)
  recorded = 1
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return recorded

-- Periodic entries (layout 4; wg_core/backends/redis/periodic.py). {ns}:periodic holds
-- each entry's definition (name -> JSON, written by the pool), {ns}:periodic_runs its
-- runs (name -> "<last tick> <last run at> <next run> <last job id>", '-' for none).
-- Ticks stay the decimal text the pools sent, compared with tonumber: Lua's own number
-- formatting would round them.

-- name: periodic_register
-- KEYS: periodic, periodic_runs.
-- ARGV: n, then per entry: name, definition JSON, schedule, baseline tick, next run.
-- Makes the registry hold exactly these entries: a new entry starts from its baseline,
-- a changed schedule starts again from it (its last run and job stay), an unchanged
-- one keeps its last tick; every undeclared entry is deleted.
local n = tonumber(ARGV[1])
local declared = {}
for i = 0, n - 1 do
  local b = 2 + 5 * i
  local name, definition, schedule = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local baseline, next_run = ARGV[b + 3], ARGV[b + 4]
  declared[name] = true
  local old = redis.call('HGET', KEYS[1], name)
  local record = redis.call('HGET', KEYS[2], name) or '- - - -'
  local last_tick, last_run, _, last_job = string.match(record, '^(%S+) (%S+) (%S+) (%S+)$')
  local ok, doc = pcall(cjson.decode, old or '')
  if not (ok and type(doc) == 'table' and doc.schedule == schedule) then
    last_tick = baseline
  end
  redis.call('HSET', KEYS[1], name, definition)
  redis.call('HSET', KEYS[2], name, table.concat({last_tick, last_run, next_run, last_job}, ' '))
end
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not declared[name] then
    redis.call('HDEL', KEYS[1], name)
    redis.call('HDEL', KEYS[2], name)
  end
end
return n

-- name: periodic_fire
-- KEYS: enqueue's for one job (ids, aliases, placements, queues, order, then its
-- queue's jobs, prio, schedule, wake), then periodic, periodic_runs, periodic_pending.
-- ARGV: enqueue's for that job, then the entry's name, the tick ('-': a run by hand),
-- now, the next run ('-': keep), the job's id, and the firing pool's definition of the
-- entry ('-': none; else its JSON as periodic_register stores it) and next run, and
-- '1' to store the job, or else the tick's pending record: claim the tick only and
-- record it pending under the job's id, for a job whose queue has a slot of its own,
-- which the caller stores next and then un-records (slots.py).
-- Claims the tick (a compare-and-set on the last tick) and stores the job with
-- enqueue's own code, in this one script: the record is written only once the job is
-- stored (enqueue refuses a duplicate before writing anything). An entry missing from
-- the registry (a registration of a pool declaring another list deleted it) is
-- re-created from the definition, with this tick as its first. Returns 1 when the job
-- was stored (or this very call already stored it: a repeated call), 0 when the entry
-- is not registered (and no definition came) or the tick was claimed already.
local a = #ARGV - 8
local name, tick, now, next_run, job_id = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
local definition, defined_next, store = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8]
local entries, runs, pending = KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
local revive = redis.call('HEXISTS', entries, name) == 0
if revive and (definition == '-' or tick == '-') then
  return 0
end
local record = revive and ('- - ' .. defined_next .. ' -')
  or redis.call('HGET', runs, name) or '- - - -'
local last_tick, _, stored_next, last_job = string.match(record, '^(%S+) (%S+) (%S+) (%S+)$')
if tick ~= '-' and last_tick ~= '-' and tonumber(last_tick) >= tonumber(tick) then
  if last_tick == tick and last_job == job_id then
    return 1
  end
  return 0
end
local stored = store ~= '1' and 1 or (function()
--@include enqueue
end)()
if type(stored) == 'table' then
  return stored -- enqueue's error (a duplicate id): nothing was written
end
if tick == '-' then
  tick = last_tick
end
if next_run == '-' then
  next_run = stored_next
end
if revive then
  redis.call('HSET', entries, name, definition)
end
if store ~= '1' then
  redis.call('HSET', pending, job_id, store)
end
redis.call('HSET', runs, name, table.concat({tick, now, next_run, job_id}, ' '))
return 1

-- Queue limits (issue 20, layout 4): {ns}:limits (queue -> JSON {c, r, p, k}:
-- concurrency, rate, window in seconds, per key), {ns}:limit_keys (job id -> limit key),
-- and per limited queue two ZSETs of "<token> <bucket>": holders (attempts its limited
-- claims leased, and those running when the limit was set: limit_set; one whose token
-- left {ns}:leases is pruned, one whose lease ran out is not counted) and starts (scored by start time, pruned past the window). A bucket
-- is the job's limit key under a per-key limit, '' otherwise.

-- name: claim_limited
-- KEYS: running, leases, attempts, ids, seq, paused, aliases, running_counts, limits,
-- limit_keys, then the queue's jobs, prio, paused, wake, holders, starts.
-- ARGV: limit, lease, worker id, queue.
-- The claim of one limited queue: counts its live holders and its starts in the window
-- per bucket, then leases, in claim order (higher priority, then FIFO), the ready jobs
-- whose bucket has room, skipping the others (they keep their place). Only jobs among
-- the first few of each part of the queue (`scan` of them) are looked at.
-- Returns {paused 0|1, {seconds until the rate lets a job start or '', last wake id},
-- (job id or '', token, envelope)...}.
local limit, queue = tonumber(ARGV[1]), ARGV[4]
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {1, {'', '0-0'}}
end
local last = redis.call('XREVRANGE', KEYS[14], '+', '-', 'COUNT', 1)
local wake_id = last[1] and last[1][1] or '0-0'
if redis.call('EXISTS', KEYS[13]) == 1 then
  return {0, {'', wake_id}}
end
local conc, rate, per, per_key = nil, nil, nil, false
local spec = redis.call('HGET', KEYS[9], queue)
if spec then
  local doc = cjson.decode(spec)
  if doc.c ~= cjson.null then conc = tonumber(doc.c) end
  if doc.r ~= cjson.null then rate, per = tonumber(doc.r), tonumber(doc.p) end
  per_key = doc.k == 1
end
local now, t = now_seconds()
local function split(member)
  local space = string.find(member, ' ', 1, true)
  return string.sub(member, 1, space - 1), string.sub(member, space + 1)
end
local running, gone = {}, {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[15], 0, -1)) do
  local token, bucket = split(member)
  local lease_until = redis.call('ZSCORE', KEYS[2], token)
  if not lease_until then
    gone[#gone + 1] = member
  elseif tonumber(lease_until) > now then
    running[bucket] = (running[bucket] or 0) + 1
  end
end
if #gone > 0 then
  redis.call('ZREM', KEYS[15], unpack(gone))
end
local started, oldest = {}, {}
if rate then
  redis.call('ZREMRANGEBYSCORE', KEYS[16], '-inf', now - per)
  local log = redis.call('ZRANGE', KEYS[16], 0, -1, 'WITHSCORES')
  for j = 1, #log, 2 do
    local _, bucket = split(log[j])
    started[bucket] = (started[bucket] or 0) + 1
    if not oldest[bucket] then
      oldest[bucket] = tonumber(log[j + 1])
    end
  end
end
local function room(bucket)
  if conc and (running[bucket] or 0) >= conc then
    return false
  end
  if rate and (started[bucket] or 0) >= rate then
    return false
  end
  return true
end
local wait = nil
local function held(bucket)
  if rate and (started[bucket] or 0) >= rate and oldest[bucket] then
    local w = oldest[bucket] + per - now
    if not wait or w < wait then
      wait = w
    end
  end
end
local scan = per_key and (limit * 4 + 64) or limit
local taken = {}
local function consider(raw, priority, remove)
  local id = envelope_id(raw) or redis.call('HGET', KEYS[7], raw)
  local bucket = ''
  if per_key and id then
    bucket = redis.call('HGET', KEYS[10], id) or ''
  end
  if not room(bucket) then
    held(bucket)
    return
  end
  remove()
  running[bucket] = (running[bucket] or 0) + 1
  if rate then
    started[bucket] = (started[bucket] or 0) + 1
    oldest[bucket] = oldest[bucket] or now
  end
  taken[#taken + 1] = {raw, priority, id, bucket}
end
local function closed()
  return #taken >= limit or (not per_key and not room(''))
end
local prio, jobs = KEYS[12], KEYS[11]
local higher = redis.call('ZRANGEBYSCORE', prio, '-inf', '(0', 'WITHSCORES', 'LIMIT', 0, scan)
for j = 1, #higher, 2 do
  if closed() then break end
  consider(higher[j], score_priority(higher[j + 1]), function() redis.call('ZREM', prio, higher[j]) end)
end
if not closed() then
  local listed = redis.call('LRANGE', jobs, -scan, -1)
  for j = #listed, 1, -1 do
    if closed() then break end
    consider(listed[j], 0, function() redis.call('LREM', jobs, -1, listed[j]) end)
  end
end
if not closed() then
  local lower = redis.call('ZRANGEBYSCORE', prio, '0', '+inf', 'WITHSCORES', 'LIMIT', 0, scan)
  for j = 1, #lower, 2 do
    if closed() then break end
    consider(lower[j], score_priority(lower[j + 1]), function() redis.call('ZREM', prio, lower[j]) end)
  end
end
if not per_key and not room('') then
  held('')
end
local out = {0, {wait and tostring(wait) or '', wake_id}}
if #taken == 0 then
  return out
end
local deadline = now + tonumber(ARGV[2])
local next_token = token_factory(KEYS[5], #taken, t)
for _, job in ipairs(taken) do
  local raw, priority, id, bucket = job[1], job[2], job[3], job[4]
  local token = next_token() .. queue_mark(queue)
  redis.call('HSET', KEYS[1], token, raw)
  redis.call('ZADD', KEYS[2], deadline, token)
  redis.call('HSET', KEYS[3], token, attempt_record(id, ARGV[3], now, queue, priority))
  if id then
    redis.call('HSET', KEYS[4], id, 'r' .. token)
  end
  redis.call('ZADD', KEYS[15], now, token .. ' ' .. bucket)
  if rate then
    redis.call('ZADD', KEYS[16], now, token .. ' ' .. bucket)
  end
  out[#out + 1] = id or ''
  out[#out + 1] = token
  out[#out + 1] = raw
end
if queue ~= 'default' then
  redis.call('HINCRBY', KEYS[8], queue, #taken)
end
return out

-- name: limit_set
-- KEYS: limits, leases, attempts, limit_keys, then the queue's holders.
-- ARGV: queue, the limit's JSON, per key 0|1.
-- Store a queue's limit (replacing it) and make the queue's jobs running under a live
-- lease its holders, each under its bucket as this limit reads it: a limit set on a
-- busy queue counts the jobs claimed before it (and a replaced limit's holders are
-- counted by the new one's buckets), as SQL and memory count running jobs.
-- Returns how many jobs of the queue run now.
local queue, per_key = ARGV[1], ARGV[3] == '1'
redis.call('HSET', KEYS[1], queue, ARGV[2])
redis.call('DEL', KEYS[5])
local now = now_seconds()
local held = 0
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
  local meta = redis.call('HGET', KEYS[3], token)
  if meta then
    local id, of = read_record(meta)
    if of == queue then
      local bucket = ''
      if per_key and id ~= '' then
        bucket = redis.call('HGET', KEYS[4], id) or ''
      end
      redis.call('ZADD', KEYS[5], now, token .. ' ' .. bucket)
      held = held + 1
    end
  end
end
return held

-- name: limit_use
-- KEYS: leases, limits, then per queue: holders, starts.  ARGV: queues.
-- Each queue's use of its limit: {running, started in the window, keys running}...
local now = now_seconds()
local out = {}
for i, queue in ipairs(ARGV) do
  local spec = redis.call('HGET', KEYS[2], queue)
  local doc = spec and cjson.decode(spec) or {}
  local running, buckets, nbuckets = 0, {}, 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2 * i + 1], 0, -1)) do
    local space = string.find(member, ' ', 1, true)
    local token = string.sub(member, 1, space - 1)
    local lease_until = redis.call('ZSCORE', KEYS[1], token)
    if lease_until and tonumber(lease_until) > now then
      running = running + 1
      local bucket = string.sub(member, space + 1)
      if not buckets[bucket] then
        buckets[bucket] = true
        nbuckets = nbuckets + 1
      end
    end
  end
  local started = 0
  if doc.r and doc.r ~= cjson.null then
    started = redis.call('ZCOUNT', KEYS[2 * i + 2], '(' .. (now - tonumber(doc.p)), '+inf')
  end
  out[#out + 1] = {running, started, nbuckets}
end
return out

-- name: limit_keys_prune
-- KEYS: limit_keys, ids.  ARGV: cursor, count.
-- One HSCAN step over the limit keys: those of jobs no longer stored are deleted.
-- Returns {next cursor, deleted}.
local step = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', tonumber(ARGV[2]))
local doomed = {}
local fields = step[2]
for j = 1, #fields, 2 do
  if redis.call('HEXISTS', KEYS[2], fields[j]) == 0 then
    doomed[#doomed + 1] = fields[j]
  end
end
if #doomed > 0 then
  redis.call('HDEL', KEYS[1], unpack(doomed))
end
return {step[1], #doomed}

-- name: limit_keys_set
-- KEYS: limit_keys, ids.  ARGV: after 0|1, then job id, limit key pairs.
-- Before an enqueue (after = 0): each key of a job id not stored yet; after it (1): each
-- key of a job id stored now (a prune between the two may have taken the first).
local after = ARGV[1] == '1'
local set = 0
for j = 2, #ARGV, 2 do
  if (redis.call('HEXISTS', KEYS[2], ARGV[j]) == 1) == after then
    redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
    set = set + 1
  end
end
return set
