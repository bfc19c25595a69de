-- wrk script: POST a fixed JSON body (given as the first script argument).
function init(args)
	wrk.method = "POST"
	wrk.body = args[1]
	wrk.headers["Content-Type"] = "application/json"
end

function response(status, headers, body)
	if status ~= 200 then
		io.stderr:write("answered " .. status .. ": " .. body .. "\n")
	end
end
