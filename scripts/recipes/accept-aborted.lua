-- Aborted connection requests: accept fails with ECONNABORTED and the connection is gone.
--
-- The switch closes the accepted connection, so the client sees it reset.
--
-- Models: a client that gave up (RST) while its connection waited in the accept queue.
-- Options:
--   port=N | addr=HOST:PORT | family=...       which listeners (default: all)
--   nth=N | every=N | chance=P                 which accepts are aborted (default every=3)
-- Example:
--   socktest-lua run --recipe accept-aborted --workload echo:clients=9
-- A correct server skips the aborted connection and goes on accepting; treating ECONNABORTED
-- as fatal takes the whole server down for one impatient client.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("accept-aborted", opts, {})
  if not (opts.nth or opts.every or opts.chance) then opts.every = 3 end
  local matches, trigger = recipe.target(opts), recipe.trigger(opts)
  socktest.add("accept", function(so)
    if not matches(so) then return end
    return function(after)
      if after.err == nil and trigger() then return "ECONNABORTED" end
    end
  end)
end
