--[[
  Removes subscribers of one owner from rooms of one collection, in the
  order given (one node's unsubscriptions of one event-loop turn); a room is
  deleted when its cluster-wide count reaches 0. Never below 0.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] counts      hash roomId -> cluster-wide subscribers
  KEYS[3] ownerRooms  hash roomId -> this owner's subscribers
  KEYS[4] owners      hash owner -> subscribers over the collection

  ARGV[1] owner
  then, per unsubscription, two arguments:
    roomId
    count (positive integer)

  Returns {ownerLeft, total, removed, total, removed, ...}: the owner's
  subscribers left in the collection after all of them, then one pair per
  unsubscription: the room's count right after it, 1 when it deleted the room.
  Errors: KPC_INVALID_COUNT (nothing is written).
]]
--- @include "includes/adjustRoom"
--- @include "includes/checkCounts"

local owner = ARGV[1]
local invalid = checkCounts(3, 2)
if invalid then
  return invalid
end
local reply = {0}
for i = 2, #ARGV, 2 do
  local _, _, removed = adjustRoom(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[i], owner, -tonumber(ARGV[i + 1]), '')
  reply[#reply + 1] = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  reply[#reply + 1] = removed
end
reply[1] = tonumber(redis.call('HGET', KEYS[4], owner) or '0')
return reply
