-- KEYS: hash1, exp1, hash2, exp2, ...   -> indexes (1-based pairs) that lost members
local changed = {}
for i = 1, #KEYS, 2 do
  if prune(KEYS[i], KEYS[i + 1]) then table.insert(changed, (i + 1) / 2) end
end
return changed
