-- wrk script: POSTs the JSON bodies of the file named by BENCH_BODIES (one per line) round
-- robin, so that successive requests rotate through the benchmark's sessions, and prints the
-- run's exact figures as one "BENCH {json}" line. wrk keeps every latency at 1 us resolution,
-- so latency:percentile() is exact to the microsecond.

local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  bodies[#bodies + 1] = line
end
local next_body = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- The LiteLLM proxy compared side by side wants its master key.
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization then
  wrk.headers["Authorization"] = authorization
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
