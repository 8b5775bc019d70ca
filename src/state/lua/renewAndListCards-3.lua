--[[
  What every node does at every tick (twice a heartbeat): renews its
  card (includes/writeCard) and lists the live cards, the dead ones dropped
  (includes/liveCards), in one call rather than two. The cards change only
  when a node starts, joins again or dies: when they are those the caller
  last read (same fingerprint), only the fingerprint is sent back.

  KEYS[1] cards   hash nodeId -> JSON card
  KEYS[2] alive   the card's alive key, expiring ttl after this renewal
  KEYS[3] expiry  sorted set nodeId -> expiry (epoch ms, the writer's clock), read by earlier protocols

  ARGV[1] the node id
  ARGV[2] the card's JSON
  ARGV[3] now (epoch ms, the writer's clock and the reader's)
  ARGV[4] ttl (ms)
  ARGV[5] prefix of the alive keys: ARGV[5] .. nodeId (they share KEYS[1]'s hash tag)
  ARGV[6] the reader's wire protocol
  ARGV[7] the fingerprint of the cards the caller last read ('' for none)

  Returns { fingerprint } when the live cards are those, else
  { fingerprint, JSON of each live card (this node's included)... }.
]]

--- @include "includes/writeCard"
--- @include "includes/liveCards"

writeCard(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
local kept = liveCards(KEYS[1], KEYS[3], ARGV[5], tonumber(ARGV[3]), tonumber(ARGV[6]))
-- HGETALL's order does not change while the cards do not; if it did, it would only cost a full reply.
local fingerprint = redis.sha1hex(table.concat(kept, '\n'))
if fingerprint == ARGV[7] then
  return { fingerprint }
end
table.insert(kept, 1, fingerprint)
return kept
