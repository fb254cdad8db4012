"""The Redis broker's Lua scripts: each one atomic step on the server.

Keys (``<p>`` is the configured prefix):

- ``<p>stream``: a hash with the stream's ``epoch`` and last ``offset``. One key, so a Redis
  that lost its data loses both together and the next step starts a new epoch: clients are
  told ``epoch_changed`` instead of being handed offsets that mean something else now.
- ``<p>h:<channel>``: the channel's history, a sorted set of entries scored by offset, bounded
  by count and age (each entry starts with its publish time in ms). It expires as a whole
  after the TTL without publishes, when every entry in it would have expired anyway.
- ``<p>r:<channel>``: the channel's record, a hash: ``last`` offset published to it and
  ``letgo``, the newest offset it no longer has (see core/history.py: the same promise).
- ``<p>i:<key>``: an idempotency key's first position, for the broker's window.

Time is the Redis server's clock (``TIME``), or milliseconds passed in (tests).
"""

from __future__ import annotations

__all__ = ["GAP", "PUBLISH", "SINCE"]

_COMMON = """
local function now_ms(given)
  local n = tonumber(given)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function stream_epoch(stream, fresh)
  local epoch = redis.call('HGET', stream, 'epoch')
  if not epoch then
    epoch = fresh
    redis.call('HSET', stream, 'epoch', epoch, 'offset', 0)
  end
  return epoch
end

-- Drop entries older than ttl from the oldest end; returns the newest offset dropped.
local function expire(history, now, ttl)
  local letgo = nil
  while true do
    local first = redis.call('ZRANGE', history, 0, 0, 'WITHSCORES')
    if #first == 0 then return letgo end
    if now - tonumber(string.match(first[1], '^%d+')) <= ttl then return letgo end
    redis.call('ZREMRANGEBYRANK', history, 0, 0)
    letgo = first[2]
  end
end
"""

# KEYS: stream, idempotency key, then per channel: history, record.
# ARGV: fresh epoch, idempotency window ms (0: no key), now ms ('' for the server's clock),
#       body, then per channel: pub/sub channel, max entries, ttl ms.
# Returns {1, 'epoch:offset'} for a new event, {0, 'epoch:offset'} for a repeated key.
PUBLISH = _COMMON + """
local now = now_ms(ARGV[3])
local window = tonumber(ARGV[2])
if window > 0 then
  local seen = redis.call('GET', KEYS[2])
  if seen then return {0, seen} end
end
local epoch = stream_epoch(KEYS[1], ARGV[1])
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local entry = now .. '\\n' .. epoch .. '\\n' .. offset .. '\\n' .. ARGV[4]
for i = 1, (#KEYS - 2) / 2 do
  local history, record = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local max, ttl = tonumber(ARGV[3 + 3 * i]), tonumber(ARGV[4 + 3 * i])
  local letgo = nil
  if max > 0 then
    redis.call('ZADD', history, offset, entry)
    local size = redis.call('ZCARD', history)
    if size > max then
      local cut = redis.call('ZRANGE', history, size - max - 1, size - max - 1, 'WITHSCORES')
      letgo = cut[2]
      redis.call('ZREMRANGEBYRANK', history, 0, size - max - 1)
    end
    letgo = expire(history, now, ttl) or letgo
    redis.call('PEXPIRE', history, ttl)
  else
    letgo = offset
  end
  if letgo then
    redis.call('HSET', KEYS[2 + 2 * i], 'last', offset, 'letgo', letgo)
  else
    redis.call('HSET', KEYS[2 + 2 * i], 'last', offset)
  end
  redis.call('PUBLISH', ARGV[2 + 3 * i], entry)
end
local position = epoch .. ':' .. offset
if window > 0 then redis.call('SET', KEYS[2], position, 'PX', window) end
return {1, position}
"""

# KEYS: stream, then per channel: history, record.
# ARGV: fresh epoch, now ms ('' for the server's clock), the client's epoch and offset,
#       then per channel: ttl ms.
# Returns {epoch, last offset, trusted (1/0), then per channel: letgo, {entries after}}.
SINCE = _COMMON + """
local now = now_ms(ARGV[2])
local epoch = stream_epoch(KEYS[1], ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local trusted = ARGV[3] == epoch and tonumber(ARGV[4]) <= last
local from = '0'
if trusted then from = ARGV[4] end
local out = {epoch, last, trusted and 1 or 0}
for i = 1, (#KEYS - 1) / 2 do
  local history, record = KEYS[2 * i], KEYS[1 + 2 * i]
  local letgo = expire(history, now, tonumber(ARGV[4 + i]))
  if letgo then redis.call('HSET', record, 'letgo', letgo) end
  local kept = redis.call('HMGET', record, 'last', 'letgo')
  local gone = tonumber(kept[2]) or 0
  if redis.call('EXISTS', history) == 0 then
    -- Never kept, or expired as a whole: all it ever had is gone.
    gone = tonumber(kept[1]) or 0
  end
  out[#out + 1] = gone
  out[#out + 1] = redis.call('ZRANGEBYSCORE', history, '(' .. from, '+inf')
end
return out
"""

# After an outage in which a node delivered events only locally (or lost publishes), one
# offset of the stream stands for them: each affected channel lets it go (so a client whose
# position is before it is told it missed something) and hears a gap entry on pub/sub (so
# every node tells the channel's live subscribers).
# KEYS: stream, then per channel: record.
# ARGV: fresh epoch, now ms ('' for the server's clock), body, then per channel: pub/sub channel.
# Returns 'epoch:offset' of the gap.
GAP = _COMMON + """
local now = now_ms(ARGV[2])
local epoch = stream_epoch(KEYS[1], ARGV[1])
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local entry = now .. '\\n' .. epoch .. '\\n' .. offset .. '\\n' .. ARGV[3]
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], 'last', offset, 'letgo', offset)
  redis.call('PUBLISH', ARGV[2 + i], entry)
end
return epoch .. ':' .. offset
"""
