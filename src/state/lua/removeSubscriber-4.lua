--[[
  Removes subscribers of one owner from one room; the room is deleted when
  its cluster-wide count reaches 0. Never below 0.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] counts      hash roomId -> cluster-wide subscribers
  KEYS[3] ownerRooms  hash roomId -> this owner's subscribers
  KEYS[4] owners      hash owner -> subscribers over the collection

  ARGV[1] roomId
  ARGV[2] owner
  ARGV[3] count (positive integer)

  Returns {total, removed, ownerLeft}: the room's remaining count, 1 when
  the room was deleted, and the owner's remaining subscribers in the collection.
  Errors: KPC_INVALID_COUNT.
]]
--- @include "includes/adjustRoom"

local count = tonumber(ARGV[3])
if count == nil or count <= 0 or count ~= math.floor(count) then
  return redis.error_reply('KPC_INVALID_COUNT ' .. ARGV[3])
end
local _, _, removed = adjustRoom(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], -count, '')
return {
  tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0'),
  removed,
  tonumber(redis.call('HGET', KEYS[4], ARGV[2]) or '0'),
}
