-- First steps: fail some connects and accepts, and watch what a workload makes of it.
--
--   socktest-lua run scripts/examples/first-steps.lua --workload echo
--
-- A filter is a function of the call's status (`so`). Returning nothing lets the call through;
-- returning an errno name ("ECONNREFUSED") or number fails it without running it.
local st = require("socktest")

-- Every 4th connect is refused (st.every counts calls and says when to fire).
local refuse = st.every(4)
st.set("connect", function(so)
  if refuse() then
    return "ECONNREFUSED"
  end
end)

-- The 2nd accept runs out of descriptors once: a robust server backs off and retries.
local exhaust = st.nth(2)
st.set("accept", function(so)
  if exhaust() then
    return "EMFILE"
  end
end)
