-- KEYS: conns1, users1, conns2, users2, ...
-- ARGV: ttl_ms, then per key pair: n, member1, user_id1, ..., member_n, user_id_n
local t = redis.call('TIME')
local ttl = tonumber(ARGV[1])
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
local a = 2
for i = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    redis.call('ZADD', KEYS[i], expiry, ARGV[a])
    redis.call('SADD', KEYS[i + 1], ARGV[a + 1])
    a = a + 2
  end
  for j = i, i + 1 do
    if redis.call('PTTL', KEYS[j]) < ttl then redis.call('PEXPIRE', KEYS[j], ttl) end
  end
end
return 1
