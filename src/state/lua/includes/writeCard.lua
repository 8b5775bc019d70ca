--[[
  Writes a node's card and renews it: the card in the cards hash, its alive
  key with a time to live, and its expiry on the writer's clock for nodes
  of earlier protocols. Shared by renewCard and renewAndListCards.

  The alive key's value (now) only tells renewals apart: never compared
  with another clock.
]]

local function writeCard(cardsKey, aliveKey, expiryKey, id, json, now, ttl)
  redis.call('HSET', cardsKey, id, json)
  redis.call('SET', aliveKey, now, 'PX', ttl)
  redis.call('ZADD', expiryKey, tonumber(now) + tonumber(ttl), id)
end
