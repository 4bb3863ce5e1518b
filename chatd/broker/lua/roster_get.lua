-- KEYS: hash, exp   -> {rev, member1, value1, ...} of live members
local out = {rev_of(KEYS[1])}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
  local v = redis.call('HGET', KEYS[1], 'm:' .. m)
  if v then
    table.insert(out, m)
    table.insert(out, v)
  end
end
return out
