-- Black hole: after N bytes, writes report success and send nothing.
--
-- The program believes its data left; the peer never sees it and never answers. A shutdown or
-- close still reaches the peer: it sees the end of the stream without the data before it.
--
-- Models: a firewall or broken route that silently drops packets on an established connection,
-- a peer that stopped reading while the network still accepts data, a lost datagram stream.
-- Options:
--   after=BYTES                                bytes written before the hole (default 0)
--   port=N | addr=HOST:PORT                    which connections, by either end (default: all)
--   family=... | type=...                      which kind of socket (default: TCP over IPv4/IPv6)
-- Example:
--   socktest-lua run --recipe blackhole:after=64k --workload transfer:bytes=1m,timeout=1
-- A correct program does not wait for an answer for ever: it bounds every exchange with a
-- deadline (or TCP keepalive / TCP_USER_TIMEOUT), reports the timeout and closes.
local recipe = require("socktest.recipe")
local st = socktest

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("blackhole", opts, {after = "size"}, {after = 0})
  recipe.no_triggers(opts, "every matching connection is black-holed; narrow it with port= or addr=")
  st.add("write", recipe.after(opts, "write", function() return st.drop() end))
end
