-- Unreachable network or host for one address family: IPv6 down while IPv4 works.
--
-- Models: a host with an IPv6 address but no IPv6 route (the classic dual-stack trap), a
-- network that went away, a host that does not answer ARP/NDP.
-- Options:
--   family=inet4|inet6                         the family that is down (default inet6)
--   errno=ENETUNREACH|EHOSTUNREACH             the error (default ENETUNREACH)
--   addr=HOST:PORT | port=N                    narrow it further
--   nth=N | every=N | chance=P                 which of those fail (default: all)
-- Example:
--   socktest-lua run --recipe unreachable:family=inet6 --workload dial:addr=[::1]:8080
-- A correct program tries the other family (Happy Eyeballs, RFC 8305) instead of giving up,
-- and says which address failed and how.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("unreachable", opts, {errno = "errno"},
    {errno = "ENETUNREACH", family = socktest.AF_INET6})
  local fire = recipe.when(opts)
  socktest.add("connect", function(so)
    if fire(so) then return opts.errno end
  end)
end
