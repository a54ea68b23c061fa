-- Datagram loss, duplication and delay, with probabilities from the run's seeded generator.
--
-- Acts on the sending side: a lost datagram's send reports success and nothing leaves; a
-- duplicated one is sent twice; a delayed one leaves `delay` seconds late (its sender waits).
-- The same --seed gives the same losses for the same sequence of sends.
--
-- Models: a lossy network (Wi-Fi, congestion), retransmissions that deliver a datagram twice,
-- a slow path; everything a UDP protocol (DNS, QUIC, RTP, game state) must survive.
-- Options:
--   loss=P                                     probability a datagram is lost (default 0.1)
--   dup=P                                      probability a datagram arrives twice (default 0)
--   delay=SECONDS                              each datagram that is not lost leaves this late
--                                              (default 0)
--   port=N | addr=HOST:PORT                    which datagrams, by either end (default: all)
--   family=... | type=...                      which kind of socket (default: UDP over IPv4/IPv6)
-- Example:
--   socktest-lua run --recipe udp-loss:loss=0.2,dup=0.1 --seed 7 scripts/examples/udp-count.lua
-- A duplicate from a supervised program (run -- COMMAND) is sent from a socket of the tool's
-- own to the same address: the receiver sees another source port (a connected receiving socket
-- filters it out), and the report's statistics count that socket.
-- A correct program retransmits what must arrive (with a timeout and backoff), ignores
-- duplicates (sequence numbers, idempotent handling) and does not assume order.
local recipe = require("socktest.recipe")
local st = socktest

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("udp-loss", opts, {loss = "probability", dup = "probability", delay = "seconds"},
    {loss = 0.1, dup = 0, delay = 0, type = st.SOCK_DGRAM})
  recipe.no_triggers(opts, "use loss=P and dup=P for the probabilities")
  local matches = recipe.target(opts)
  -- A program's duplicates go from a socket of the tool's own (st.send acts on the tool's
  -- sockets), one a family, closed when the last program socket that used it closes.
  local own, users = {}, {}

  local function again(so)
    local data, fd = so.data, so.fd
    if so.pid ~= st.pid then
      own[so.family] = own[so.family] or st.socket(so.family, st.SOCK_DGRAM)
      fd = own[so.family]
      users[so.pid .. ":" .. so.fd] = true
    end
    if data and fd then st.send(fd, data, so.addr) end
  end

  st.add("close", function(so)
    local key = so.pid .. ":" .. so.fd
    if not users[key] then return end
    users[key] = nil
    if next(users) == nil then
      for family, fd in pairs(own) do st.close(fd); own[family] = nil end
    end
  end)

  st.add("write", function(so)
    if not matches(so) then return end
    local lost = opts.loss > 0 and st.random() < opts.loss
    local twice = opts.dup > 0 and st.random() < opts.dup
    if lost then return st.drop() end
    if twice then
      if opts.delay > 0 then st.sleep(opts.delay) end
      return function(after)
        if after.err == nil then again(after) end
      end
    end
    if opts.delay > 0 then return st.delay(opts.delay) end
  end)
end
