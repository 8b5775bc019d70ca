--[[
  Removes one step of one owner's rooms (a dead or replaced node
  incarnation) from one collection, walking its hash with a cursor carried
  from call to call, so that each call stays short whatever the owner held.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] counts      hash roomId -> cluster-wide subscribers
  KEYS[3] ownerRooms  hash roomId -> this owner's subscribers
  KEYS[4] owners      hash owner -> subscribers over the collection
  KEYS[5] lastBatch   the owner's last batch token here (see adjustSubscribers), deleted with the rest

  ARGV[1] owner
  ARGV[2] batch size (positive integer, a hint as for HSCAN's COUNT)
  ARGV[3] cursor ('0' to start)

  Returns {removedRoomIds, nextCursor, done}: rooms deleted because nobody
  is left in them, the cursor of the next call, and 1 when the owner has
  nothing left in the collection (then the walk is over).
]]
--- @include "includes/adjustRoom"

-- HSCAN is non-deterministic: Redis < 5 replicates the writes after it only
-- as effects, once asked to (a no-op from Redis 5 on).
redis.replicate_commands()

local step = redis.call('HSCAN', KEYS[3], ARGV[3], 'COUNT', tonumber(ARGV[2]))
local entries = step[2]
local removed = {}
for i = 1, #entries, 2 do
  local _, _, gone = adjustRoom(KEYS[1], KEYS[2], KEYS[3], KEYS[4], entries[i], ARGV[1], -storedCount(KEYS[3], entries[i]), '')
  if gone == 1 then
    removed[#removed + 1] = entries[i]
  end
  -- Gone whatever it held: an entry adjustRoom left (not a count) would keep the walk from ever ending.
  redis.call('HDEL', KEYS[3], entries[i])
end
local done = 0
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HDEL', KEYS[4], ARGV[1], checksumField(ARGV[1]))
  redis.call('DEL', KEYS[5])
  done = 1
end
return {removed, step[1], done}
