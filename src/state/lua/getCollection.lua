--[[
  Consistent snapshot of one collection: version, rooms, filters and counts.
  Variadic: the caller passes numberOfKeys.

  KEYS[1] rooms    hash roomId -> JSON {filters}
  KEYS[2] version  integer
  KEYS[3..] room keys (hash nodeId -> count), one per ARGV entry, no duplicates

  ARGV[i] roomId of KEYS[2 + i]

  Every existing room must be listed, otherwise the snapshot would miss it.

  Returns {version, {{roomId, roomJson, {nodeId, count, ...}}, ...}}, listing
  only the rooms that exist.
  Errors: KPC_STALE_ROOMS (a room is missing from KEYS; re-read and retry).
]]
local rooms = {}
for i = 1, #ARGV do
  local json = redis.call('HGET', KEYS[1], ARGV[i])
  if json then
    rooms[#rooms + 1] = {ARGV[i], json, redis.call('HGETALL', KEYS[2 + i])}
  end
end
local existing = redis.call('HLEN', KEYS[1])
if existing ~= #rooms then
  return redis.error_reply('KPC_STALE_ROOMS ' .. existing .. ' rooms exist, ' .. #rooms .. ' listed')
end
local version = tonumber(redis.call('GET', KEYS[2]) or '0')
return {version, rooms}
