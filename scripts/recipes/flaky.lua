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
-- A correct program survives every single failure: it retries idempotent work, reports the
-- rest, and never leaks a socket on an error path.
local recipe = require("socktest.recipe")
local st = socktest

return function(opts)
  opts = recipe.check("flaky", opts, {op = "op", p = "probability", errors = "errnos"},
    {op = "connect", p = 0.1, errors = {"ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH"}})
  if opts.chance or opts.nth or opts.every then
    error("recipe 'flaky': use p=P for the probability (nth, every, chance do not apply)", 2)
  end
  local matches = recipe.target(opts)
  local function filter(so)
    if matches(so) and st.random() < opts.p then
      return opts.errors[1 + math.floor(st.random() * #opts.errors)]
    end
  end
  if opts.op == "all" then
    for _, kind in ipairs(st.filter_types) do st.add(kind, filter) end
  else
    st.add(opts.op, filter)
  end
end
