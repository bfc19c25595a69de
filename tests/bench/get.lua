-- wrk script: GET the URL given, with BENCH_AUTH as the Authorization header
-- when set (tests/bench/auth.sh).
function init(args)
	if os.getenv("BENCH_AUTH") then wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") end
end

function response(status, headers, body)
	if status ~= 200 then
		io.stderr:write("answered " .. status .. ": " .. body .. "\n")
	end
end
