-- Short reads and writes: every read or write transfers at most N bytes.
--
-- The kernel may always do this (a signal, a full socket buffer, data arriving in pieces); on
-- loopback it hardly ever does, so code that assumes a full transfer passes its tests.
--
-- Models: a slow or congested link, small socket buffers, a peer that writes in small pieces.
-- Options:
--   max=BYTES                                  the most a call transfers (default 1)
--   op=read|write|both                         which calls (default both)
--   port=N | addr=HOST:PORT                    which connections, by either end (default: all)
--   family=... | type=...                      which kind of socket (default: TCP over IPv4/IPv6)
--   nth=N | every=N | chance=P                 which of the calls larger than max (default: all)
-- Example:
--   socktest-lua run --recipe short-io:max=7 --workload echo
-- A correct program loops until all its bytes are written and reads until it has the whole
-- message (or end of stream); one read is not one message, one write not one message either.
local recipe = require("socktest.recipe")
local st = socktest

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("short-io", opts, {max = "size", op = "direction"}, {max = 1, op = "both"})
  if opts.max < 1 then error("recipe 'short-io': option 'max' must be at least 1 byte", 2) end
  local matches, trigger = recipe.target(opts), recipe.trigger(opts)
  local function filter(so)
    if matches(so) and (so.size or 0) > opts.max and trigger() then return st.short(opts.max) end
  end
  if opts.op ~= "write" then st.add("read", filter) end
  if opts.op ~= "read" then st.add("write", filter) end
end
