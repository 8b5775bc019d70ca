--[[
  Drops the node cards whose expiry is past, in one step: a card renewed
  between reading the expired ids and deleting them would otherwise lose
  its data while its (renewed) expiry stays, and peers would read a live
  node as dead.

  KEYS[1] cards   hash nodeId -> JSON card
  KEYS[2] expiry  sorted set nodeId -> expiry (epoch ms)

  ARGV[1] now (epoch ms): cards expiring at or before it are dropped

  Returns the number of cards dropped.
]]

local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if #expired == 0 then
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
-- unpack() is bounded by Lua's C stack: delete in batches.
local BATCH = 1000
for i = 1, #expired, BATCH do
  redis.call('HDEL', KEYS[1], unpack(expired, i, math.min(i + BATCH - 1, #expired)))
end
return #expired
