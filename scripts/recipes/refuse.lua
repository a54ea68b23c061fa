-- Refused connections: connect fails with ECONNREFUSED, as if nothing listened there.
--
-- Models: a server that is down, restarting or not yet up; a closed port.
-- Options:
--   errno=NAME                                 the error (default ECONNREFUSED)
--   addr=HOST:PORT | port=N | family=inet4|inet6|unix   which connects (default: all)
--   nth=N | every=N | chance=P                 which of those fail (default: all)
-- Example:
--   socktest-lua run --recipe refuse:every=2 --workload dial:n=10
-- A correct program reports the refusal with the address it tried, retries with backoff (not in
-- a tight loop), or moves on to the next address; it does not leak the socket it opened.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("refuse", opts, {errno = "errno"}, {errno = "ECONNREFUSED"})
  local fire = recipe.when(opts)
  socktest.add("connect", function(so)
    if fire(so) then return opts.errno end
  end)
end
