--[[
  One node card, if it is live (includes/cardFate says which). Read only:
  dead cards are dropped by listCards.

  KEYS[1] cards   hash nodeId -> JSON card
  KEYS[2] expiry  sorted set nodeId -> expiry (epoch ms, the writer's clock)

  ARGV[1] prefix of the alive keys: ARGV[1] .. nodeId
  ARGV[2] now (epoch ms, the reader's clock), for cards of other protocols
  ARGV[3] the reader's wire protocol
  ARGV[4] the node id

  Returns the card's JSON, or nil.
]]

--- @include "includes/cardFate"

local json = redis.call('HGET', KEYS[1], ARGV[4])
if not json then
  return nil
end
if cardFate(ARGV[4], json, ARGV[1], KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3])) == 'live' then
  return json
end
return nil
