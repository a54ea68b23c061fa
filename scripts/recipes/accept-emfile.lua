-- Descriptor exhaustion on accept: accept fails with EMFILE (or ENFILE); the connection stays queued.
--
-- Models: a server at its RLIMIT_NOFILE (EMFILE) or a system out of file descriptors (ENFILE).
-- Options:
--   errno=EMFILE|ENFILE                        the error (default EMFILE)
--   port=N | addr=HOST:PORT | family=...       which listeners (default: all)
--   nth=N | every=N | chance=P                 which accepts fail (default every=2)
-- Example:
--   socktest-lua run --recipe accept-emfile:every=3 --workload echo
-- A correct server logs it, backs off briefly and accepts again (the connection is still
-- queued); it must not spin on accept at 100% CPU nor exit.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("accept-emfile", opts, {errno = "errno"}, {errno = "EMFILE"})
  if not (opts.nth or opts.every or opts.chance) then opts.every = 2 end
  local fire = recipe.when(opts)
  socktest.add("accept", function(so)
    if fire(so) then return opts.errno end
  end)
end
