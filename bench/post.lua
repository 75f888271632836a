-- wrk: POST a small chat body (with the bearer token in BENCH_TOKEN, when set) and print one JSON result line.
wrk.method = "POST"
wrk.body = '{"model":"openai/gpt-4o","messages":[{"role":"user","content":"' .. (os.getenv("BENCH_CONTENT") or "hello") .. '"}]}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN") or ""
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- Through the gateway every answer must be exactly 200 (wrk itself only counts statuses >= 400): each thread
-- counts its own answers, and done() adds the counts up. Direct runs skip this to keep wrk's own cost minimal.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
not200 = 0
if token ~= "" then
  function response(status, headers, body)
    if status ~= 200 then
      not200 = not200 + 1
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local other = 0
  for _, thread in ipairs(threads) do
    other = other + (thread:get("not200") or 0)
  end
  local p = {}
  for _, q in ipairs({50, 75, 90, 99, 99.9}) do
    p[#p + 1] = string.format('"%s":%d', tostring(q), latency:percentile(q))
  end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"not200":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"mean_us":%.1f,"max_us":%d,"percentiles_us":{%s}}\n',
    summary.requests, summary.duration, e.status, other, e.connect, e.read, e.write, e.timeout,
    latency.mean, latency.max, table.concat(p, ",")))
end
