-- Early end of stream: after N bytes a read returns 0, as if the peer had closed.
--
-- Nothing is consumed: the data still waits in the socket, the program just stops hearing it.
--
-- Models: a peer or proxy that closes before the whole response (a truncated download, a body
-- shorter than its Content-Length, a crashed server that closed cleanly).
-- Options:
--   after=BYTES                                bytes read before the end (default 0; 64k, 1m)
--   port=N | addr=HOST:PORT                    which connections, by either end (default: all)
--   family=... | type=...                      which kind of socket (default: TCP over IPv4/IPv6)
-- Example:
--   socktest-lua run --recipe early-eof:after=100k --workload transfer:bytes=1m
-- A correct program checks that it got everything it was promised (a length, a terminator)
-- and reports a truncated message as an error instead of using it.
local recipe = require("socktest.recipe")
local st = socktest

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("early-eof", opts, {after = "size"}, {after = 0})
  recipe.no_triggers(opts, "every matching connection ends early; narrow it with port= or addr=")
  st.add("read", recipe.after(opts, "read", function() return st.eof() end))
end
