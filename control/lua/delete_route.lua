-- Delete a route: the one way a route leaves the gateways (an absent route is never read as a
-- deleted one). Removes its state, releases and release metadata, and its rollout (record,
-- fencing token, history: a route created later under the name starts with none), keeps its
-- audit stream with the deletion entry, and publishes RouteDeleted.
-- KEYS: 1 state, 2 releases, 3 release_meta, 4 audit, 5 rollout, 6 rollout fence,
--       7 rollout history, 8 moved marker   (all in the route's home slot)
-- ARGV: 1 route, 2 actor, 3 reason, 4 changes channel, 5 audit max length
-- Returns {'ok', revision deleted} | {'not_found'} | {'moving', marker}

local moved = redis.call('GET', KEYS[8])
if moved then
  return {'moving', moved}
end
local current = redis.call('GET', KEYS[1])
if not current then
  return {'not_found'}
end
local revision = cjson.decode(current).revision
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*',
  'route', ARGV[1], 'action', 'route.delete', 'actor', ARGV[2], 'reason', ARGV[3],
  'revision', string.format('%d', revision), 'before', current, 'after', '')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6], KEYS[7])
-- The RouteDeleted event exactly as msgspec encodes gateway.contract.events.RouteDeleted.
redis.call('PUBLISH', ARGV[4], '{"type":"route_deleted","route":' .. cjson.encode(ARGV[1]) .. '}')
return {'ok', string.format('%d', revision)}
