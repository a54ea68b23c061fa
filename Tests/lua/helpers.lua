-- nth, every, once, chance and delay.
local check = require("check")
local st = require("socktest")

local function run(pred, n)
  local fired = {}
  for i = 1, n do if pred() then fired[#fired + 1] = i end end
  return table.concat(fired, ",")
end

check.eq(run(st.nth(3), 10), "3", "nth(3)")
check.eq(run(st.every(3), 10), "3,6,9", "every(3)")
check.eq(run(st.once(), 5), "1", "once()")
check.eq(run(st.chance(0), 100), "", "chance(0)")
check.eq(#run(st.chance(1), 5), #"1,2,3,4,5", "chance(1)")
local hits = select(2, run(st.chance(0.5), 1000):gsub("%d+", ""))
assert(hits > 400 and hits < 600, "chance(0.5) fired " .. hits .. " of 1000")
check.raises("bad argument #1 to 'nth'", st.nth, 0)
check.raises("bad argument #1 to 'every'", st.every, "x")
check.raises("bad argument #1 to 'chance'", st.chance, 2)

-- every(2) on accept, as in the spec's example.
local lfd, addr = check.listener(st)
local hit = st.every(2)
st.set("accept", function() if hit() then return "EMFILE" end end)
local results = {}
for i = 1, 4 do
  local c = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
  assert(st.connect(c, addr))
  local fd, err = st.accept(lfd)
  results[#results + 1] = fd and "ok" or err
  if fd then st.close(fd) end
  st.close(c)
end
check.eq(table.concat(results, " "), "ok EMFILE ok EMFILE", "every(2) on accept")
st.set("accept", nil)

-- delay: wait, then run; or wait, then fail.
check.eq(tostring(st.delay(0.05, "ETIMEDOUT")), "socktest.delay(0.05, ETIMEDOUT)", "delay tostring")
check.raises("bad argument #1 to 'delay'", st.delay, -1)
check.raises("unknown errno name 'EBOGUS'", st.delay, 1, "EBOGUS")
st.set("connect", function() return st.delay(0.05) end)
local c = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
local t0 = os.clock() -- CPU time stays low while a delay waits
check.eq(st.connect(c, addr), true, "delayed connect proceeds")
st.set("connect", function() return st.delay(0.05, "ETIMEDOUT") end)
local c2 = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
check.eq(select(2, st.connect(c2, addr)), "ETIMEDOUT", "delayed failure")
assert(os.clock() - t0 < 0.05, "a delay sleeps, it does not spin")
st.set("connect", nil)
-- Close exactly what this script opened (the leak check after it must be able to fail).
for _, s in ipairs({lfd, c, c2}) do assert(st.close(s)) end
