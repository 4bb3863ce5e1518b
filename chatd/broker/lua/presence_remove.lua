-- KEYS: conns, users   ARGV: member
redis.call('ZREM', KEYS[1], ARGV[1])
sync(KEYS[1], KEYS[2])
return 1
