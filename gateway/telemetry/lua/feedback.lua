-- Records a call's feedback, replacing an earlier one for the same call (counted once).
-- KEYS[1] feedback record hash, KEYS[2] minute bucket, KEYS[3] hour bucket (the call's)
-- ARGV[1] release, ARGV[2] up (0/1), ARGV[3] down (0/1), ARGV[4] scored (0/1),
-- ARGV[5] score in millionths, ARGV[6] comment, ARGV[7] record ttl s,
-- ARGV[8] minute ttl s, ARGV[9] hour ttl s, ARGV[10] squared score in millionths
local release = ARGV[1]
local names = {'up', 'down', 'sn', 'ssum', 'ssq'}
local new = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[10] or '0')}
local old = redis.call('HMGET', KEYS[1], 'up', 'down', 'sn', 'ssum', 'ssq')
local replaced = old[1] ~= false
for b = 2, 3 do
  if not replaced then
    redis.call('HINCRBY', KEYS[b], release .. '|fb', 1)
  end
  for i = 1, 5 do
    local delta = new[i] - (replaced and tonumber(old[i]) or 0)
    if delta ~= 0 then
      redis.call('HINCRBY', KEYS[b], release .. '|' .. names[i], delta)
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'up', new[1], 'down', new[2], 'sn', new[3], 'ssum', new[4],
  'ssq', new[5], 'comment', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[9])
if replaced then return 2 end
return 1
