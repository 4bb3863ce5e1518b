-- Rosters: a hash `<prefix>roster:<key>` (field `_rev` plus `m:<member>` -> value)
-- and a sorted set `<prefix>roster:<key>:exp` of members scored by expiry in ms
-- of the Redis server's clock (one clock for every node). Revisions are at least
-- the server time in microseconds, so they keep growing after the keys expire.
-- Both keys carry a key-level TTL as a backstop.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function bump(hash)
  local rev = tonumber(redis.call('HGET', hash, '_rev') or '0')
  rev = math.max(rev + 1, now_us)
  redis.call('HSET', hash, '_rev', string.format('%.0f', rev))
  return rev
end
local function prune(hash, exp)
  local gone = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
  if #gone == 0 then return false end
  redis.call('ZREMRANGEBYSCORE', exp, '-inf', now)
  for _, m in ipairs(gone) do redis.call('HDEL', hash, 'm:' .. m) end
  bump(hash)
  return true
end
local function rev_of(hash)
  return redis.call('HGET', hash, '_rev') or '0'
end
