-- close failing with EINTR or EIO.
--
-- Models: Linux's close(2): on EINTR the descriptor is already gone, so retrying the close can
-- close a descriptor another thread just opened; EIO reports a lost write on close.
-- Options:
--   errno=EINTR|EIO                            the error (default EINTR)
--   really_close=true|false                    true (default): the close happens and the caller is
--                                              told it failed (Linux semantics); false: the close
--                                              is cancelled and the descriptor stays open
--   family=... | port=N | addr=HOST:PORT       which sockets (default: all)
--   nth=N | every=N | chance=P                 which closes fail (default every=2)
-- Example:
--   socktest-lua run --recipe close-fail:errno=EINTR --workload dial:n=6
-- A correct program does not retry close after EINTR on Linux; it logs EIO and moves on.
local recipe = require("socktest.recipe")

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("close-fail", opts, {errno = "errno", really_close = "boolean"},
    {errno = "EINTR", really_close = true})
  if not (opts.nth or opts.every or opts.chance) then opts.every = 2 end
  local fire = recipe.when(opts)
  socktest.add("close", function(so)
    if not fire(so) then return end
    if not opts.really_close then return opts.errno end
    return function(after)
      if after.err == nil then after.err = opts.errno end
    end
  end)
end
