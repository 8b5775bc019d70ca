--[[
  Whether a node card is live: the one rule, shared by listCards and
  getCard.

  A card is live while its alive key exists: every renewal sets that key
  with a time to live, and Redis expires it on its own clock, so that no
  node's clock decides whether another node is alive. Nodes of earlier
  wire protocols wrote only an expiry, on their own clock, in the expiry
  sorted set (this release writes it too, for them): a card of another
  protocol than the reader's is live until that expiry, read on the
  reader's clock (it is how a node sees that nodes of another version still
  run), and dead only a minute after it: the clocks of the two versions'
  nodes may disagree, and a card those nodes still renew must not lose its
  data.

  The alive keys share the cards' hash tag, so they live in the cards' slot
  on a Redis Cluster.
]]

-- A card that does not decode is of no known protocol: judged by its expiry.
local function protocolOf(json)
  local ok, card = pcall(cjson.decode, json)
  if ok and type(card) == 'table' then
    return card.protocol
  end
  return nil
end

-- How long past its expiry a card of another protocol is kept (ms).
local FOREIGN_GRACE_MS = 60000

-- 'live', 'dead' (may be deleted) or 'expired' (not live, kept).
-- alivePrefix .. id is the alive key; expiryKey the expiry sorted set;
-- now the reader's clock (epoch ms); protocol the reader's.
local function cardFate(id, json, alivePrefix, expiryKey, now, protocol)
  if redis.call('EXISTS', alivePrefix .. id) == 1 then
    return 'live'
  end
  if protocolOf(json) == protocol then
    return 'dead'
  end
  local expiry = tonumber(redis.call('ZSCORE', expiryKey, id))
  if expiry == nil or expiry <= now - FOREIGN_GRACE_MS then
    return 'dead'
  end
  if expiry > now then
    return 'live'
  end
  return 'expired'
end
