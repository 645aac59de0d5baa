-- Adds one flush batch of counters to a route's minute and hour buckets, exactly once.
-- KEYS[1] flush guard, KEYS[2] minute bucket, KEYS[3] hour bucket (all in the route's slot)
-- ARGV[1] guard ttl s, ARGV[2] minute ttl s, ARGV[3] hour ttl s, then field, increment pairs
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0 -- this batch was applied before (a retry after a lost reply)
end
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
