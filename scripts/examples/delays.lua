-- Delays: slow calls down without holding anyone else up.
--
--   socktest-lua run scripts/examples/delays.lua --workload dial:n=8,concurrency=8
--
-- `return st.delay(seconds)` waits, then runs the call; `st.delay(seconds, "ETIMEDOUT")` waits,
-- then fails it. A delay never holds the Lua state: the 8 concurrent connects above each wait
-- 100-150 ms at the same time, so the run takes about 150 ms, not 8 × 150.
local st = require("socktest")

st.set("connect", function(so)
  -- 100 ms plus up to 50 ms of jitter from the run's seeded generator (--seed N repeats it).
  return st.delay(0.1 + 0.05 * st.random())
end)

-- One accept in ten is slow and then fails, like a SYN flood's victim.
st.set("accept", function(so)
  if st.random() < 0.1 then
    return st.delay(0.2, "ETIMEDOUT")
  end
end)
