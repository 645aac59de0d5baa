-- A write of the webhook delivery worker to its outbox, fenced by its lease: applied only while
-- the lease still holds this worker's fencing token, so a worker that lost the lease (paused,
-- expired, taken over) cannot deliver, mark or queue anything. Takes every check before the
-- first write: the write lands whole or not at all.
-- KEYS: 1 worker lease ("<token>:<replica>"), 2.. the outbox keys the commands name by index
-- ARGV: 1 "<token>:<replica>" of the writer, then per command: name, key index, argument count,
--       arguments
-- Returns {'ok'} | {'fenced', current lease or ''}

local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  return {'fenced', holder or ''}
end
local allowed = {
  HSET = true, HSETNX = true, HDEL = true, ZADD = true, ZREM = true, RPUSH = true,
  LREM = true, LPOP = true, SADD = true, SREM = true, DEL = true,
}
local i = 2
while i <= #ARGV do  -- every command is checked before the first one runs
  local command, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if not allowed[command] or key == nil or key == KEYS[1] then
    return redis.error_reply('outbox_write: refused command ' .. command)
  end
  i = i + 3 + tonumber(ARGV[i + 2])
end
i = 2
while i <= #ARGV do
  local count = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + count))
  i = i + 3 + count
end
return {'ok'}
