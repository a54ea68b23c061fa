-- Limited bandwidth with latency: data moves at most `rate` bytes per second, per direction.
--
-- Each connection's reads and writes are paced: a call moves at most what the link carries in
-- 20 ms (a short transfer), and waits as long as its bytes take, so a transfer of S bytes lasts
-- about S / rate seconds. Each direction of a connection has a link of its own (paced once: at
-- the sender when both ends are under the tool, else where the program is). Latency is paid
-- at each turn of the conversation: by a write that follows a read, or the first (with
-- dir=read, by such a read), as a one-way delay.
--
-- Models: a slow or metered link (a mobile network, a WAN, a throttled API); a far-away peer.
-- Options:
--   rate=BYTES                                 bytes per second (default 1m; 64k, 1m suffixes)
--   latency=SECONDS                            one-way delay per turn (default 0)
--   dir=read|write|both                        which calls are paced (default both)
--   port=N | addr=HOST:PORT                    which connections, by either end (default: all)
--   family=... | type=...                      which kind of socket (default: TCP over IPv4/IPv6)
-- Example:
--   socktest-lua run --recipe bandwidth:rate=1m --workload transfer:bytes=512k
--   socktest-lua run --recipe bandwidth:rate=64k,latency=0.05 --workload echo:clients=2
-- A correct program keeps working, only slower: its timeouts allow for a slow link (an idle
-- timeout rather than one for the whole transfer), and it shows progress.
local recipe = require("socktest.recipe")
local st = socktest
local QUANTUM = 0.02       -- seconds of data a call may move at once: the pacing's resolution

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("bandwidth", opts, {rate = "size", latency = "seconds", dir = "direction"},
    {rate = 1024 * 1024, latency = 0, dir = "both"})
  recipe.no_triggers(opts, "every matching connection is paced; narrow it with port= or addr=")
  if opts.rate < 1 then error("recipe 'bandwidth': option 'rate' must be at least 1 byte per second", 2) end
  local rate = opts.rate
  local chunk = math.max(1, math.floor(rate * QUANTUM))
  local turn_op = opts.dir == "read" and "read" or "write"     -- who pays the latency
  -- Connections whose writes are paced here, by "local>peer": a read at the other end of one
  -- (both ends under the tool) is not paced again — its bytes took their time when sent.
  local senders = {}
  local matches = recipe.target(opts)
  local connection = recipe.connections(function(c) if c.sender then senders[c.sender] = nil end end)

  local function filter(so)
    if not matches(so) then return end
    local c, op, now = connection(so), so.op, st.now()
    local turn = c.last ~= op
    c.last = op
    if opts.dir ~= "both" and op ~= opts.dir then return end   -- seen only for the turns
    if op == "write" and not c.sender then
      c.sender = tostring(so.local_addr) .. ">" .. tostring(so.addr)
      senders[c.sender] = true
    elseif op == "read" and senders[tostring(so.addr) .. ">" .. tostring(so.local_addr)] then
      return
    end
    local start = math.max(now, c[op] or now) + ((turn and op == turn_op) and opts.latency or 0)
    local size = so.size or 0
    local stream = so.type & 0xf == st.SOCK_STREAM           -- a datagram is paced, never cut
    if op == "read" and (size <= chunk or not stream) then
      -- What a read gets is known after it: wait for the link, read, then hold the caller
      -- as long as those bytes take.
      if start > now then st.sleep(start - now) end
      return function(after)
        local t = st.now()
        local finish = math.max(t, c.read or t) + (after.n or 0) / rate
        c.read = finish
        if finish > t then return st.delay(finish - t) end
      end
    end
    local amount = stream and math.min(size, chunk) or size
    local finish = start + amount / rate
    c[op] = finish
    if amount < size then
      if finish > now then st.sleep(finish - now) end
      return st.short(amount)
    end
    if finish > now then return st.delay(finish - now) end
  end
  if opts.dir ~= "write" or opts.latency > 0 then st.add("read", filter) end
  if opts.dir ~= "read" or opts.latency > 0 then st.add("write", filter) end
end
