--[[
  Lists the node cards that may be live (includes/cardFate says which),
  and drops the dead ones in the same step: a card renewed between reading
  it as dead and deleting it would otherwise lose its data while it is
  renewed, and peers would read a live node as dead.

  The alive keys are not in KEYS (their ids are what this reads): they
  share KEYS[1]'s hash tag, so they live in its slot on a Redis Cluster.

  KEYS[1] cards   hash nodeId -> JSON card
  KEYS[2] expiry  sorted set nodeId -> expiry (epoch ms, the writer's clock)

  ARGV[1] prefix of the alive keys: ARGV[1] .. nodeId
  ARGV[2] now (epoch ms, the reader's clock), for cards of other protocols
  ARGV[3] the reader's wire protocol

  Returns the JSON of the live cards.
]]

--- @include "includes/cardFate"

local now = tonumber(ARGV[2])
local protocol = tonumber(ARGV[3])

local fields = redis.call('HGETALL', KEYS[1])
local kept = {}
local dead = {}
for i = 1, #fields, 2 do
  local verdict = cardFate(fields[i], fields[i + 1], ARGV[1], KEYS[2], now, protocol)
  if verdict == 'live' then
    kept[#kept + 1] = fields[i + 1]
  elseif verdict == 'dead' then
    dead[#dead + 1] = fields[i]
  end
end
-- unpack() is bounded by Lua's C stack: delete in batches.
local BATCH = 1000
for i = 1, #dead, BATCH do
  local last = math.min(i + BATCH - 1, #dead)
  redis.call('HDEL', KEYS[1], unpack(dead, i, last))
  redis.call('ZREM', KEYS[2], unpack(dead, i, last))
end
return kept
