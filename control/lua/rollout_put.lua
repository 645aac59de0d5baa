-- Stores a route's rollout record without changing the route: compare-and-set on its version,
-- refused for a stale controller (fencing token), optionally with an audit entry and a point of
-- the evidence history. Every check runs before the first write.
--
-- KEYS: 1 rollout, 2 rollout fence, 3 audit stream, 4 evidence history, 5 moved marker,
--       6 (only for a route living in its group's slot) the group's rollout
--       (one slot: the route's home)
-- ARGV: 1 expected version, 2 rollout JSON, 3 fencing token or '', 4 audit action or '',
--       5 actor, 6 reason, 7 evidence JSON or '', 8 route name, 9 route revision,
--       10 audit max length, 11 history point JSON or '', 12 history length cap
-- Returns {'ok'} | {'fenced', highest token seen} | {'rollout_conflict', version}
--       | {'moving', marker} (the route is moving, or moved, to its group's slot)
--       | {'group_rollout', group rollout id, its status} (the record would make the route's
--       rollout active again while the group's rollout is active)
local moved = redis.call('GET', KEYS[5])
if moved then
  return {'moving', moved}
end
local token = ARGV[3]
if token ~= '' and tonumber(token) < tonumber(redis.call('GET', KEYS[2]) or '0') then
  return {'fenced', redis.call('GET', KEYS[2])}
end
local stored = redis.call('GET', KEYS[1])
local version = stored and cjson.decode(stored).version or 0
if version ~= tonumber(ARGV[1]) then
  return {'rollout_conflict', tostring(version)}
end
local ended = {rolled_back = true, completed = true, aborted = true}
local function active(raw)
  return raw and not ended[cjson.decode(raw).status]
end
if KEYS[6] and active(ARGV[2]) and not active(stored) then
  local group = redis.call('GET', KEYS[6])
  if active(group) then
    local found = cjson.decode(group)
    return {'group_rollout', found.id, found.status}
  end
end
if ARGV[4] ~= '' then
  local entry = {'route', ARGV[8], 'action', ARGV[4], 'actor', ARGV[5], 'reason', ARGV[6],
    'revision', ARGV[9]}
  if ARGV[7] ~= '' then
    table.insert(entry, 'evidence')
    table.insert(entry, ARGV[7])
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', unpack(entry))
end
if ARGV[11] ~= '' then
  redis.call('RPUSH', KEYS[4], ARGV[11])
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[12]), -1)
end
if token ~= '' then
  redis.call('SET', KEYS[2], token)
end
redis.call('SET', KEYS[1], ARGV[2])
return {'ok'}
