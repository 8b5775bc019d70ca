--[[
  checkCounts(first, stride)

  The count arguments of a batch, ARGV[first], ARGV[first + stride], ...:
  each a positive integer. Returns nil when they all are, else the error
  reply to return (KPC_INVALID_COUNT), before anything is written.
]]
local function checkCounts(first, stride)
  for i = first, #ARGV, stride do
    local count = tonumber(ARGV[i])
    if count == nil or count <= 0 or count ~= math.floor(count) then
      return redis.error_reply('KPC_INVALID_COUNT ' .. tostring(ARGV[i]))
    end
  end
  return nil
end
