--[[
  adjustRoom(rooms, counts, ownerRooms, owners, roomId, owner, delta, json)

  Adds `delta` (may be negative) to one owner's subscribers in one room,
  keeping the room's cluster-wide count and the owner's collection total in
  step. A room whose count reaches 0 is deleted; a room created needs `json`
  (its filters), or the change is refused. Counts never go below 0.

  Returns applied, created, removed: the delta actually applied (clamped so
  that the owner's count stays >= 0), and 1/0 flags.
]]
local function adjustRoom(rooms, counts, ownerRooms, owners, roomId, owner, delta, json)
  local current = tonumber(redis.call('HGET', ownerRooms, roomId) or '0')
  if current + delta < 0 then
    delta = -current
  end
  if delta == 0 then
    return 0, 0, 0
  end
  local created = 0
  if delta > 0 and redis.call('HSETNX', rooms, roomId, json) == 1 then
    created = 1
  end
  if current + delta == 0 then
    redis.call('HDEL', ownerRooms, roomId)
  else
    redis.call('HSET', ownerRooms, roomId, current + delta)
  end
  if redis.call('HINCRBY', owners, owner, delta) <= 0 then
    redis.call('HDEL', owners, owner)
  end
  local removed = 0
  if redis.call('HINCRBY', counts, roomId, delta) <= 0 then
    redis.call('HDEL', counts, roomId)
    redis.call('HDEL', rooms, roomId)
    removed = 1
  end
  return delta, created, removed
end
