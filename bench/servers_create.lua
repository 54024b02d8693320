-- wrk script of the `servers` section (bench/run.sh): exactly N `POST /compute/v2.0/servers`.
--
--   wrk -t T -c C -d BOUND -s bench/servers_create.lua URL -- N T IMAGE_ID TOKEN DONE_PREFIX
--
-- wrk runs for a duration, so this script makes it stop after exactly N requests: thread i
-- (of T) sends quota_i of them (the quotas add up to N); once a thread has sent its quota,
-- request() returns "" (wrk writes nothing and that connection stays idle), and when its
-- last response has arrived it stops its own event loop and creates the file DONE_PREFIX.i.
-- run.sh waits for all T files, then sends wrk SIGINT so that it reports at once instead of
-- sleeping to the end of -d. wrk's own duration therefore means nothing here: the rate is
-- N / (last response - first request), timed with CLOCK_MONOTONIC through LuaJIT's ffi.
-- Latency percentiles are wrk's, over the N responses only (idle connections record none).
-- wrk calls request() once in thread 0 before it starts, only to check that it parses: that
-- call gets a valid request and counts for nothing.
--
-- done() prints one line (2xx = 202 here; any other status is counted in `bad`):
--   BENCH_CREATE ok bad seconds p50_us p99_us sock_errs first_bad_status
-- and, if a response was not 202, a second one: BENCH_CREATE_BAD <status> <body, 300 bytes>

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- main Lua state: one entry per thread, for done()
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- thread Lua states ------------------------------------------------------------------
local path = "/compute/v2.0/servers"
local headers, image, prefix, tid
quota, sent, answered, ok, bad = 0, 0, 0, 0, 0
t_first, t_last, first_bad, first_bad_body = -1, -1, 0, ""
local checked -- thread 0: whether wrk's check call of request() has been made

local function finish()
  local f = io.open(prefix .. "." .. tid, "w")
  if f then f:close() end
  wrk.thread:stop()
end

function init(args)
  local n, nthreads = tonumber(args[1]), tonumber(args[2])
  image, prefix = args[3], args[5]
  tid = id
  checked = (id ~= 0)
  quota = math.floor(n / nthreads) + ((id < n % nthreads) and 1 or 0)
  headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
    ["X-Auth-Token"] = args[4],
  }
  if quota == 0 then finish() end
end

local function create_request(name)
  local body = string.format(
    '{"server":{"name":"%s","imageRef":"%s","flavorRef":1}}', name, image)
  return wrk.format("POST", path, headers, body)
end

function request()
  if not checked then
    checked = true
    return create_request("check") -- parsed by wrk, never sent
  end
  if sent >= quota then
    return "" -- nothing more for this connection: it stays idle
  end
  sent = sent + 1
  if t_first < 0 then t_first = now() end
  return create_request(string.format("bench-%d-%d", tid, sent))
end

function response(status, hdrs, body)
  answered = answered + 1
  t_last = now()
  if status == 202 then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == 0 then
      first_bad, first_bad_body = status, string.sub(body or "", 1, 300)
    end
  end
  if answered >= quota then finish() end
end

-- main Lua state, after every thread has stopped -------------------------------------------
function done(summary, latency, requests)
  local ok_n, bad_n, t0, t1, fb, fbb = 0, 0, nil, nil, 0, ""
  for _, t in ipairs(threads) do
    ok_n = ok_n + t:get("ok")
    bad_n = bad_n + t:get("bad")
    local a, b = t:get("t_first"), t:get("t_last")
    if a >= 0 and (t0 == nil or a < t0) then t0 = a end
    if b >= 0 and (t1 == nil or b > t1) then t1 = b end
    if fb == 0 and t:get("first_bad") ~= 0 then fb, fbb = t:get("first_bad"), t:get("first_bad_body") end
  end
  local e = summary.errors
  io.write(string.format("BENCH_CREATE %d %d %.6f %.1f %.1f %d %d\n", ok_n, bad_n,
    (t0 and t1) and (t1 - t0) or 0, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, fb))
  if fb ~= 0 then
    io.write("BENCH_CREATE_BAD " .. fb .. " " .. string.gsub(fbb, "[\r\n]", " ") .. "\n")
  end
end
