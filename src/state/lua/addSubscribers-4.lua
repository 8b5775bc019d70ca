--[[
  Adds subscribers of one owner (a node incarnation) to rooms of one
  collection, creating each room if needed: the subscriptions one node made
  in the same event-loop turn, in the order they came.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] counts      hash roomId -> cluster-wide subscribers
  KEYS[3] ownerRooms  hash roomId -> this owner's subscribers
  KEYS[4] owners      hash owner -> subscribers over the collection

  ARGV[1] owner
  then, per subscription, three arguments:
    roomId
    count (positive integer)
    room JSON, stored only when the room is created

  Returns {total, created, total, created, ...}, one pair per subscription:
  the room's cluster-wide count right after it, 1 when it created the room.
  Errors: KPC_INVALID_COUNT (nothing is written).
]]
--- @include "includes/adjustRoom"
--- @include "includes/checkCounts"

local owner = ARGV[1]
local invalid = checkCounts(3, 3)
if invalid then
  return invalid
end
local reply = {}
for i = 2, #ARGV, 3 do
  local _, created = adjustRoom(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[i], owner, tonumber(ARGV[i + 1]), ARGV[i + 2])
  reply[#reply + 1] = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  reply[#reply + 1] = created
end
return reply
