/**
 * The statistics script as it was at 030c6be (before the per-window Lua work was cut), kept as the
 * reference the current script must match: the same hash fields and values, HyperLogLogs and
 * expiries for the same calls. ARGV as the current script's; `decode` is cjson.decode or
 * cmsgpack.unpack. Since context.distinct_srcs, each window ends with its responder's shard, and
 * each window applied here adds one to its responder's fan-in field (HINCRBY, one command per
 * window: the plainest way to count). Since context.distinct_probe_srcs, the shard follows the
 * window's probe flag, and an applied window whose flag is 1 adds one to `<responder>:p` too.
 */
export const referenceApplyScript = (decode: 'cjson.decode' | 'cmsgpack.unpack'): string => `
local prefix, ttl, bucketMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local a = ${decode}(ARGV[4])
local fmt, call, find, match, unpack = string.format, redis.call, string.find, string.match, unpack
local LIMIT = 32
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local r = call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #r do out[#out + 1] = r[j] end
  end
  return out
end
local function hset(key, kv)
  for i = 1, #kv, 1000 do call('HSET', key, unpack(kv, i, math.min(i + 999, #kv))) end
  call('EXPIRE', key, ttl, 'NX')
end
local function pfadd(key, values)
  for i = 1, #values, 1000 do call('PFADD', key, unpack(values, i, math.min(i + 999, #values))) end
end
-- Adds new members to one distinct set ("*" once in the HyperLogLog); returns set, count.
local function addDistinct(set, count, members, hll)
  if count < 0 then
    pfadd(hll, members)
    return set, count
  end
  local new = {}
  for k = 1, #members do
    if not find(set, ',' .. members[k] .. ',', 1, true) then new[#new + 1] = members[k] end
  end
  if #new == 0 then return set, count end
  if count + #new <= LIMIT then return set .. table.concat(new, ',') .. ',', count + #new end
  local old = {}
  for m in set:gmatch('[^,]+') do old[#old + 1] = m end
  pfadd(hll, old)
  pfadd(hll, new)
  call('EXPIRE', hll, ttl)
  return '*', -1
end
local applied, i, n = 0, 1, #a
while i <= n do
  local ws, shard, initiators = a[i], a[i + 1], a[i + 2]
  i = i + 3
  local start = fmt('%d', ws)
  local bucketStart = math.floor(ws / bucketMs) * bucketMs
  local mark = fmt('%d', ws - bucketStart) .. '|'
  local pairKey = prefix .. ':pair:' .. fmt('%d', bucketStart) .. ':' .. shard
  local entKey = prefix .. ':ent:' .. start .. ':' .. shard
  local pf, j = {}, i
  for _ = 1, initiators do
    local initiator, windows = a[j], a[j + 1]
    j = j + 2
    for _ = 1, windows do
      pf[#pf + 1] = initiator .. '>' .. a[j]
      j = j + 9 + a[j + 6]
    end
  end
  local pv = hmget(pairKey, pf)
  local pnew, pset, ef, ec = {}, {}, {}, {}
  local k = 0
  for _ = 1, initiators do
    local initiator, windows = a[i], a[i + 1]
    i = i + 2
    local e = ec[initiator]
    for _ = 1, windows do
      k = k + 1
      local field, portCount = pf[k], a[i + 6]
      local v = pnew[field]
      if v == nil then v = pv[k] end
      if not (v and find(v, '|' .. mark, 1, true)) then
        applied = applied + 1
        local fanKey = prefix .. ':fanin:' .. start .. ':' .. fmt('%d', a[i + 8 + portCount])
        call('HINCRBY', fanKey, a[i], 1)
        if a[i + 7 + portCount] == 1 then call('HINCRBY', fanKey, a[i] .. ':p', 1) end
        call('EXPIRE', fanKey, ttl, 'NX')
        if v then
          local c, fb, bb, fp, bp, marks = match(v, '^(%d+) (%d+) (%d+) (%d+) (%d+)(|.*)$')
          v = fmt('%d %d %d %d %d', c + a[i + 1], fb + a[i + 2], bb + a[i + 3], fp + a[i + 4], bp + a[i + 5]) .. marks .. mark
        else
          v = fmt('%d %d %d %d %d|', a[i + 1], a[i + 2], a[i + 3], a[i + 4], a[i + 5]) .. mark
        end
        if pnew[field] == nil then pset[#pset + 1] = field end
        pnew[field] = v
        if not e then
          e = { conns = 0, dsts = {}, ports = {}, seen = {} }
          ec[initiator] = e
          ef[#ef + 1] = initiator
        end
        e.conns = e.conns + a[i + 1]
        e.dsts[#e.dsts + 1] = a[i]
        for q = i + 7, i + 6 + portCount do
          local port = a[q]
          if not e.seen[port] then
            e.seen[port] = true
            e.ports[#e.ports + 1] = fmt('%d', port)
          end
        end
      end
      i = i + 9 + portCount
    end
  end
  if #pset > 0 then
    local kv = {}
    for q = 1, #pset do kv[#kv + 1] = pset[q]; kv[#kv + 1] = pnew[pset[q]] end
    hset(pairKey, kv)
  end
  if #ef > 0 then
    local ev = hmget(entKey, ef)
    local kv = {}
    for q = 1, #ef do
      local initiator, e, v = ef[q], ec[ef[q]], ev[q]
      local conns, nd, np, dsts, ports = 0, 0, 0, ',', ','
      if v then
        conns, nd, np, dsts, ports = match(v, '^(%d+) (%-?%d+) (%-?%d+) (%S+) (%S+)$')
        nd, np = tonumber(nd), tonumber(np)
      end
      dsts, nd = addDistinct(dsts, nd, e.dsts, prefix .. ':dsts:' .. start .. ':' .. initiator)
      ports, np = addDistinct(ports, np, e.ports, prefix .. ':ports:' .. start .. ':' .. initiator)
      kv[#kv + 1] = initiator
      kv[#kv + 1] = fmt('%d %d %d ', conns + e.conns, nd, np) .. dsts .. ' ' .. ports
    end
    hset(entKey, kv)
  end
end
return applied
`;
