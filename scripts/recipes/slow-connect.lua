-- Slow connects: latency with jitter on every connect, from the run's seeded generator.
--
-- Models: a far-away or congested peer; a slow handshake.
-- Options:
--   latency=SECONDS                            the base delay (default 0.1)
--   jitter=SECONDS                             up to this much more, uniformly (default 0.05)
--   addr=HOST:PORT | port=N | family=...       which connects (default: all)
--   nth=N | every=N | chance=P                 which of those are slow (default: all)
-- Example:
--   socktest-lua run --recipe slow-connect:latency=0.2,jitter=0.1 --workload echo --seed 7
-- A correct program keeps working, only slower: its timeouts are longer than the latency it
-- must tolerate, and it does not serialise work behind one slow connect.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("slow-connect", opts, {latency = "seconds", jitter = "seconds"},
    {latency = 0.1, jitter = 0.05})
  local fire = recipe.when(opts)
  socktest.add("connect", function(so)
    if fire(so) then return socktest.delay(opts.latency + opts.jitter * socktest.random()) end
  end)
end
