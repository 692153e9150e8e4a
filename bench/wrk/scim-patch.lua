-- PATCH a group, adding and then removing one member (BENCH_MEMBER) in turn.
local path = os.getenv("BENCH_PATH")
local member = os.getenv("BENCH_MEMBER")
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
wrk.headers["Content-Type"] = "application/scim+json"
local add = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
  '{"op":"add","path":"members","value":[{"value":"' .. member .. '"}]}]}'
local remove = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
  '{"op":"remove","path":"members[value eq \\"' .. member .. '\\"]"}]}'
local turn = 0

request = function()
  turn = turn + 1
  return wrk.format("PATCH", path, nil, (turn % 2 == 1) and add or remove)
end
