-- One wrk script for every Meridian benchmark: the request comes from the environment, and `done` prints one
-- machine-readable line that bench/run turns into the table.
--
--   MERIDIAN_BENCH_METHOD  GET (default) or POST
--   MERIDIAN_BENCH_BODY    the JSON body of a POST

local method = os.getenv("MERIDIAN_BENCH_METHOD") or "GET"
wrk.method = method
if method == "POST" then
  wrk.body = os.getenv("MERIDIAN_BENCH_BODY") or "{}"
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    "MERIDIAN_RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
