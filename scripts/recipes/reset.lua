-- Connection reset mid-stream: after N bytes, or on the k-th read or write of each connection.
--
-- The peer receives a real TCP RST; the call fails with ECONNRESET, and later calls fail as on a
-- socket the peer reset (a read returns end of stream, a write fails EPIPE). Once per connection.
--
-- Models: a server or middlebox that crashes or drops its state mid-response; "connection reset
-- by peer" in the middle of a download.
-- Options:
--   after=BYTES                                reset once this many bytes have moved on the
--                                              connection (default 1k; 64k, 1m suffixes)
--   nth=K                                      or: reset the K-th read or write of each
--                                              connection (counting those that moved data)
--   dir=read|write|both                        which calls count and are reset (default both)
--   port=N | addr=HOST:PORT                    which connections, by either end (default: all)
--   family=... | type=...                      which kind of socket (default: TCP over IPv4/IPv6)
-- Example:
--   socktest-lua run --recipe reset:after=256k --workload transfer:bytes=1m
-- A correct program reports the reset with what it was doing, does not take the partial data
-- for the whole, and retries only what is safe to repeat.
local recipe = require("socktest.recipe")
local st = socktest

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("reset", opts, {after = "size", dir = "direction"}, {dir = "both"})
  if opts.every or opts.chance then
    error("recipe 'reset': every and chance do not apply (use after=BYTES or nth=K)", 2)
  end
  if opts.nth and opts.after then error("recipe 'reset': give after=BYTES or nth=K, not both", 2) end
  if not opts.nth and not opts.after then opts.after = 1024 end
  local connection = recipe.connections()
  local function once(so)      -- a connection is reset once; later calls fail as the kernel's do
    local c = connection(so)
    if not c.reset then c.reset = true; return st.reset() end
  end
  local filter
  if opts.after then
    filter = recipe.after(opts, opts.dir, once)
  else
    local matches = recipe.target(opts)
    filter = function(so)
      if not matches(so) then return end
      local c = connection(so)
      if c.reset or (c.calls or 0) + 1 == opts.nth then return once(so) end
      return function(after)    -- counts the calls that moved data
        if after.n and after.n > 0 then c.calls = (c.calls or 0) + 1 end
      end
    end
  end
  if opts.dir ~= "write" then st.add("read", filter) end
  if opts.dir ~= "read" then st.add("write", filter) end
end
