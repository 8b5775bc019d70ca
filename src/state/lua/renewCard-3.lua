--[[
  Writes a node's card and renews it: what MULTI did in three commands, in
  one (the MULTI's client-side machinery made most of an idle node's Redis
  garbage).

  KEYS[1] cards   hash nodeId -> JSON card
  KEYS[2] alive   the card's alive key, expiring ttl after this renewal
  KEYS[3] expiry  sorted set nodeId -> expiry (epoch ms, the writer's clock), read by earlier protocols

  ARGV[1] the node id
  ARGV[2] the card's JSON
  ARGV[3] now (epoch ms, the writer's clock): the alive key's value, which only tells renewals apart
  ARGV[4] ttl (ms)

  Returns 1.
]]

--- @include "includes/writeCard"

writeCard(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return 1
