-- A self-driven workload: the script makes its own traffic with socktest.net and checks how
-- its code copes, with assert. A failed assert makes `run` exit 1.
--
--   socktest-lua run scripts/examples/self-driven.lua
--
local st = require("socktest")
local net = require("socktest.net")

-- A server on loopback.
local ln = assert(net.listen("tcp", "127.0.0.1:0"))
local addr = ln:addr()

-- The first connect attempt is refused; the client retries.
local first = st.once()
st.set("connect", function(so)
  if first() then return "ECONNREFUSED" end
end)

local function dial_with_retry(address, attempts)
  for attempt = 1, attempts do
    local conn, err = net.dial("tcp", address)
    if conn then return conn, attempt end
    print(("attempt %d: %s, retrying"):format(attempt, err))
  end
  return nil, "gave up"
end

local conn, attempts = assert(dial_with_retry(addr, 3))
assert(attempts == 2, "the retry should have succeeded on the second attempt")

local peer = assert(ln:accept())
assert(conn:write("hello"))
assert(peer:read(5) == "hello")
print(("connected after %d attempts; echoed %q"):format(attempts, "hello"))

conn:close()
peer:close()
ln:close()
