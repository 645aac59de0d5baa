-- One atomic change of a route: validate, compare-and-set the revision, add a release if given,
-- append the audit entry, store the new state and publish the change. Every check runs before
-- the first write, so a change either lands whole, with its audit entry, or not at all.
-- Creating a route is the change from revision 0 (no state yet) to revision 1.
--
-- The state and release blobs arrive encoded by msgspec in the contract's shape; this script
-- only reads them and stores them byte for byte (cjson would turn empty arrays into objects and
-- reformat numbers if it re-encoded them).
--
-- KEYS: 1 state, 2 releases, 3 release_meta, 4 audit, 5 rollout fence, 6 rollout, 7 reviews,
--       8 moved marker, 9 (only for a route living in its group's slot) the group's rollout
--       (all in the route's home slot: {route:NAME} or its group's {group:G})
-- ARGV: 1 expected revision, 2 new state JSON, 3 action, 4 actor, 5 reason, 6 changes channel,
--       7 audit max length, 8 evidence JSON or '', 9 new release id or '', 10 release JSON,
--       11 release meta JSON, 12 controller fencing token or '', 13 rollout JSON or '',
--       14 expected rollout version, 15 review JSON or '' (release operations: an emergency
--       change opens a "needs review" item keyed by its audit entry id, in the same atomic step)
-- Returns {'ok', revision, audit entry id} | {'conflict', current revision} | {'release_exists', id}
--       | {'invalid', field, rule} | {'fenced', highest token seen} | {'rollout_conflict', version}
--       | {'moving', marker} (the route is moving, or moved, to its group's slot: nothing written)
--       | {'group_rollout', group rollout id, its status} (a route rollout would start while the
--       group's rollout is active: the two never both hold a route)

local moved = redis.call('GET', KEYS[8])
if moved then
  return {'moving', moved}
end
local current = redis.call('GET', KEYS[1])
local expected = tonumber(ARGV[1])
local before_revision = 0
if current then
  before_revision = cjson.decode(current).revision
elseif redis.call('HLEN', KEYS[2]) > 0 then
  return {'conflict', '-1'}  -- releases without a state: never written by this script
end
if before_revision ~= expected then
  return {'conflict', tostring(before_revision)}
end

-- A controller's change carries its leader lease's fencing token: once a newer leader wrote to
-- this route, an older (stale) leader's change is refused.
local token = ARGV[12] or ''
if token ~= '' and tonumber(token) < tonumber(redis.call('GET', KEYS[5]) or '0') then
  return {'fenced', redis.call('GET', KEYS[5])}
end
-- A change that also moves the route's rollout compare-and-sets the rollout's version.
local rollout = ARGV[13] or ''
if rollout ~= '' then
  local stored = redis.call('GET', KEYS[6])
  local version = stored and cjson.decode(stored).version or 0
  if version ~= tonumber(ARGV[14]) then
    return {'rollout_conflict', tostring(version)}
  end
  -- A route rollout starting (active now, not before) while the group's rollout is active.
  local ended = {rolled_back = true, completed = true, aborted = true}
  local function active(raw)
    return raw and not ended[cjson.decode(raw).status]
  end
  if KEYS[9] and active(rollout) and not active(stored) then
    local group = redis.call('GET', KEYS[9])
    if active(group) then
      local found = cjson.decode(group)
      return {'group_rollout', found.id, found.status}
    end
  end
end

local after = cjson.decode(ARGV[2])
if after.revision ~= expected + 1 then
  return {'invalid', 'revision', 'the new revision must be the expected revision + 1'}
end
if current and after.name ~= cjson.decode(current).name then
  return {'invalid', 'name', 'a change may not rename the route'}
end

local new_release = ARGV[9]
if new_release ~= '' and redis.call('HEXISTS', KEYS[2], new_release) == 1 then
  return {'release_exists', new_release}
end
local function known(id)
  return id == new_release or redis.call('HEXISTS', KEYS[2], id) == 1
end
if type(after.stable) ~= 'string' or not known(after.stable) then
  return {'invalid', 'stable', 'the stable release must be a release of the route'}
end
local total = 0
for id, bp in pairs(after.weights_bp) do
  if type(bp) ~= 'number' or bp < 0 or bp ~= math.floor(bp) then
    return {'invalid', 'weights.' .. id, 'must be a whole number of basis points >= 0'}
  end
  if not known(id) then
    return {'invalid', 'weights.' .. id, 'unknown release ' .. id}
  end
  total = total + bp
end
if total ~= 10000 then
  return {'invalid', 'weights', 'must sum to exactly 10000 basis points (100%)'}
end
-- Release operations: the kill switch names a release every gateway serves to every call.
if type(after.kill_switch) == 'string' and not known(after.kill_switch) then
  return {'invalid', 'kill_switch', 'unknown release ' .. after.kill_switch}
end

local entry = {
  'route', after.name, 'action', ARGV[3], 'actor', ARGV[4], 'reason', ARGV[5],
  'revision', string.format('%d', after.revision), 'before', current or '', 'after', ARGV[2],
}
if new_release ~= '' then
  table.insert(entry, 'release')
  table.insert(entry, new_release)
end
if ARGV[8] ~= '' then
  table.insert(entry, 'evidence')
  table.insert(entry, ARGV[8])
end
local audit_id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', unpack(entry))
local review = ARGV[15] or ''
if review ~= '' then
  redis.call('HSET', KEYS[7], audit_id, review)  -- release operations: needs-review item
end
if new_release ~= '' then
  redis.call('HSET', KEYS[2], new_release, ARGV[10])
  redis.call('HSET', KEYS[3], new_release, ARGV[11])
end
redis.call('SET', KEYS[1], ARGV[2])
if token ~= '' then
  redis.call('SET', KEYS[5], token)  -- never lowers it: checked above
end
if rollout ~= '' then
  redis.call('SET', KEYS[6], rollout)
end
-- The RouteChanged event exactly as msgspec encodes gateway.contract.events.RouteChanged.
redis.call('PUBLISH', ARGV[6], '{"type":"route","route":' .. cjson.encode(after.name)
  .. ',"revision":' .. string.format('%d', after.revision) .. '}')
return {'ok', string.format('%d', after.revision), audit_id}
