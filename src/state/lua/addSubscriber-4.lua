--[[
  Adds subscribers of one owner (a node incarnation) to one room, creating
  the room if needed.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] counts      hash roomId -> cluster-wide subscribers
  KEYS[3] ownerRooms  hash roomId -> this owner's subscribers
  KEYS[4] owners      hash owner -> subscribers over the collection

  ARGV[1] roomId
  ARGV[2] owner
  ARGV[3] count (positive integer)
  ARGV[4] room JSON, stored only when the room is created

  Returns {total, created}: the room's cluster-wide count, 1 when created.
  Errors: KPC_INVALID_COUNT.
]]
--- @include "includes/adjustRoom"

local count = tonumber(ARGV[3])
if count == nil or count <= 0 or count ~= math.floor(count) then
  return redis.error_reply('KPC_INVALID_COUNT ' .. ARGV[3])
end
local _, created = adjustRoom(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], count, ARGV[4])
return {tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0'), created}
