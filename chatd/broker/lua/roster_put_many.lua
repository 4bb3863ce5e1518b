-- roster_put without a limit for many members of many rosters.
-- KEYS: hash1, exp1, hash2, exp2, ...   ARGV: ttl_ms, then per key pair: member, value
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  local hash, exp = KEYS[i], KEYS[i + 1]
  local member, value = ARGV[i + 1], ARGV[i + 2]
  local field = 'm:' .. member
  local score = redis.call('ZSCORE', exp, member)
  local live = score and tonumber(score) > now
  redis.call('ZADD', exp, now + ttl, member)
  if not (live and redis.call('HGET', hash, field) == value) then
    redis.call('HSET', hash, field, value)
    bump(hash)
  end
  for _, k in ipairs({hash, exp}) do
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
return 1
