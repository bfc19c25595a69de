-- wrk script: runs/log-batch with 1000 metrics per request (10 keys x 100
-- steps), each wrk thread on its own run (ids passed as script arguments).
-- Steps increase per request, so every point is new.
local threads_made = 0
function setup(thread)
	thread:set("tid", threads_made)
	threads_made = threads_made + 1
end

function init(args)
	run = args[(tid % #args) + 1]
	seq = 0
end

-- BENCH_AUTH: an Authorization header value for every request (the auth
-- section, tests/bench/auth.sh).
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("BENCH_AUTH") then headers["Authorization"] = os.getenv("BENCH_AUTH") end

function request()
	seq = seq + 1
	local parts = {}
	local base = seq * 100
	for i = 0, 999 do
		parts[i + 1] = string.format('{"key":"m%d","value":%d.25,"timestamp":%d,"step":%d}',
			i % 10, i, 1700000000000 + base, base + math.floor(i / 10))
	end
	local body = '{"run_id":"' .. run .. '","metrics":[' .. table.concat(parts, ",") .. ']}'
	return wrk.format("POST", "/api/2.0/mlflow/runs/log-batch",
		headers, body)
end

function response(status, headers, body)
	if status ~= 200 then
		io.stderr:write("log-batch answered " .. status .. ": " .. body .. "\n")
	end
end
