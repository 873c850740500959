-- wrk script for the bench: BENCH_MODE=get reads the page at the URL's path; BENCH_MODE=post
-- appends a message to a random thread listed in BENCH_THREADS_FILE. Both send the API token
-- (BENCH_TOKEN; the baseline ignores it). done() prints one JSON line starting "BENCH_JSON ".

local mode = os.getenv("BENCH_MODE") or "get"
local token = os.getenv("BENCH_TOKEN") or ""
local headers = { ["Authorization"] = "Bearer " .. token }
local threads = {}
local body = '{"role": "user", "content": "Hello from wrk: the quick brown fox jumps over the lazy dog, '
  .. 'then asks the assistant what it thinks about keyset pagination."}'

if mode == "post" then
  headers["Content-Type"] = "application/json"
  for line in io.lines(os.getenv("BENCH_THREADS_FILE")) do
    threads[#threads + 1] = line
  end
end
wrk.headers["Authorization"] = headers["Authorization"]

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

if mode == "post" then
  function request()
    local thread_id = threads[math.random(#threads)]
    return wrk.format("POST", "/api/v1/threads/" .. thread_id .. "/items", headers, body)
  end
end

function done(summary, latency, requests)
  local parts = {}
  for _, p in ipairs({ 50, 75, 90, 95, 99, 99.9 }) do
    parts[#parts + 1] = string.format('"%s": %d', tostring(p), latency:percentile(p))
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": {%s}, "latency_mean_us": %f, "latency_max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    table.concat(parts, ", "), latency.mean, latency.max))
end
