-- socket() exhaustion: once a process holds N open sockets, socket fails with EMFILE.
--
-- Models: a process that reached its descriptor limit (connection leak, too many clients).
-- Options:
--   after=N                                    how many open sockets of that kind a process may
--                                              hold (default 4), as socktest.sockets() lists them
--   errno=EMFILE|ENFILE|ENOBUFS|ENOMEM         the error (default EMFILE)
--   family=... | type=...                      which kind of socket: the calls that fail, and the
--                                              sockets counted (default: TCP over IPv4/IPv6)
-- Example:
--   socktest-lua run --recipe socket-exhaustion:after=2 --workload echo:concurrency=4
-- A correct program fails the one request that needed a socket, reports why, and recovers once
-- sockets are closed; a leaking program stays broken.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("socket-exhaustion", opts, {after = "natural", errno = "errno"},
    {after = 4, errno = "EMFILE"})
  local matches, of_kind = recipe.target(opts), recipe.kind(opts)
  socktest.add("socket", function(so)
    if not matches(so) then return end
    local open = 0
    for _, s in pairs(socktest.sockets()) do
      if s.pid == so.pid and of_kind(s) then open = open + 1 end   -- the calling process's
    end
    if open >= opts.after then return opts.errno end
  end)
end
