-- Prune expired connections, then make the users set exactly the users that
-- still have a live connection. Returns the live members.
local function sync(conns, users)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
  local members = redis.call('ZRANGE', conns, 0, -1)
  local live = {}
  for _, m in ipairs(members) do
    live[string.match(m, '^([^|]*)|')] = true
  end
  for _, uid in ipairs(redis.call('SMEMBERS', users)) do
    if not live[uid] then redis.call('SREM', users, uid) end
  end
  if #members > 0 then
    for uid, _ in pairs(live) do redis.call('SADD', users, uid) end
    local pttl = redis.call('PTTL', conns)
    if pttl > 0 then redis.call('PEXPIRE', users, pttl) end
  end
  return members
end
