--[[
  Drops index entries that do not decode (see GlobalIndex.sweepStale),
  each only if it still holds what the sweep read: a node may have written
  a valid entry for that room since, which must stay.

  KEYS[1] roomIndex  hash roomId -> collection ref

  ARGV    roomId, value-as-read pairs

  Returns how many entries were dropped.
]]

local dropped = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    dropped = dropped + 1
  end
end
return dropped
