-- The last step of moving a route into its group's slot (control/groups/move.py): its releases,
-- metadata, rollout, gates, reviews and audit history are already copied there; this stores the
-- route's state (revision + 1, the group set) with its audit entry, in one step. Until then the
-- copy is invisible: the route's home still names its own slot, where it stays whole.
--
-- KEYS: 1 state, 2 audit   (the group's slot)
-- ARGV: 1 new state JSON, 2 actor, 3 reason, 4 state before (JSON), 5 audit max length,
--       6 evidence JSON
-- Returns {'ok', audit entry id} | {'exists'} (a state is already there: nothing written)

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
local after = cjson.decode(ARGV[1])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*',
  'route', after.name, 'action', 'group.join', 'actor', ARGV[2], 'reason', ARGV[3],
  'revision', string.format('%d', after.revision), 'before', ARGV[4], 'after', ARGV[1],
  'evidence', ARGV[6])
redis.call('SET', KEYS[1], ARGV[1])
return {'ok', id}
