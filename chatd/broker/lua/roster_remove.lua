-- KEYS: hash, exp   ARGV: member
if redis.call('HDEL', KEYS[1], 'm:' .. ARGV[1]) == 0 then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
return string.format('%.0f', bump(KEYS[1]))
