-- One atomic step of a group rollout: compare-and-set its record (refused for a stale controller
-- by the fencing token), check and move any member routes, append one audit entry per member
-- route (carrying the group rollout's id in its evidence), store the record and its evidence
-- point. Every check runs before the first write: the step lands whole or not at all.
-- Member routes live in the group's slot (`keys.route_home`), so on Redis Cluster this is one
-- slot too; a member whose slot is marked moving (or moved) refuses the step.
--
-- An emergency change (`emergency: true`) opens a "needs review" item on each member route given
-- one, keyed by that route's audit entry.
--
-- KEYS: 1 group rollout, 2 group rollout fence, 3 evidence history, then per member route i
--       (0-based): 4+6i state, 5+6i releases, 6+6i audit, 7+6i rollout, 8+6i moved marker,
--       9+6i reviews
-- ARGV: 1 changes channel, 2 audit max length, 3 actor, 4 audit action or '', 5 reason,
--       6 fencing token or '', 7 expected group rollout version, 8 group rollout JSON,
--       9 history point JSON or '', 10 history cap, 11 '1': refuse a member's running rollout,
--       then per member route i: 12+4i expected revision or '', 13+4i new state JSON or ''
--       (the route is not moved), 14+4i audit evidence JSON, 15+4i review JSON or ''
--       (needs an audit action)
-- Returns {'ok'} | {'fenced', token} | {'rollout_conflict', version} | {'conflict', route,
--       revision} | {'invalid', route, field, rule} | {'route_rollout', route, release, status}
--       | {'moving', member index (0-based), marker} | {'missing', member index (0-based)}

local token = ARGV[6]
if token ~= '' and tonumber(token) < tonumber(redis.call('GET', KEYS[2]) or '0') then
  return {'fenced', redis.call('GET', KEYS[2])}
end
local stored = redis.call('GET', KEYS[1])
local version = stored and cjson.decode(stored).version or 0
if version ~= tonumber(ARGV[7]) then
  return {'rollout_conflict', tostring(version)}
end

local ended = {rolled_back = true, completed = true, aborted = true}
local count = (#KEYS - 3) / 6
local befores, revisions = {}, {}
for i = 0, count - 1 do
  local k, a = 4 + 6 * i, 12 + 4 * i
  local moved = redis.call('GET', KEYS[k + 4])
  if moved then
    return {'moving', tostring(i), moved}
  end
  local current = redis.call('GET', KEYS[k])
  if not current then
    return {'missing', tostring(i)}  -- the caller names the route (its key is no name)
  end
  local before = cjson.decode(current)
  if ARGV[a] ~= '' and before.revision ~= tonumber(ARGV[a]) then
    return {'conflict', before.name, tostring(before.revision)}
  end
  if ARGV[11] == '1' then
    local own = redis.call('GET', KEYS[k + 3])
    if own then
      local rollout = cjson.decode(own)
      if not ended[rollout.status] then
        return {'route_rollout', before.name, rollout.release, rollout.status}
      end
    end
  end
  befores[i], revisions[i] = current, before.revision
  if ARGV[a + 1] ~= '' then
    local after = cjson.decode(ARGV[a + 1])
    if after.revision ~= before.revision + 1 or after.name ~= before.name then
      return {'invalid', before.name, 'revision', 'must be the current revision + 1, same route'}
    end
    local function known(id)
      return redis.call('HEXISTS', KEYS[k + 1], id) == 1
    end
    if type(after.stable) ~= 'string' or not known(after.stable) then
      return {'invalid', before.name, 'stable', 'the stable release must be a release of the route'}
    end
    local total = 0
    for id, bp in pairs(after.weights_bp) do
      if type(bp) ~= 'number' or bp < 0 or bp ~= math.floor(bp) or not known(id) then
        return {'invalid', before.name, 'weights.' .. id, 'a known release, whole basis points'}
      end
      total = total + bp
    end
    if total ~= 10000 then
      return {'invalid', before.name, 'weights', 'must sum to exactly 10000 basis points'}
    end
    revisions[i] = after.revision
  end
end

for i = 0, count - 1 do
  local k, a = 4 + 6 * i, 12 + 4 * i
  local name = cjson.decode(befores[i]).name
  if ARGV[4] ~= '' then
    local entry = {'route', name, 'action', ARGV[4], 'actor', ARGV[3], 'reason', ARGV[5],
      'revision', string.format('%d', revisions[i])}
    if ARGV[a + 1] ~= '' then
      for _, v in ipairs({'before', befores[i], 'after', ARGV[a + 1]}) do
        table.insert(entry, v)
      end
    end
    table.insert(entry, 'evidence')
    table.insert(entry, ARGV[a + 2])
    local id = redis.call('XADD', KEYS[k + 2], 'MAXLEN', '~', ARGV[2], '*', unpack(entry))
    if ARGV[a + 3] ~= '' then
      redis.call('HSET', KEYS[k + 5], id, ARGV[a + 3])
    end
  end
  if ARGV[a + 1] ~= '' then
    redis.call('SET', KEYS[k], ARGV[a + 1])
  end
end
if token ~= '' then
  redis.call('SET', KEYS[2], token)  -- never lowers it: checked above
end
redis.call('SET', KEYS[1], ARGV[8])
if ARGV[9] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[9])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[10]), -1)
end
for i = 0, count - 1 do
  if ARGV[13 + 4 * i] ~= '' then
    local after = cjson.decode(ARGV[13 + 4 * i])
    redis.call('PUBLISH', ARGV[1], '{"type":"route","route":' .. cjson.encode(after.name)
      .. ',"revision":' .. string.format('%d', after.revision) .. '}')
  end
end
return {'ok'}
