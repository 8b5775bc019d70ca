--[[
  Adds or removes subscribers of one owner (a node incarnation) in rooms of
  one collection, in the order given: the subscriptions and unsubscriptions
  one node made while its previous write was under way. A room is created by
  its first subscriber and deleted when its cluster-wide count reaches 0;
  an owner's count never goes below 0.

  KEYS[1] rooms       hash roomId -> JSON {filters}
  KEYS[2] counts      hash roomId -> cluster-wide subscribers
  KEYS[3] ownerRooms  hash roomId -> this owner's subscribers
  KEYS[4] owners      hash owner -> subscribers over the collection

  ARGV[1] owner
  then, per change, four arguments:
    roomId
    delta (integer, not 0): subscribers added (> 0) or removed (< 0)
    room JSON, stored when the change creates the room ('' for a removal)
    the room's weight in the owner's checksum (integer, 1 to 2^24 - 1: see
    src/state/room-weight.ts; sent by the node, which weighs rooms at no
    cost to Redis, on this, the subscriptions' path)

  Returns {ownerLeft, total, created, removed, total, created, removed, ...}:
  the owner's subscribers left in the collection after every change, then
  per change the room's count right after it and 1/0 flags for a room it
  created or deleted.
  Errors: KPC_INVALID_COUNT, for a delta or a weight (nothing is written).
]]
--- @include "includes/adjustRoom"

local owner = ARGV[1]
local token = ARGV[2]
local keepMs = tonumber(ARGV[3])
local FIRST = 4
if (#ARGV - FIRST + 1) % 4 ~= 0 or keepMs == nil or keepMs < 1 or keepMs ~= math.floor(keepMs) then
  return redis.error_reply('KPC_INVALID_COUNT expected a token, its lifetime, then quadruples, got ' .. #ARGV .. ' arguments')
end
local last = redis.call('GET', KEYS[5])
if last then
  local ok, stored = pcall(cjson.decode, last)
  if ok and type(stored) == 'table' and stored.t == token and type(stored.r) == 'table' then
    return stored.r
  end
end
for i = FIRST, #ARGV, 4 do
  local delta = tonumber(ARGV[i + 1])
  if delta == nil or delta == 0 or delta ~= math.floor(delta) then
    return redis.error_reply('KPC_INVALID_COUNT ' .. tostring(ARGV[i + 1]))
  end
  local weight = tonumber(ARGV[i + 3])
  if weight == nil or weight < 1 or weight >= 16777216 or weight ~= math.floor(weight) then
    return redis.error_reply('KPC_INVALID_COUNT weight ' .. tostring(ARGV[i + 3]))
  end
end
local reply = {0}
for i = FIRST, #ARGV, 4 do
  local _, created, removed = adjustRoom(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[i], owner, tonumber(ARGV[i + 1]), ARGV[i + 2], tonumber(ARGV[i + 3]))
  reply[#reply + 1] = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  reply[#reply + 1] = created
  reply[#reply + 1] = removed
end
reply[1] = tonumber(redis.call('HGET', KEYS[4], owner) or '0')
if reply[1] > 0 then
  redis.call('SET', KEYS[5], cjson.encode({t = token, r = reply}), 'PX', keepMs)
else
  -- An owner left with nobody here leaves no key. Sent again, such a batch
  -- ends where it ended (each count clamped at 0, starting from the zeros it
  -- left): only its flags may differ (a room created and deleted again).
  redis.call('DEL', KEYS[5])
end
return reply
