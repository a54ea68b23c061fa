-- After-filters: see a call's real outcome, then keep it, rewrite it, or fail the call.
--
--   socktest-lua run scripts/examples/after-filters.lua --workload echo:clients=10
--   socktest-lua run scripts/examples/after-filters.lua --workload dial:n=10
--
-- A filter that returns a function makes that function the call's after-filter. It runs once
-- the system call has returned, with `so.err` (and, for getsockopt, `so.socket_err`) holding the
-- real outcome. Assigning them rewrites what the caller gets; returning an errno fails the call
-- (and a descriptor the call created is closed, so nothing leaks).
local st = require("socktest")

-- Connects that really succeeded are reset one time in five: the caller sees ECONNRESET.
-- (A non-blocking connect "fails" with EINPROGRESS first; it completes in getsockopt below.)
local reset = st.every(5)
st.set("connect", function(so)
  return function(after)
    if after.err == nil and reset() then
      after.err = "ECONNRESET"
    end
  end
end)

-- The dial workload completes non-blocking connects with getsockopt(SO_ERROR); make the
-- third of those report a late ETIMEDOUT, as if the peer never answered.
local late = st.nth(3)
st.set("getsockopt", function(so)
  if so.opt ~= st.SO_ERROR then return end
  return function(after)
    if after.socket_err == nil and late() then
      after.socket_err = "ETIMEDOUT"
    end
  end
end)
