-- wrk script for bench/ingest.py: POST readings to /api/v1/ingest with rotating device tokens.
-- Environment: BENCH_TOKENS (file, one token a line), BENCH_ITEMS (readings per request),
-- BENCH_METRICS (values per reading: 1 or 5), BENCH_BASE_MS (first timestamp).
-- Every (device, metric, ts) is unique across threads and requests: no resend slows a run.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if #line > 0 then table.insert(tokens, line) end
  end
  items = tonumber(os.getenv("BENCH_ITEMS"))
  metrics = tonumber(os.getenv("BENCH_METRICS"))
  base = tonumber(os.getenv("BENCH_BASE_MS")) + id * 1000000000
  counter = 0
end

function request()
  counter = counter + 1
  local token = tokens[(counter + id * 7919) % #tokens + 1]
  -- one slot of `items` milliseconds per full round over the tokens
  local first = base + math.floor(counter / #tokens) * items
  local parts = {}
  for i = 1, items do
    local v = 60 + (i % 100) / 10
    if metrics == 1 then
      parts[i] = string.format('{"ts":%d,"values":{"temperature":%.2f}}', first + i, v)
    else
      parts[i] = string.format(
        '{"ts":%d,"values":{"temperature":%.2f,"vibration":%.3f,"pressure":%.2f,"flow":%.1f,"current":%.2f}}',
        first + i, v, v / 30, v / 10, v, v / 3)
    end
  end
  local body
  if items == 1 then body = parts[1] else body = "[" .. table.concat(parts, ",") .. "]" end
  return wrk.format("POST", "/api/v1/ingest",
    {["Authorization"] = "Device " .. token, ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"errors_status\": %d, " ..
    "\"errors_connect\": %d, \"errors_timeout\": %d, \"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
