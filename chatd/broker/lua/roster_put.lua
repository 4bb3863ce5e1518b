-- Only roster_prune deletes expired members, so exactly one caller learns of
-- an expiry; the others just do not count or list them.
-- KEYS: hash, exp   ARGV: member, value, ttl_ms, limit (0: none)
local field = 'm:' .. ARGV[1]
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local live = score and tonumber(score) > now
local limit = tonumber(ARGV[4])
if not live and limit > 0 and redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') >= limit then
  return false
end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
local rev
if live and redis.call('HGET', KEYS[1], field) == ARGV[2] then
  rev = rev_of(KEYS[1])
else
  redis.call('HSET', KEYS[1], field, ARGV[2])
  rev = string.format('%.0f', bump(KEYS[1]))
end
for _, k in ipairs(KEYS) do
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end
return rev
