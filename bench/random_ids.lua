-- wrk script: GET a path whose {id} is a random id in 1..WRK_MAX_ID (fixed seed).
local template = os.getenv("WRK_PATH")
local max_id = tonumber(os.getenv("WRK_MAX_ID") or "1")
math.randomseed(42)
request = function()
  local path = string.gsub(template, "{id}", tostring(math.random(1, max_id)))
  return wrk.format("GET", path)
end
