-- wrk script for the HTTP measurement of docs/benchmarks.md: every request POSTs the same
-- resource to /v1/evaluations. BENCH_BODY names the JSON body file (default
-- bench-data/evaluation.json) and POLICYCORTEX_KEY the API key to send.
--
--   wrk -t2 -c64 -d20s --latency -s scripts/wrk-evaluate.lua http://127.0.0.1:8089/v1/evaluations

local path = os.getenv("BENCH_BODY") or "bench-data/evaluation.json"
local file = assert(io.open(path, "r"), "cannot open " .. path)
local body = file:read("*a")
file:close()

local key = os.getenv("POLICYCORTEX_KEY")
assert(key, "set POLICYCORTEX_KEY to an API key with the evaluate scope")

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
