-- Address in use: bind (or listen) fails with EADDRINUSE.
--
-- Models: a port held by another process or a previous instance; TIME_WAIT without
-- SO_REUSEADDR; two listeners racing for one port.
-- Options:
--   op=bind|listen                             which call fails (default bind)
--   errno=NAME                                 the error (default EADDRINUSE)
--   port=N | addr=HOST:PORT | family=...       which sockets (default: all)
--   nth=N | every=N | chance=P                 which of those fail (default: all)
-- Example:
--   socktest-lua run --recipe addr-in-use:nth=1 --workload echo
-- A correct server reports the port it could not get and exits non-zero (or tries the next
-- port when that is its documented behaviour); it must not run on without a listener.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("addr-in-use", opts, {op = "op", errno = "errno"}, {op = "bind", errno = "EADDRINUSE"})
  if opts.op ~= "bind" and opts.op ~= "listen" then
    error(("recipe 'addr-in-use': option 'op' must be bind or listen, got %s"):format(opts.op), 2)
  end
  local fire = recipe.when(opts)
  socktest.add(opts.op, function(so)
    if fire(so) then return opts.errno end
  end)
end
