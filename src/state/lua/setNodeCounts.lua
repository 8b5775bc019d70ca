--[[
  Sets one node's subscriber counts in the rooms of one collection, atomically:
  used to purge a node (every count 0) and to replace a node's contribution.
  Variadic: the caller passes numberOfKeys. Rooms left empty are deleted,
  rooms given a count that do not exist are created with the given JSON.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] version     integer, bumped when anything changed
  KEYS[3] nodes       set of node ids with subscribers in the collection
  KEYS[4] nodeTotals  hash nodeId -> subscribers in the collection
  KEYS[5..] room keys (hash nodeId -> count), one per room below, no duplicates

  ARGV[1] nodeId
  ARGV[2 + 3(i-1)] roomId of KEYS[4 + i]
  ARGV[3 + 3(i-1)] wanted count (integer >= 0)
  ARGV[4 + 3(i-1)] room JSON used if the room must be created ('' if unknown)

  Every room where the node has subscribers must be listed: checked by
  comparing the node's total with the sum over the listed rooms.

  Returns {version, changed, removedRoomIds, addedRoomIds}.
  Errors: KPC_STALE_ROOMS (a room of the node is missing from KEYS; re-read
  and retry), KPC_INVALID_COUNT, KPC_MISSING_FILTERS.
]]
local nodeId = ARGV[1]
local n = #KEYS - 4
if #ARGV ~= 1 + 3 * n then
  return redis.error_reply('KPC_INVALID_COUNT expected ' .. (1 + 3 * n) .. ' arguments, got ' .. #ARGV)
end

-- Validation pass: nothing is written before every check passed, as a Lua
-- error reply does not roll back earlier writes.
local current = {}
local wanted = {}
local listed = 0
for i = 1, n do
  local roomId = ARGV[2 + 3 * (i - 1)]
  local raw = ARGV[3 + 3 * (i - 1)]
  local count = tonumber(raw)
  if count == nil or count < 0 or count ~= math.floor(count) then
    return redis.error_reply('KPC_INVALID_COUNT ' .. raw .. ' for room ' .. roomId)
  end
  if count > 0 and ARGV[4 + 3 * (i - 1)] == '' and redis.call('HEXISTS', KEYS[1], roomId) == 0 then
    return redis.error_reply('KPC_MISSING_FILTERS room ' .. roomId)
  end
  wanted[i] = count
  current[i] = tonumber(redis.call('HGET', KEYS[4 + i], nodeId) or '0')
  listed = listed + current[i]
end
local previous = tonumber(redis.call('HGET', KEYS[4], nodeId) or '0')
if listed ~= previous then
  return redis.error_reply('KPC_STALE_ROOMS node ' .. nodeId .. ' has ' .. previous .. ' subscribers, ' .. listed .. ' in listed rooms')
end

local changed = 0
local removed = {}
local added = {}
local newTotal = 0
for i = 1, n do
  local roomId = ARGV[2 + 3 * (i - 1)]
  local roomKey = KEYS[4 + i]
  newTotal = newTotal + wanted[i]
  if wanted[i] > 0 then
    local json = ARGV[4 + 3 * (i - 1)]
    if json ~= '' and redis.call('HSETNX', KEYS[1], roomId, json) == 1 then
      added[#added + 1] = roomId
      changed = 1
    end
    if wanted[i] ~= current[i] then
      redis.call('HSET', roomKey, nodeId, wanted[i])
      changed = 1
    end
  elseif current[i] > 0 then
    redis.call('HDEL', roomKey, nodeId)
    changed = 1
    local total = 0
    for _, value in ipairs(redis.call('HVALS', roomKey)) do
      total = total + tonumber(value)
    end
    if total == 0 then
      redis.call('DEL', roomKey)
      if redis.call('HDEL', KEYS[1], roomId) == 1 then
        removed[#removed + 1] = roomId
      end
    end
  end
end

if newTotal > 0 then
  redis.call('HSET', KEYS[4], nodeId, newTotal)
  redis.call('SADD', KEYS[3], nodeId)
else
  redis.call('HDEL', KEYS[4], nodeId)
  redis.call('SREM', KEYS[3], nodeId)
end

local version
if changed == 1 then
  version = redis.call('INCR', KEYS[2])
else
  version = tonumber(redis.call('GET', KEYS[2]) or '0')
end
return {version, changed, removed, added}
