--[[
  Cluster-wide subscriber count of one room.

  KEYS[1] rooms  hash roomId -> JSON {filters}
  KEYS[2] room   hash nodeId -> subscriber count (this room)

  ARGV[1] roomId

  Returns the room's total, or -1 when the room does not exist.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return -1
end
local total = 0
for _, value in ipairs(redis.call('HVALS', KEYS[2])) do
  total = total + tonumber(value)
end
return total
