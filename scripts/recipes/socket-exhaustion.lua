-- socket() exhaustion: once N sockets are open, socket fails with EMFILE.
--
-- Models: a process that reached its descriptor limit (connection leak, too many clients).
-- Options:
--   after=N                                    open sockets allowed (default 4)
--   errno=EMFILE|ENFILE|ENOBUFS|ENOMEM         the error (default EMFILE)
--   family=inet4|inet6|unix                    which socket calls (default: all)
-- Example:
--   socktest-lua run --recipe socket-exhaustion:after=2 --workload echo:concurrency=4
-- A correct program fails the one request that needed a socket, reports why, and recovers once
-- sockets are closed; a leaking program stays broken.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("socket-exhaustion", opts, {after = "natural", errno = "errno"},
    {after = 4, errno = "EMFILE"})
  local matches = recipe.target(opts)
  socktest.add("socket", function(so)
    if not matches(so) then return end
    local open = 0
    for _ in pairs(socktest.sockets()) do open = open + 1 end
    if open >= opts.after then return opts.errno end
  end)
end
