--[[
  Sets one owner's subscriber counts in a batch of rooms of one collection,
  exactly (0 removes the owner from the room). Rooms left empty are deleted;
  rooms given a count that do not exist are created with the given JSON.
  The caller splits large sets into batches, so that the argument count
  stays bounded whatever the number of rooms.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] counts      hash roomId -> cluster-wide subscribers
  KEYS[3] ownerRooms  hash roomId -> this owner's subscribers
  KEYS[4] owners      hash owner -> subscribers over the collection
  KEYS[5] lastBatch   the owner's last batch token here (see adjustSubscribers), deleted when the owner is left with nobody here

  ARGV[1] owner
  ARGV[2 + 3(i-1)] roomId
  ARGV[3 + 3(i-1)] wanted count (integer >= 0)
  ARGV[4 + 3(i-1)] room JSON, used if the room must be created ('' if unknown)

  Returns {addedRoomIds, removedRoomIds}.
  Errors: KPC_INVALID_COUNT, KPC_MISSING_FILTERS (nothing written then).
]]
--- @include "includes/adjustRoom"

local owner = ARGV[1]
if (#ARGV - 1) % 3 ~= 0 then
  return redis.error_reply('KPC_INVALID_COUNT expected triples after the owner, got ' .. (#ARGV - 1) .. ' arguments')
end
-- Validation pass first: a Lua error reply does not roll back earlier writes.
for i = 2, #ARGV, 3 do
  local count = tonumber(ARGV[i + 1])
  if count == nil or count < 0 or count ~= math.floor(count) then
    return redis.error_reply('KPC_INVALID_COUNT ' .. ARGV[i + 1] .. ' for room ' .. ARGV[i])
  end
  if count > 0 and ARGV[i + 2] == '' and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    return redis.error_reply('KPC_MISSING_FILTERS room ' .. ARGV[i])
  end
end

local added = {}
local removed = {}
for i = 2, #ARGV, 3 do
  local current = storedCount(KEYS[3], ARGV[i])
  local _, created, gone = adjustRoom(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[i], owner, tonumber(ARGV[i + 1]) - current, ARGV[i + 2])
  if created == 1 then
    added[#added + 1] = ARGV[i]
  end
  if gone == 1 then
    removed[#removed + 1] = ARGV[i]
  end
end
if redis.call('HEXISTS', KEYS[4], owner) == 0 then
  redis.call('DEL', KEYS[5])
end
return {added, removed}
