-- Stalled connection: after N bytes the data stops; reads wait until the program gives up.
--
-- A non-blocking read finds no data (EAGAIN, after 0.1 s so a polling loop does not spin) and
-- the socket's own readiness is no help: only the program's deadline ends the wait. A blocking
-- read waits `wait` seconds, then fails EAGAIN as one with SO_RCVTIMEO does.
--
-- Models: a peer that hangs mid-response while its connection stays up (a stuck server, a
-- dead NAT mapping, a network partition without RST).
-- Options:
--   after=BYTES                                bytes that get through first (default 0)
--   dir=read|write|both                        which calls stall (default read)
--   wait=SECONDS                               how long a blocking call waits (default 3600)
--   port=N | addr=HOST:PORT                    which connections, by either end (default: all)
--   family=... | type=...                      which kind of socket (default: TCP over IPv4/IPv6)
-- Example:
--   socktest-lua run --recipe stall:after=64k --workload transfer:bytes=1m,timeout=1
-- A correct program puts a deadline on every read (not only on connect), reports the timeout
-- with how far it got, and closes the connection.
local recipe = require("socktest.recipe")
local st = socktest
local MSG_DONTWAIT = 0x40
local RETRY = 0.1          -- a non-blocking call's wait before EAGAIN: a polling loop's pace

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("stall", opts, {after = "size", dir = "direction", wait = "seconds"},
    {after = 0, dir = "read", wait = 3600})
  recipe.no_triggers(opts, "every matching connection stalls; narrow it with port= or addr=")
  local filter = recipe.after(opts, opts.dir, function(so)
    if so.nonblocking or (so.flags or 0) & MSG_DONTWAIT ~= 0 then return st.delay(RETRY, "EAGAIN") end
    return st.delay(opts.wait, "EAGAIN")
  end)
  if opts.dir ~= "write" then st.add("read", filter) end
  if opts.dir ~= "read" then st.add("write", filter) end
end
