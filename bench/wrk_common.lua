-- What the benchmarks' wrk scripts share: header sets given on the command line, and numbered
-- threads. A script loads it with
--   package.path = string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "?.lua;" .. package.path
--   local common = require("wrk_common")
-- and hands wrk's setup() to it: setup = common.setup

local common = {}

-- "Name: value|Name: value" as a table of headers.
function common.parse_headers(spec)
  local headers = {}
  for pair in string.gmatch(spec, "[^|]+") do
    local name, value = string.match(pair, "^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  return headers
end

-- Main thread: number the threads (thread_no, from 1, in each), and keep them for done().
common.threads = {}

function common.setup(thread)
  table.insert(common.threads, thread)
  thread:set("thread_no", #common.threads)
end

return common
