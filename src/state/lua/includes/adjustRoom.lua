--[[
  adjustRoom(rooms, counts, ownerRooms, owners, roomId, owner, delta, json, weight)

  Adds `delta` (may be negative) to one owner's subscribers in one room,
  keeping the room's cluster-wide count and the owner's collection total in
  step. A room whose count reaches 0 is deleted; a room created needs `json`
  (its filters), or the change is refused. Counts never go below 0.

  The owner's checksum of the collection (field "<owner>\nchecksum" of
  `owners`: the sum of each room's weight times the owner's subscribers
  there) moves with it, so that the drift check sees a count moved from one
  room to another (src/state/room-weight.ts says why, and computes the same
  weight; `weight` is the room's, when the caller has it, else computed).

  Returns applied, created, removed: the delta actually applied (clamped so
  that the owner's count stays >= 0), and 1/0 flags.
]]
local function roomWeight(roomId)
  local hash = 0
  for i = 1, #roomId do
    hash = (hash * 31 + string.byte(roomId, i)) % 16777213
  end
  return hash + 1
end

-- The owners-hash field of an owner's checksum (src/state/room-weight.ts, checksumField, names the same).
local function checksumField(owner)
  return owner .. '\nchecksum'
end

-- A stored count that is not an integer in [0, 10^15) (a foreign writer, a
-- corruption) counts as 0 and is set to 0 first: HINCRBY would fail on it
-- part way through a script (Redis does not undo a script's earlier writes),
-- and fail again at every later call, the drift check's rewrite included.
-- Set to 0, the count is wrong at worst, which the drift check sees.
local function storedCount(key, field)
  local raw = redis.call('HGET', key, field)
  if not raw then
    return 0
  end
  -- Only what HINCRBY reads as an integer: tonumber alone also takes
  -- '5.0', '1e3', '0x10', ' 5', which HINCRBY refuses.
  if raw ~= '0' and not (#raw <= 15 and string.match(raw, '^[1-9]%d*$')) then
    redis.call('HSET', key, field, 0)
    return 0
  end
  return tonumber(raw)
end

local function adjustRoom(rooms, counts, ownerRooms, owners, roomId, owner, delta, json, weight)
  local current = storedCount(ownerRooms, roomId)
  storedCount(owners, owner)
  storedCount(owners, checksumField(owner))
  storedCount(counts, roomId)
  if current + delta < 0 then
    delta = -current
  end
  if delta == 0 then
    return 0, 0, 0
  end
  local created = 0
  if delta > 0 and redis.call('HEXISTS', rooms, roomId) == 0 then
    if json == '' then
      return 0, 0, 0
    end
    redis.call('HSET', rooms, roomId, json)
    created = 1
  end
  if current + delta == 0 then
    redis.call('HDEL', ownerRooms, roomId)
  else
    redis.call('HSET', ownerRooms, roomId, current + delta)
  end
  if redis.call('HINCRBY', owners, owner, delta) <= 0 then
    redis.call('HDEL', owners, owner, checksumField(owner))
  else
    -- %d: a number passed as it is would be formatted with 14 digits only.
    redis.call('HINCRBY', owners, checksumField(owner), string.format('%d', delta * (weight or roomWeight(roomId))))
  end
  local removed = 0
  if redis.call('HINCRBY', counts, roomId, delta) <= 0 then
    redis.call('HDEL', counts, roomId)
    redis.call('HDEL', rooms, roomId)
    removed = 1
  end
  return delta, created, removed
end
