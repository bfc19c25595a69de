-- wrk script: single runs/log-metric calls, each thread on its own run.
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
	local body = string.format('{"run_id":"%s","key":"loss","value":%d.5,"timestamp":%d,"step":%d}',
		run, seq, 1700000000000 + seq, seq)
	return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric",
		headers, body)
end

function response(status, headers, body)
	if status ~= 200 then
		io.stderr:write("log-metric answered " .. status .. ": " .. body .. "\n")
	end
end
