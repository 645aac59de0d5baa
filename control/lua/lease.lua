-- Takes or renews the controller's leader lease. A new holder gets the next fencing token.
-- KEYS: 1 lease ("<token>:<replica>"), 2 token counter
-- ARGV: 1 replica id, 2 lease time ms
-- Returns {token, 1} when this replica holds the lease (now renewed), {token, 0} when another does
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ':', 1, true)
  local token = string.sub(current, 1, sep - 1)
  if string.sub(current, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {token, 1}
  end
  return {token, 0}
end
local token = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return {token, 1}
