--[[
  Lists the node cards that may be live, and drops the dead ones in the
  same step (includes/liveCards).

  The alive keys are not in KEYS (their ids are what this reads): they
  share KEYS[1]'s hash tag, so they live in its slot on a Redis Cluster.

  KEYS[1] cards   hash nodeId -> JSON card
  KEYS[2] expiry  sorted set nodeId -> expiry (epoch ms, the writer's clock)

  ARGV[1] prefix of the alive keys: ARGV[1] .. nodeId
  ARGV[2] now (epoch ms, the reader's clock), for cards of other protocols
  ARGV[3] the reader's wire protocol

  Returns the JSON of the live cards.
]]

--- @include "includes/liveCards"

return liveCards(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
