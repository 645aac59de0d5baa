-- Delete a route: the one way a route leaves the gateways (an absent route is never read as a
-- deleted one). Refused while the route's rollout is active (running, holding, paused: abort it
-- first), and while its group's rollout is (checked here when the route lives in its group's
-- slot). Removes its state, releases and release metadata, its rollout (record, fencing token,
-- history), its gate verdicts and its review items (the open ones are closed by the deletion:
-- its audit entry names them), so a route created later under the name starts clean; keeps its
-- audit stream with the deletion entry, and publishes RouteDeleted.
-- KEYS: 1 state, 2 releases, 3 release_meta, 4 audit, 5 rollout, 6 rollout fence,
--       7 rollout history, 8 reviews, 9 gate verdicts, 10 gate dataset, 11 moved marker,
--       12 (only for a route living in its group's slot) the group's rollout
--       (all in the route's home slot)
-- ARGV: 1 route, 2 actor, 3 reason, 4 changes channel, 5 audit max length, 6 JSON array of the
--       windows, 7 of the webhooks scoped to the route (removed next, outside this slot)
-- Returns {'ok', revision deleted, JSON array of closed review ids, release ids deleted}
--       | {'not_found'}
--       | {'rollout_active', candidate release, rollout status} | {'moving', marker}
--       | {'group_rollout_active', group rollout id, its status}

local moved = redis.call('GET', KEYS[11])
if moved then
  return {'moving', moved}
end
local current = redis.call('GET', KEYS[1])
if not current then
  return {'not_found'}
end
local ended = {rolled_back = true, completed = true, aborted = true}
local stored = redis.call('GET', KEYS[5])
if stored then
  local rollout = cjson.decode(stored)
  if not ended[rollout.status] then
    return {'rollout_active', rollout.release, rollout.status}
  end
end
if KEYS[12] then
  local group = redis.call('GET', KEYS[12])
  if group then
    local rollout = cjson.decode(group)
    if not ended[rollout.status] then
      return {'group_rollout_active', rollout.id, rollout.status}
    end
  end
end
local items = redis.call('HGETALL', KEYS[8])
local closed = {}
for i = 1, #items, 2 do
  local status = cjson.decode(items[i + 1]).status
  if status == nil or status == 'open' then  -- open is the default
    table.insert(closed, items[i])
  end
end
table.sort(closed)
local closed_json = '[]'  -- cjson encodes an empty table as an object
if #closed > 0 then
  closed_json = cjson.encode(closed)
end
local evidence = '{"closed_reviews":' .. closed_json .. ',"removed_windows":' .. ARGV[6]
  .. ',"removed_webhooks":' .. ARGV[7] .. '}'
local revision = cjson.decode(current).revision
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*',
  'route', ARGV[1], 'action', 'route.delete', 'actor', ARGV[2], 'reason', ARGV[3],
  'revision', string.format('%d', revision), 'before', current, 'after', '',
  'evidence', evidence)
local releases = redis.call('HKEYS', KEYS[2])  -- the caller removes their telemetry next
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
-- The RouteDeleted event exactly as msgspec encodes gateway.contract.events.RouteDeleted.
redis.call('PUBLISH', ARGV[4], '{"type":"route_deleted","route":' .. cjson.encode(ARGV[1]) .. '}')
return {'ok', string.format('%d', revision), closed_json, releases}
