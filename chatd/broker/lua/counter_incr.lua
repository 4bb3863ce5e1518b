-- The first increment sets the TTL; checking PTTL instead of the INCR result
-- also repairs a key that somehow lost its TTL. (EXPIRE NX would need Redis 7.)
-- KEYS: counter   ARGV: ttl_ms
local v = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
