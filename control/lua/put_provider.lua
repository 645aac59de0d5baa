-- Upsert a provider with its audit entry, and announce it to gateways. An identical upsert
-- writes nothing.
-- KEYS: 1 providers hash, 2 providers audit stream   (one slot: the stream is tagged {KEYS[1]})
-- ARGV: 1 name, 2 ProviderSpec JSON (msgspec, stored as is), 3 actor, 4 reason,
--       5 changes channel, 6 audit max length
-- Returns 2 when created, 1 when changed, 0 when identical

local before = redis.call('HGET', KEYS[1], ARGV[1])
if before == ARGV[2] then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
  'provider', ARGV[1], 'action', 'provider.put', 'actor', ARGV[3], 'reason', ARGV[4],
  'before', before or '', 'after', ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
-- The ProvidersChanged event exactly as msgspec encodes gateway.contract.events.ProvidersChanged.
redis.call('PUBLISH', ARGV[5], '{"type":"providers"}')
if before then
  return 1
end
return 2
