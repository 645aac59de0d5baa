-- A new immutable version of a prompt or model, idempotent on content: when a version with the
-- same content hash exists, its number is returned and nothing is written.
-- KEYS: 1 versions hash (number -> record JSON), 2 content index (hash -> number); one slot
-- ARGV: 1 content hash, 2 record JSON (encoded by msgspec, stored as is)
-- Returns {version, 1 if created else 0}

local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then
  return {tonumber(existing), 0}
end
local version = redis.call('HLEN', KEYS[1]) + 1
-- A restore from a gateway's snapshot brings back only the versions releases use, so numbers
-- may have gaps: never reuse a number that is taken.
while redis.call('HEXISTS', KEYS[1], tostring(version)) == 1 do
  version = version + 1
end
redis.call('HSET', KEYS[1], tostring(version), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], tostring(version))
return {version, 1}
