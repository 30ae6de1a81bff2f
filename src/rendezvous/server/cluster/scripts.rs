//! The server-side scripts of Redis mode: each change that reads and writes several keys is
//! one script, so Redis runs it whole or not at all and no two nodes interleave. Keys are
//! built here in Lua from `ARGV[1]` (the prefix) and hex keys, which one Redis server (not
//! a Redis Cluster) allows.
//!
//! The layout (`P` is the prefix, `X` a key in lowercase hex):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:a:X` | hash | account: `iss` (record issued), `rec`, `sig`; expires after the account period |
//! | `P:t:X` | set | X's lookup tokens (32 B each); expires with the account, rewritten only when they change (`th` in `P:a:X` is their digest) |
//! | `P:p:X` | hash | presence: `n` (holding node), `b` (the `Held` blob); expires with the record |
//! | `P:n:NODE` | string | a live node (renewed every 3 s, expires after 10 s) |
//! | `P:m:X` | hash | mail for X: message id → sender hex (64 B) + sealed bytes |
//! | `P:mo:X` | sorted set | mail for X in order: message id scored by its mail id |
//! | `P:mc:X` | hash | mail for X: `n` items, `b` sealed bytes |
//! | `P:sb` | hash | bytes counted per sender hex, and `all` |
//! | `P:seq` | string | the last mail id |
//! | `P:mx` | sorted set | every item, `X` + message id, scored by its expiry |
//! | `P:x:X` | hash | expiry notices for sender X: message id → recipient hex |
//! | `P:h:NAME` | hash | a handle: `peer` (32 B), `sig` |
//! | `P:hp:X` | string | X's handle name |
//! | `P:dir` / `P:dirx` | hash / sorted set | room listings by room id, and their expiry |
//! | `P:k:…` | string | which node a knock waits at (5 s) |
//! | `P:r:X:Y` | string | the node where X consented to relaying with Y (until X's connection goes, at most an hour) |

/// Mail bookkeeping shared by the scripts that remove an item: `drop_item(P, X, msg_id)`
/// removes it and its counts and returns its sender hex (or nil when it is not there).
const DROP_ITEM: &str = r#"
local function drop_item(p, r, mid)
  local blob = redis.call('HGET', p .. ':m:' .. r, mid)
  if not blob then return nil end
  local s = string.sub(blob, 1, 64)
  local len = #blob - 64
  local w = len + tonumber(ARGV[2])
  redis.call('HDEL', p .. ':m:' .. r, mid)
  redis.call('ZREM', p .. ':mo:' .. r, mid)
  redis.call('HINCRBY', p .. ':mc:' .. r, 'n', -1)
  if redis.call('HINCRBY', p .. ':mc:' .. r, 'b', -len) <= 0 and
     tonumber(redis.call('HGET', p .. ':mc:' .. r, 'n') or '0') <= 0 then
    redis.call('DEL', p .. ':mc:' .. r)
  end
  if redis.call('HINCRBY', p .. ':sb', s, -w) <= 0 then redis.call('HDEL', p .. ':sb', s) end
  redis.call('HINCRBY', p .. ':sb', 'all', -w)
  redis.call('ZREM', p .. ':mx', r .. mid)
  return s
end
"#;

/// Register: ARGV = prefix, X, issued_ms, record, signature, tokens (32 B each), account_ttl_ms,
/// node, held blob, presence expiry (ms since the epoch), the tokens' digest. Returns -1 for a replayed (not newer)
/// record, else 1 when mail or notices wait for X and 0 when none do.
pub(super) const REGISTER: &str = r#"
local p, x = ARGV[1], ARGV[2]
local a = p .. ':a:' .. x
local iss = redis.call('HGET', a, 'iss')
if iss and tonumber(iss) >= tonumber(ARGV[3]) then return -1 end
local tk = p .. ':t:' .. x
if redis.call('HGET', a, 'th') ~= ARGV[11] or
   (redis.call('EXISTS', tk) == 0 and #ARGV[6] > 0) then
  redis.call('DEL', tk)
  local toks, batch = ARGV[6], {}
  for i = 1, #toks - 31, 32 do
    batch[#batch + 1] = string.sub(toks, i, i + 31)
    if #batch == 1000 then redis.call('SADD', tk, unpack(batch)) batch = {} end
  end
  if #batch > 0 then redis.call('SADD', tk, unpack(batch)) end
end
redis.call('HSET', a, 'iss', ARGV[3], 'rec', ARGV[4], 'sig', ARGV[5], 'th', ARGV[11])
redis.call('PEXPIRE', a, ARGV[7])
redis.call('PEXPIRE', tk, ARGV[7])
local pk = p .. ':p:' .. x
redis.call('DEL', pk)
redis.call('HSET', pk, 'n', ARGV[8], 'b', ARGV[9])
redis.call('PEXPIREAT', pk, ARGV[10])
local h = redis.call('GET', p .. ':hp:' .. x)
if h then
  redis.call('PEXPIRE', p .. ':hp:' .. x, ARGV[7])
  redis.call('PEXPIRE', p .. ':h:' .. h, ARGV[7])
end
if redis.call('EXISTS', p .. ':mo:' .. x, p .. ':x:' .. x) > 0 then return 1 end
return 0
"#;

/// Leave: ARGV = prefix, X, node. Deletes X's presence if this node holds it.
pub(super) const LEAVE: &str = r#"
local pk = ARGV[1] .. ':p:' .. ARGV[2]
if redis.call('HGET', pk, 'n') == ARGV[3] then redis.call('DEL', pk) return 1 end
return 0
"#;

/// Lookup: ARGV = prefix, X, the asker's token. Returns { 0 } when X's tokens do not hold
/// it (or X is unknown), else { 1, record, signature, held blob } (false for what is
/// missing; the held blob only while its node is alive). The tokens (up to 128 KiB) stay in
/// Redis.
pub(super) const LOOKUP: &str = r#"
local p, x, t = ARGV[1], ARGV[2], ARGV[3]
if #t ~= 32 or redis.call('SISMEMBER', p .. ':t:' .. x, t) == 0 then return { 0 } end
local a = redis.call('HMGET', p .. ':a:' .. x, 'rec', 'sig')
local h = redis.call('HMGET', p .. ':p:' .. x, 'n', 'b')
local held = false
if h[1] and h[2] and redis.call('EXISTS', p .. ':n:' .. h[1]) == 1 then held = h[2] end
return { 1, a[1], a[2], held }
"#;

/// Deposit: ARGV = prefix, item overhead, recipient X, message id, sender hex, sealed
/// bytes, expiry ms, recipient's most items, recipient's most bytes, sender's most bytes,
/// most bytes in all. Returns { code, expiry }: 0 the same message was stored before (its
/// expiry), 1 stored, 2 the recipient's mailbox is full, 3 the sender's share is, 4 the
/// server is.
pub(super) const DEPOSIT: &str = r#"
local p, r, mid, s = ARGV[1], ARGV[3], ARGV[4], ARGV[5]
local m = p .. ':m:' .. r
if redis.call('HEXISTS', m, mid) == 1 then
  return { 0, redis.call('ZSCORE', p .. ':mx', r .. mid) or ARGV[7] }
end
local len = #ARGV[6]
local w = len + tonumber(ARGV[2])
local c = redis.call('HMGET', p .. ':mc:' .. r, 'n', 'b')
if tonumber(c[1] or '0') >= tonumber(ARGV[8]) or
   tonumber(c[2] or '0') + len > tonumber(ARGV[9]) then return { 2, 0 } end
if tonumber(redis.call('HGET', p .. ':sb', s) or '0') + w > tonumber(ARGV[10]) then
  return { 3, 0 }
end
if tonumber(redis.call('HGET', p .. ':sb', 'all') or '0') + w > tonumber(ARGV[11]) then
  return { 4, 0 }
end
local id = redis.call('INCR', p .. ':seq')
redis.call('HSET', m, mid, s .. ARGV[6])
redis.call('ZADD', p .. ':mo:' .. r, id, mid)
redis.call('HINCRBY', p .. ':mc:' .. r, 'n', 1)
redis.call('HINCRBY', p .. ':mc:' .. r, 'b', len)
redis.call('HINCRBY', p .. ':sb', s, w)
redis.call('HINCRBY', p .. ':sb', 'all', w)
redis.call('ZADD', p .. ':mx', ARGV[7], r .. mid)
return { 1, ARGV[7] }
"#;

/// Fetch: ARGV = prefix, X, most items. Returns { items, notices }: items flat as mail id,
/// message id, blob; notices flat as message id, recipient hex.
pub(super) const FETCH: &str = r#"
local p, x = ARGV[1], ARGV[2]
local z = redis.call('ZRANGE', p .. ':mo:' .. x, 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
local items = {}
for i = 1, #z, 2 do
  local blob = redis.call('HGET', p .. ':m:' .. x, z[i])
  if blob then
    items[#items + 1] = z[i + 1]
    items[#items + 1] = z[i]
    items[#items + 1] = blob
  end
end
local notices = redis.call('HGETALL', p .. ':x:' .. x)
return { items, notices }
"#;

/// Ack: ARGV = prefix, item overhead, X, how many mail ids, the mail ids, then the message
/// ids of acknowledged notices.
pub(super) fn ack() -> String {
    format!(
        r#"{DROP_ITEM}
local p, x = ARGV[1], ARGV[3]
local n = tonumber(ARGV[4])
for i = 5, 4 + n do
  for _, mid in ipairs(redis.call('ZRANGEBYSCORE', p .. ':mo:' .. x, ARGV[i], ARGV[i])) do
    drop_item(p, x, mid)
  end
end
for i = 5 + n, #ARGV do redis.call('HDEL', p .. ':x:' .. x, ARGV[i]) end
return 1
"#
    )
}

/// Expire: ARGV = prefix, item overhead, now, most items, notice lifetime ms. Mail past its
/// expiry becomes notices for its senders; returns those senders' hex keys.
pub(super) fn expire() -> String {
    format!(
        r#"{DROP_ITEM}
local p = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', p .. ':mx', '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local senders = {{}}
for _, member in ipairs(due) do
  local r, mid = string.sub(member, 1, 64), string.sub(member, 65)
  local s = drop_item(p, r, mid)
  if s then
    redis.call('HSET', p .. ':x:' .. s, mid, r)
    redis.call('PEXPIRE', p .. ':x:' .. s, ARGV[5])
    senders[#senders + 1] = s
  end
  redis.call('ZREM', p .. ':mx', member)
end
return senders
"#
    )
}

/// Relay consent: ARGV = prefix, X (consenting), Y (the other), node, lifetime ms. Records
/// that X, held at `node`, consents to relaying with Y; returns the node where Y consented
/// to X, if it did.
pub(super) const RELAY_CONSENT: &str = r#"
local p = ARGV[1]
redis.call('SET', p .. ':r:' .. ARGV[2] .. ':' .. ARGV[3], ARGV[4], 'PX', ARGV[5])
return redis.call('GET', p .. ':r:' .. ARGV[3] .. ':' .. ARGV[2])
"#;

/// Claim a handle: ARGV = prefix, name, X, key (32 B), signature, lifetime ms. Returns 1
/// when X holds it now, 0 when another key does.
pub(super) const CLAIM: &str = r#"
local p, name, x = ARGV[1], ARGV[2], ARGV[3]
local h = p .. ':h:' .. name
local holder = redis.call('HGET', h, 'peer')
if holder and holder ~= ARGV[4] then return 0 end
local old = redis.call('GET', p .. ':hp:' .. x)
if old and old ~= name then redis.call('DEL', p .. ':h:' .. old) end
redis.call('HSET', h, 'peer', ARGV[4], 'sig', ARGV[5])
redis.call('SET', p .. ':hp:' .. x, name, 'PX', ARGV[6])
redis.call('PEXPIRE', h, ARGV[6])
return 1
"#;
