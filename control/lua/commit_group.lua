-- One atomic change set over every route of a group: check every route's revision, validate
-- every new state, then write them all, append one audit entry per route (sharing the change
-- set's id) and publish each change. Nothing is written unless every route passes.
-- The routes of a group live in the group's slot (their keys share the {group:G} tag, see
-- gateway/contract/keys.py), so this is one script on Redis Cluster too.
--
-- An emergency change set opens a "needs review" item on every route, keyed by its audit entry.
--
-- KEYS: per route i (0-based), 5 keys: 5i+1 state, 5i+2 releases, 5i+3 audit, 5i+4 moved
--       marker, 5i+5 reviews
-- ARGV: 1 changes channel, 2 audit max length, 3 actor, 4 reason, 5 action,
--       then per route i: 6+4i expected revision, 7+4i new state JSON, 8+4i audit evidence JSON
--       (the change set's id, an emergency's override), 9+4i review JSON or '' (emergency)
-- Returns {'ok'} | {'conflict', route, current revision} | {'invalid', route, field, rule}
--       | {'moving', route, marker}

local count = #KEYS / 5
local states = {}
for i = 0, count - 1 do
  local current = redis.call('GET', KEYS[5 * i + 1])
  local after = cjson.decode(ARGV[7 + 4 * i])
  local moved = redis.call('GET', KEYS[5 * i + 4])
  if moved then
    return {'moving', after.name, moved}
  end
  if not current then
    return {'invalid', after.name, 'route', 'the route does not exist'}
  end
  local before = cjson.decode(current)
  if before.revision ~= tonumber(ARGV[6 + 4 * i]) then
    return {'conflict', after.name, tostring(before.revision)}
  end
  if after.revision ~= before.revision + 1 or after.name ~= before.name then
    return {'invalid', after.name, 'revision', 'must be the current revision + 1, same route'}
  end
  local function known(id)
    return redis.call('HEXISTS', KEYS[5 * i + 2], id) == 1
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
  local a = 6 + 4 * i
  local after = cjson.decode(ARGV[a + 1])
  local id = redis.call('XADD', KEYS[5 * i + 3], 'MAXLEN', '~', ARGV[2], '*',
    'route', after.name, 'action', ARGV[5], 'actor', ARGV[3], 'reason', ARGV[4],
    'revision', string.format('%d', after.revision), 'before', states[i], 'after', ARGV[a + 1],
    'evidence', ARGV[a + 2])
  if ARGV[a + 3] ~= '' then
    redis.call('HSET', KEYS[5 * i + 5], id, ARGV[a + 3])
  end
  redis.call('SET', KEYS[5 * i + 1], ARGV[a + 1])
end
for i = 0, count - 1 do
  local after = cjson.decode(ARGV[7 + 4 * i])
  redis.call('PUBLISH', ARGV[1], '{"type":"route","route":' .. cjson.encode(after.name)
    .. ',"revision":' .. string.format('%d', after.revision) .. '}')
end
return {'ok'}
