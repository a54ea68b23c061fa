-- Every st.* function, every socktest.net and socktest.recipe function, and every metamethod of
-- every userdata and metatable the module hands out, called with values of every Lua type, at
-- the top level and inside a filter: nothing crashes, every error is a string naming this
-- file and line. (Issue 16: wrong types to metamethods used to crash the tool.)
local st = require("socktest")
local net = require("socktest.net")
local recipe = require("socktest.recipe")

-- Something of each kind the module makes: a stat and a socket entry (from a socket opened and
-- one closed), a delay, an answer, a closed connection, the status object outside its call.
local ln = assert(net.listen("tcp", "127.0.0.1:0"))
local conn = assert(net.dial("tcp", ln:addr()))
conn:close()
local stat = st.stats()[1]
local _, entry = next(st.sockets())
local delay = st.delay(0)
local answer = st.short(1)
local outside
st.set("socket", function(so) outside = so end)
assert(st.close(assert(st.socket(st.AF_INET, st.SOCK_STREAM))))
st.set("socket", nil)

local trap = setmetatable({}, {__index = function() error("trap") end, __tostring = function() return {} end})
local values = {
  n = 26,
  nil, false, true, 0, -1, 1, math.maxinteger, math.mininteger, 1e9 + 0.5, 0 / 0, math.huge, -0.0,
  "", "x", "EBADF", "a\0b", "127.0.0.1:0", "/nonexistent/sock", {}, trap, print,
  function() error({}) end, coroutine.create(function() end), delay, conn, stat,
}
values[#values + 1], values[#values + 2], values[#values + 3] = entry, outside, answer
values.n = values.n + 3

-- Functions and metamethods to call: name → function.
local targets = {}
local function add(prefix, t)
  for k, v in pairs(t) do
    if type(v) == "function" then targets[prefix .. tostring(k)] = v end
  end
end
add("st.", st)
add("net.", net)
add("recipe.", recipe)
for name, object in pairs({stat = stat, entry = entry, delay = delay, answer = answer, conn = conn, listener = ln,
                            status = outside}) do
  local mt = getmetatable(object)
  add(name .. ".mt.", mt)
  if type(mt.__index) == "table" then add(name .. ".", mt.__index) end
end
targets["listener.accept"] = nil          -- on the open listener it would wait for a client

local calls, errors = 0, 0
local function try(name, f, ...)
  if name == "st.sleep" and type((...)) == "number" and (...) > 0 and (...) <= 3600 then return end
  calls = calls + 1
  local ok, err = pcall(function(...) return f(...) end, ...)
  if not ok then
    errors = errors + 1
    if type(err) ~= "string" or not err:find("^[^\n]*fuzz%.lua:%d+: ") then
      error(("%s(%s): error without file:line: %s"):format(name, table.concat({...}, ", ", 1, 0), tostring(err)), 0)
    end
  end
end

local function fuzz(arity, limit)
  local n = math.min(values.n, limit)
  for name, f in pairs(targets) do
    try(name, f)
    for i = 1, n do
      try(name, f, values[i])
      if arity >= 2 then
        for j = 1, n do
          try(name, f, values[i], values[j])
          if arity >= 3 then
            for k = 1, n, 3 do try(name, f, values[i], values[j], values[k]) end
          end
        end
      end
    end
  end
end

fuzz(3, values.n)
assert(calls > 50000 and errors > 0, ("only %d calls"):format(calls))

-- Inside a filter: the status object is live, switch calls run unfiltered.
local inside
st.set("socket", function(so)
  values[#values] = so
  fuzz(1, values.n)
  inside = true
end)
local fd = st.socket(st.AF_INET, st.SOCK_STREAM)
st.set("socket", nil)
assert(inside, "the filter ran the fuzz")
if fd then st.close(fd) end

-- What the calls opened (st.socket(1, 1) makes a unix socket) is closed again.
for fd in pairs(st.sockets()) do st.close(fd) end
ln:close()
