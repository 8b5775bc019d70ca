--[[
  Removes subscribers of one node from one room; deletes the room when its
  cluster-wide count reaches 0. Counts never go below 0.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] room        hash nodeId -> subscriber count (this room)
  KEYS[3] version     integer, bumped on every change of the collection
  KEYS[4] nodes       set of node ids with subscribers in the collection
  KEYS[5] nodeTotals  hash nodeId -> subscribers in the collection

  ARGV[1] roomId
  ARGV[2] nodeId
  ARGV[3] count (positive integer)

  Returns {version, total, removed}: the collection version (unchanged when
  nothing changed), the room's remaining cluster-wide count, and 1 when the
  room was deleted.
  Errors: KPC_INVALID_COUNT.
]]
local count = tonumber(ARGV[3])
if count == nil or count <= 0 or count ~= math.floor(count) then
  return redis.error_reply('KPC_INVALID_COUNT ' .. ARGV[3])
end

local current = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local taken = math.min(count, current)
if taken > 0 then
  if current - taken > 0 then
    redis.call('HSET', KEYS[2], ARGV[2], current - taken)
  else
    redis.call('HDEL', KEYS[2], ARGV[2])
  end
  local left = redis.call('HINCRBY', KEYS[5], ARGV[2], -taken)
  if left <= 0 then
    redis.call('HDEL', KEYS[5], ARGV[2])
    redis.call('SREM', KEYS[4], ARGV[2])
  end
end

local total = 0
for _, value in ipairs(redis.call('HVALS', KEYS[2])) do
  total = total + tonumber(value)
end

local removed = 0
if total == 0 and redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('DEL', KEYS[2])
  removed = 1
end

local version
if taken > 0 or removed == 1 then
  version = redis.call('INCR', KEYS[3])
else
  version = tonumber(redis.call('GET', KEYS[3]) or '0')
end
return {version, total, removed}
