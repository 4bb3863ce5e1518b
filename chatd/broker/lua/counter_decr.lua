-- Only a live, positive counter is decremented; DECR keeps its TTL.
-- KEYS: counter
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v > 0 then redis.call('DECR', KEYS[1]) end
return 1
