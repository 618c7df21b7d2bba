-- wrk request generator for make bench.  MODE (env) picks the request:
--   get      GET PATH (env) with the bearer token
--   push1    POST /sync/push of 1 new record per request
--   push100  POST /sync/push of 100 new records per request
--   message  POST /sessions/bench/messages, a new message per request
local mode = os.getenv("MODE") or "get"
local path = os.getenv("WPATH") or "/api/v1/health"
local token = os.getenv("TOKEN") or ""
-- TOKENS (comma-separated): each request takes the next, so that an
-- upstream hashing on Authorization spreads them over its hosts
local tokens = {}
for t in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do
	table.insert(tokens, t)
end
local next_token = 0
local tag = os.getenv("TAG") or "x"
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
	thread:set("thread_id", #threads)
	table.insert(threads, thread)
end

function init(args)
	wrk.headers["Authorization"] = "Bearer " .. token
	wrk.headers["Content-Type"] = "application/json"
end

local function changes(n)
	local parts = {}
	for i = 1, n do
		counter = counter + 1
		parts[i] = string.format(
		    '{"collection":"bench","id":"%s-%d-%d","base_version":0,' ..
		    '"data":{"n":%d,"text":"hello world","done":false}}',
		    tag, thread_id, counter, counter)
	end
	return '{"changes":[' .. table.concat(parts, ",") .. ']}'
end

local function headers()
	if #tokens == 0 then
		return nil
	end
	next_token = next_token % #tokens + 1
	return { ["Authorization"] = "Bearer " .. tokens[next_token],
	    ["Content-Type"] = "application/json" }
end

function request()
	local h = headers()
	if mode == "push1" then
		return wrk.format("POST", "/api/v1/sync/push", h, changes(1))
	elseif mode == "push100" then
		return wrk.format("POST", "/api/v1/sync/push", h, changes(100))
	elseif mode == "message" then
		counter = counter + 1
		local body = string.format(
		    '{"client_msg_id":"%s-%d-%d","body":{"text":"msg %s %d %d"}}',
		    tag, thread_id, counter, tag, thread_id, counter)
		return wrk.format("POST", "/api/v1/sessions/bench/messages",
		    h, body)
	end
	return wrk.format("GET", path, h)
end

function done(summary, latency, requests)
	local errs = summary.errors
	io.write(string.format("RESULT rps=%.1f p50=%.3f p99=%.3f non2xx=%d " ..
	    "errors=%d\n", summary.requests / (summary.duration / 1e6),
	    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
	    errs.status, errs.connect + errs.read + errs.write + errs.timeout))
end
