--[[
  Adds subscribers of one node to one room, creating the room if needed.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] room        hash nodeId -> subscriber count (this room)
  KEYS[3] version     integer, bumped on every change of the collection
  KEYS[4] nodes       set of node ids with subscribers in the collection
  KEYS[5] nodeTotals  hash nodeId -> subscribers in the collection

  ARGV[1] roomId
  ARGV[2] nodeId
  ARGV[3] count (positive integer)
  ARGV[4] room JSON, stored only when the room is created

  Returns {version, total, created}: the new collection version, the
  cluster-wide subscriber count of the room, and 1 when the room was created.
  Errors: KPC_INVALID_COUNT.
]]
local count = tonumber(ARGV[3])
if count == nil or count <= 0 or count ~= math.floor(count) then
  return redis.error_reply('KPC_INVALID_COUNT ' .. ARGV[3])
end

local created = 0
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[4]) == 1 then
  created = 1
end
redis.call('HINCRBY', KEYS[2], ARGV[2], count)
redis.call('HINCRBY', KEYS[5], ARGV[2], count)
redis.call('SADD', KEYS[4], ARGV[2])
local version = redis.call('INCR', KEYS[3])

local total = 0
for _, value in ipairs(redis.call('HVALS', KEYS[2])) do
  total = total + tonumber(value)
end
return {version, total, created}
