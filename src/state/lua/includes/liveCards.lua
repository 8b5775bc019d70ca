--[[
  The JSON of the node cards that may be live (includes/cardFate says
  which), the dead ones dropped in the same step: a card renewed between
  reading it as dead and deleting it would otherwise lose its data while
  it is renewed, and peers would read a live node as dead. Shared by
  listCards and renewAndListCards.

  The alive keys (alivePrefix .. nodeId) share the cards' hash tag, so
  they live in the cards' slot on a Redis Cluster.
]]

--- @include "includes/cardFate"

local function liveCards(cardsKey, expiryKey, alivePrefix, now, protocol)
  local fields = redis.call('HGETALL', cardsKey)
  local kept = {}
  local dead = {}
  for i = 1, #fields, 2 do
    local verdict = cardFate(fields[i], fields[i + 1], alivePrefix, expiryKey, now, protocol)
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
    redis.call('HDEL', cardsKey, unpack(dead, i, last))
    redis.call('ZREM', expiryKey, unpack(dead, i, last))
  end
  return kept
end
