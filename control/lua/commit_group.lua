-- One atomic change set over every route of a group: check every route's revision, validate
-- every new state, then write them all, append one audit entry per route (sharing the change
-- set's id) and publish each change. Nothing is written unless every route passes.
-- The routes of a group live in the group's slot (their keys share the {group:G} tag, see
-- gateway/contract/keys.py), so this is one script on Redis Cluster too.
--
-- KEYS: per route i (0-based), 4 keys: 4i+1 state, 4i+2 releases, 4i+3 audit, 4i+4 moved marker
-- ARGV: 1 changes channel, 2 audit max length, 3 actor, 4 reason, 5 action, 6 change set id,
--       then per route i: 7+2i expected revision, 8+2i new state JSON
-- Returns {'ok'} | {'conflict', route, current revision} | {'invalid', route, field, rule}
--       | {'moving', route, marker}

local count = #KEYS / 4
local states = {}
for i = 0, count - 1 do
  local current = redis.call('GET', KEYS[4 * i + 1])
  local after = cjson.decode(ARGV[8 + 2 * i])
  local moved = redis.call('GET', KEYS[4 * i + 4])
  if moved then
    return {'moving', after.name, moved}
  end
  if not current then
    return {'invalid', after.name, 'route', 'the route does not exist'}
  end
  local before = cjson.decode(current)
  if before.revision ~= tonumber(ARGV[7 + 2 * i]) then
    return {'conflict', after.name, tostring(before.revision)}
  end
  if after.revision ~= before.revision + 1 or after.name ~= before.name then
    return {'invalid', after.name, 'revision', 'must be the current revision + 1, same route'}
  end
  local function known(id)
    return redis.call('HEXISTS', KEYS[4 * i + 2], id) == 1
  end
  if type(after.stable) ~= 'string' or not known(after.stable) then
    return {'invalid', after.name, 'stable', 'the stable release must be a release of the route'}
  end
  local total = 0
  for id, bp in pairs(after.weights_bp) do
    if type(bp) ~= 'number' or bp < 0 or bp ~= math.floor(bp) or not known(id) then
      return {'invalid', after.name, 'weights.' .. id, 'a known release, whole basis points'}
    end
    total = total + bp
  end
  if total ~= 10000 then
    return {'invalid', after.name, 'weights', 'must sum to exactly 10000 basis points'}
  end
  states[i] = current
end
for i = 0, count - 1 do
  local after = cjson.decode(ARGV[8 + 2 * i])
  redis.call('XADD', KEYS[4 * i + 3], 'MAXLEN', '~', ARGV[2], '*',
    'route', after.name, 'action', ARGV[5], 'actor', ARGV[3], 'reason', ARGV[4],
    'revision', string.format('%d', after.revision), 'before', states[i], 'after', ARGV[8 + 2 * i],
    'evidence', '{"changeset":' .. cjson.encode(ARGV[6]) .. '}')
  redis.call('SET', KEYS[4 * i + 1], ARGV[8 + 2 * i])
end
for i = 0, count - 1 do
  local after = cjson.decode(ARGV[8 + 2 * i])
  redis.call('PUBLISH', ARGV[1], '{"type":"route","route":' .. cjson.encode(after.name)
    .. ',"revision":' .. string.format('%d', after.revision) .. '}')
end
return {'ok'}
