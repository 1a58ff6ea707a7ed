-- One wrk script for every Meridian benchmark: the request comes from the environment, and `done` prints one
-- machine-readable line that bench/run turns into the table.
--
--   MERIDIAN_BENCH_METHOD  GET (default) or POST
--   MERIDIAN_BENCH_BODY    the JSON body of a POST
--   MERIDIAN_BENCH_TOKEN   an access token, sent as `Authorization: Bearer <token>` (none when unset or empty)
--   MERIDIAN_BENCH_EXPECT  a status every response must have (e.g. 401 for a run with a bad token); the line then
--                          counts responses with any other status as `unexpected` instead of non-2xx ones

local method = os.getenv("MERIDIAN_BENCH_METHOD") or "GET"
local token = os.getenv("MERIDIAN_BENCH_TOKEN") or ""
local expect = tonumber(os.getenv("MERIDIAN_BENCH_EXPECT") or "")

wrk.method = method
if method == "POST" then
  wrk.body = os.getenv("MERIDIAN_BENCH_BODY") or "{}"
  wrk.headers["Content-Type"] = "application/json"
end
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- Each wrk thread runs its own Lua state: counters live per thread and are added up in `done`.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

unexpected = 0

if expect then
  -- Only defined when needed: a `response` callback costs wrk a little on every response.
  function response(status, headers, body)
    if status ~= expect then
      unexpected = unexpected + 1
    end
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  local bad = errors.status
  if expect then
    bad = 0
    for _, thread in ipairs(threads) do
      bad = bad + (thread:get("unexpected") or 0)
    end
  end
  io.write(string.format(
    "MERIDIAN_RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    bad, errors.connect + errors.read + errors.write + errors.timeout))
end
