--[[
  Lists rooms in the global index, with their collections and their owner
  (see GlobalIndex: an owner and its collections before a script adds
  subscribers there, a room after the script that made it; without rooms,
  the listing alone): what took four commands
  (three SADD and an HSET, each with its own promise and buffers on the
  node, alive until Redis answered), in one. Idempotent: a retry writes
  the same entries again.

  KEYS[1] collections       set of collection refs with rooms (or about to have some; a stale member is harmless)
  KEYS[2] ownerCollections  set of the collection refs where the owner has subscribers
  KEYS[3] owners            set of the owners
  KEYS[4] roomIndex         hash roomId -> collection ref

  ARGV[1] the owner
  ARGV[2] n, the number of collection refs that follow
  ARGV[3 .. 2 + n] the collection refs
  ARGV[3 + n ..] roomId, ref pairs

  The caller splits larger writes: at most 500 refs and 500 pairs a call.

  Returns 1.
]]

local refs = tonumber(ARGV[2])
for i = 3, 2 + refs do
  redis.call('SADD', KEYS[1], ARGV[i])
  redis.call('SADD', KEYS[2], ARGV[i])
end
redis.call('SADD', KEYS[3], ARGV[1])
if #ARGV >= 3 + refs then
  redis.call('HSET', KEYS[4], unpack(ARGV, 3 + refs, #ARGV))
end
return 1
