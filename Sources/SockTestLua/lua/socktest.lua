-- The parts of the `socktest` module written in Lua, over its Swift functions (docs/lua-api.md).
-- Runs once when the host starts. st: the module table; raw: the Swift functions only the
-- module's own Lua reaches (raw.set takes the name of the Lua function for its errors, so each
-- argument check lives in one place: Swift checks what Swift takes).
local st, raw = ...
local fail = raw.fail    -- raises "script.lua:12: message", naming the script's line

-- A value for an error message: numbers and strings as they are, anything else by its type
-- (tostring would run a script's __tostring inside the module, and its error would name us).
local function show(v)
  if math.type(v) or type(v) == "string" then return tostring(v) end
  return type(v)
end
raw.show = show

-- Predicates for recipes: each call counts one occurrence and says whether the fault fires.
-- Filters run one at a time under the guard, so the counters need no lock.
local function count_arg(name, n)
  if math.type(n) ~= "integer" or n < 1 then
    fail(("bad argument #1 to '%s' (positive integer expected, got %s)"):format(name, show(n)))
  end
end

function st.nth(n)
  count_arg("nth", n)
  local seen = 0
  return function() seen = seen + 1; return seen == n end
end

function st.every(n)
  count_arg("every", n)
  local seen = 0
  return function() seen = seen + 1; return seen % n == 0 end
end

function st.once()
  local fired = false
  return function() if fired then return false end; fired = true; return true end
end

function st.chance(p)
  if type(p) ~= "number" or p < 0 or p > 1 then
    fail(("bad argument #1 to 'chance' (probability within 0-1 expected, got %s)"):format(show(p)))
  end
  local random = st.random
  return function() return random() < p end
end

-- add(type, fn): chains fn after the filters already added for type, so recipes combine.
-- Each runs in turn: the first to return an errno, a delay or an answer (short, eof, reset,
-- drop) decides the call; the after-filters returned before it all run, in order, until one
-- returns something (with a delay or an answer too: the call still runs). set(type, ...)
-- replaces the whole chain.
local chains = {}

function st.set(kind, fn)
  raw.set(kind, fn, "set")          -- checks both arguments, or raises
  chains[kind] = nil
end

local function run_afters(afters)
  return function(after)
    for i = 1, #afters do
      local r = afters[i](after)
      if r ~= nil then return r end
    end
  end
end

function st.add(kind, fn)
  if type(fn) ~= "function" then
    fail(("bad argument #2 to 'add' (function expected, got %s)"):format(type(fn)))
  end
  local chain = chains[kind]
  if not chain then
    chain = {}
    raw.set(kind, function(so)      -- checks kind, or raises
      local afters
      for i = 1, #chain do
        local r = chain[i](so)
        if type(r) == "function" then
          afters = afters or {}
          afters[#afters + 1] = r
        elseif r ~= nil then
          if afters and raw.also(kind, r) then break end
          return r
        end
      end
      if afters then return #afters == 1 and afters[1] or run_afters(afters) end
    end, "add")
    chains[kind] = chain
  end
  chain[#chain + 1] = fn
end

-- require("socktest.net"), require("socktest.recipe"): compiled from the module's own files,
-- run on first require with the module and its Swift functions.
for name, chunk in pairs(raw.modules) do
  package.preload[name] = function() return chunk(st, raw) end
end
