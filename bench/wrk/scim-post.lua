-- POST /Users with a new userName each time (unique per thread and request).
local path = os.getenv("BENCH_PATH")
wrk.method = "POST"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
wrk.headers["Content-Type"] = "application/scim+json"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  counter = 0
end

request = function()
  counter = counter + 1
  local name = string.format("new-%d-%d-%d@bench.example.com", id, counter, os.time())
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","name":{"givenName":"New","familyName":"Person"},"emails":[{"value":"' .. name ..
    '","type":"work","primary":true}],"active":true}'
  return wrk.format("POST", path, nil, body)
end
