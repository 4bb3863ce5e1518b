-- KEYS: conns1, users1, conns2, users2, ...   -> the live members of each room
local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = sync(KEYS[i], KEYS[i + 1])
end
return out
