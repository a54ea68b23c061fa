-- Connect timeouts, blocking and non-blocking: connect hangs, then fails with ETIMEDOUT.
--
-- A blocking connect waits, then fails with ETIMEDOUT; a non-blocking connect reports
-- EINPROGRESS, then fails through getsockopt(SO_ERROR) after the wait.
--
-- Models: a peer behind a firewall that drops SYNs; a black-holed route.
-- Options:
--   wait=SECONDS                               how long the connect hangs first (default 1)
--   errno=NAME                                 the error (default ETIMEDOUT)
--   addr=HOST:PORT | port=N | family=...       which connects (default: all)
--   nth=N | every=N | chance=P                 which of those time out (default: all)
-- Example:
--   socktest-lua run --recipe connect-timeout:wait=0.5 --workload dial:n=4,timeout=2
--   socktest-lua run --recipe connect-timeout:wait=0.5 --workload dial:n=4,blocking=true
-- A correct program bounds its connect with a deadline of its own, reports the timeout, and
-- closes the socket; a non-blocking client checks SO_ERROR after the socket turns writable.
local recipe = require("socktest.recipe")
local st = socktest

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("connect-timeout", opts, {wait = "seconds", errno = "errno"},
    {wait = 1, errno = "ETIMEDOUT"})
  local fire = recipe.when(opts)
  local doomed = {}        -- fd → true: a non-blocking connect that must fail late

  st.add("connect", function(so)
    if not fire(so) then return end
    if so.type & st.SOCK_NONBLOCK == 0 then
      return st.delay(opts.wait, opts.errno)
    end
    local fd = so.fd
    return function(after)
      if after.err == nil or after.err == "EINPROGRESS" then
        after.err = "EINPROGRESS"     -- still "in progress", whatever really happened
        doomed[fd] = true
      end
    end
  end)

  st.add("getsockopt", function(so)
    if so.opt ~= st.SO_ERROR or not doomed[so.fd] then return end
    doomed[so.fd] = nil
    return function(after)
      after.socket_err = opts.errno
      return st.delay(opts.wait)
    end
  end)

  st.add("close", function(so) doomed[so.fd] = nil end)
end
