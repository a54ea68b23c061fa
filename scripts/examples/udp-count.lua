-- Datagrams over loopback, through the switch: sends N (default 1000) to a socket of its own,
-- one at a time, and prints how many arrived. Run it under udp-loss to see loss and duplicates:
--
--   socktest-lua run --recipe udp-loss:loss=0.2,dup=0.1 --seed 7 scripts/examples/udp-count.lua
--
local st = require("socktest")
local N = tonumber(os.getenv("UDP_COUNT") or "") or 1000

local receiver = assert(st.socket(st.AF_INET, st.SOCK_DGRAM | st.SOCK_NONBLOCK))
assert(st.bind(receiver, "127.0.0.1:0"))
local sender = assert(st.socket(st.AF_INET, st.SOCK_DGRAM))
assert(st.bind(sender, "127.0.0.1:0"))
local to = st.getsockname(receiver)

-- Received after each send (loopback delivers at once), so the receive buffer never overflows.
local received, seen = 0, {}
for i = 1, N do
  assert(st.send(sender, tostring(i), to))
  for _ = 1, 4 do
    local data = st.recv(receiver, 64)
    if not data then break end
    received = received + 1
    seen[data] = true
  end
end
local distinct = 0
for _ in pairs(seen) do distinct = distinct + 1 end
print(("sent %d, received %d (%d distinct)"):format(N, received, distinct))
st.close(sender)
st.close(receiver)
