-- Gives the leader lease up on shutdown, only when this replica still holds it.
-- KEYS: 1 lease; ARGV: 1 "<token>:<replica>"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
