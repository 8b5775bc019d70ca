--[[
  Lists the node cards that may be live, and drops the others in the same
  step: a card renewed between reading it as dead and deleting it would
  otherwise lose its data while it is renewed, and peers would read a live
  node as dead.

  A card is live while its alive key exists: every renewal sets that key
  with a time to live, and Redis expires it on its own clock, so that no
  node's clock decides whether another node is alive. Nodes of earlier
  wire protocols wrote only an expiry, on their own clock, in KEYS[2] (this
  release writes it too, for them): a card of another protocol than
  ARGV[3] is listed until that expiry, read on ARGV[2] (it is how a node
  sees that nodes of another version still run), and deleted only a minute
  after it: the clocks of the two versions' nodes may disagree, and a card
  those nodes still renew must not lose its data.

  The alive keys are not in KEYS (their ids are what this reads): they
  share KEYS[1]'s hash tag, so they live in its slot on a Redis Cluster.

  KEYS[1] cards   hash nodeId -> JSON card
  KEYS[2] expiry  sorted set nodeId -> expiry (epoch ms, the writer's clock)

  ARGV[1] prefix of the alive keys: ARGV[1] .. nodeId
  ARGV[2] now (epoch ms, the reader's clock), for cards of other protocols
  ARGV[3] the reader's wire protocol

  Returns the JSON of the live cards.
]]

local now = tonumber(ARGV[2])
local protocol = tonumber(ARGV[3])

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

-- 'live', 'dead' (deleted) or 'expired' (left out, kept).
local function fate(id, json)
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    return 'live'
  end
  if protocolOf(json) == protocol then
    return 'dead'
  end
  local expiry = tonumber(redis.call('ZSCORE', KEYS[2], id))
  if expiry == nil or expiry <= now - FOREIGN_GRACE_MS then
    return 'dead'
  end
  if expiry > now then
    return 'live'
  end
  return 'expired'
end

local fields = redis.call('HGETALL', KEYS[1])
local kept = {}
local dead = {}
for i = 1, #fields, 2 do
  local verdict = fate(fields[i], fields[i + 1])
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
