-- Flaky network: any call type fails with probability p, with an error picked from a set.
--
-- Seeded: the same --seed gives the same failures for the same sequence of calls.
--
-- Models: a lossy, overloaded or misconfigured network where anything fails now and then.
-- Options:
--   op=NAME|all                                which call type (default connect): socket, bind,
--                                              connect, listen, accept, getsockopt, close, all
--   p=P                                        probability of failing a call (default 0.1)
--   errors=E1|E2|...                           errors to pick from, uniformly (default
--                                              ECONNRESET|ETIMEDOUT|EHOSTUNREACH)
--   addr=HOST:PORT | port=N | family=...       which sockets (default: all)
-- Example:
--   socktest-lua run --recipe flaky:op=all,p=0.05 --workload echo:clients=50 --seed 42
-- A failed close follows Linux: the descriptor is released all the same and the caller hears
-- the error, so a program that rightly does not retry it leaks nothing.
-- A correct program survives every single failure: it retries idempotent work, reports the
-- rest, and never leaks a socket on an error path.
local recipe = require("socktest.recipe")
local st = socktest

---@param opts? socktest.RecipeOptions  (annotations: scripts/annotations)
return function(opts)
  opts = recipe.check("flaky", opts, {op = "op", p = "probability", errors = "errnos"},
    {op = "connect", p = 0.1, errors = {"ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH"}})
  if opts.chance or opts.nth or opts.every then
    error("recipe 'flaky': use p=P for the probability (nth, every, chance do not apply)", 2)
  end
  local matches = recipe.target(opts)
  local function filter(so)
    if not (matches(so) and st.random() < opts.p) then return end
    local err = opts.errors[1 + math.floor(st.random() * #opts.errors)]
    if so.op ~= "close" then return err end
    -- close(2) on Linux releases the descriptor even when it reports an error: the close
    -- happens, then the caller is told it failed (cancelling it would leave the socket open).
    return function(after)
      if after.err == nil then after.err = err end
    end
  end
  if opts.op == "all" then
    for _, kind in ipairs(st.filter_types) do st.add(kind, filter) end
  else
    st.add(opts.op, filter)
  end
end
