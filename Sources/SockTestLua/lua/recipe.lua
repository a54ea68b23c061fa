-- require("socktest.recipe"): what every recipe needs: checked options, targeting a call by
-- address, port or family, and when to fire (nth, every, chance, or always).
local st, raw = ...
local fail = raw.fail    -- raises "recipe.lua:12: message", naming the recipe's line
local show = raw.show    -- a value for a message, never through a script's __tostring
local recipe = {}

local names = setmetatable({}, {__mode = "k"})   -- checked options -> recipe name
local family_names = {[st.AF_INET] = "inet4", [st.AF_INET6] = "inet6", [st.AF_UNIX] = "unix"}

-- Each kind converts a value (an option from the command line arrives as a string,
-- number or boolean) or returns nil, "what was expected".
local kinds = {}
function kinds.errno(v)
  local n = st.errno[v]
  if type(v) == "string" and n then return v end
  if math.type(v) == "integer" and n then return n end
  return nil, "an errno name such as ECONNREFUSED"
end
function kinds.errnos(v)
  local list = {}
  if type(v) ~= "string" then return nil, "errno names separated by |" end
  for name in v:gmatch("[^|,%s]+") do
    if not st.errno[name] then return nil, "errno names separated by | (" .. name .. " is not one)" end
    list[#list + 1] = name
  end
  if #list == 0 then return nil, "errno names separated by |" end
  return list
end
function kinds.count(v)
  if math.type(v) == "integer" and v >= 1 then return v end
  return nil, "a whole number >= 1"
end
function kinds.natural(v)
  if math.type(v) == "integer" and v >= 0 then return v end
  return nil, "a whole number >= 0"
end
function kinds.port(v)
  if math.type(v) == "integer" and v >= 0 and v <= 65535 then return v end
  return nil, "a port number (0-65535)"
end
function kinds.probability(v)
  if type(v) == "number" and v >= 0 and v <= 1 then return v end
  return nil, "a probability within 0-1"
end
function kinds.seconds(v)
  if type(v) == "number" and v >= 0 and v <= 3600 then return v end
  return nil, "a number of seconds within 0-3600"
end
function kinds.address(v)
  if type(v) == "string" and (v:find("^[%d.]+:%d+$") or v:find("^%[.*%]:%d+$") or v:find("^[/@]")) then return v end
  return nil, "HOST:PORT, [HOST]:PORT or a unix path"
end
function kinds.op(v)
  if v == "all" then return v end
  for _, name in ipairs(st.filter_types) do if v == name then return v end end
  return nil, "a filter type (" .. table.concat(st.filter_types, ", ") .. ") or all"
end
-- A byte count: a whole number, or one with a k, m or g suffix (KiB, MiB, GiB): 64k, 1m.
local units = {[""] = 1, k = 1024, m = 1024 * 1024, g = 1024 * 1024 * 1024}
function kinds.size(v)
  if math.type(v) == "integer" and v >= 0 then return v end
  local digits, unit = tostring(type(v) == "string" and v or ""):lower():match("^(%d+%.?%d*)([kmg]?)$")
  local n = digits and math.floor(tonumber(digits) * units[unit])
  if math.type(n) == "integer" then return n end    -- (a float: too large to be a count)
  return nil, "a number of bytes (a whole number, or with a k, m or g suffix: 64k, 1m)"
end
function kinds.direction(v)
  if v == "read" or v == "write" or v == "both" then return v end
  return nil, "read, write or both"
end
function kinds.boolean(v)
  if type(v) == "boolean" then return v end
  return nil, "true or false"
end

-- Which kind of socket a recipe aims at. By default TCP over IPv4 or IPv6: what a user means by
-- "connections". The UDP and unix sockets a program's libraries use on their own (glibc's DNS
-- lookups, nscd and systemd-userdb, Go's address sorting) are left alone unless family= or
-- type= aim there; "any" lifts either limit. A family is a number (AF_*) or "inet"/"any"; a
-- type SOCK_* or "any".
local families = {inet = "inet", inet4 = st.AF_INET, inet6 = st.AF_INET6, unix = st.AF_UNIX, any = "any"}
local socket_types = {stream = st.SOCK_STREAM, tcp = st.SOCK_STREAM, datagram = st.SOCK_DGRAM,
                      udp = st.SOCK_DGRAM, seqpacket = st.SOCK_SEQPACKET, raw = st.SOCK_RAW, any = "any"}
function kinds.family(v)
  if families[v] then return families[v] end
  return nil, "inet (IPv4 and IPv6), inet4, inet6, unix or any"
end
function kinds.socktype(v)
  if socket_types[v] then return socket_types[v] end
  return nil, "stream (or tcp), datagram (or udp), seqpacket, raw or any"
end

--- Targeting and trigger options every recipe accepts.
recipe.common = {addr = "address", port = "port", family = "family", type = "socktype",
                 nth = "count", every = "count", chance = "probability"}

--- check(name, opts, schema, defaults): opts validated against schema (option → kind) plus
--- the common options, defaults filled in. Errors name the recipe and the option.
function recipe.check(name, opts, schema, defaults)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    fail(("recipe '%s': options must be a table, got %s"):format(show(name), type(opts)))
  end
  if type(schema) ~= "table" or (defaults ~= nil and type(defaults) ~= "table") then
    fail(("recipe '%s': check(name, opts, schema [, defaults]) takes tables, got %s and %s")
      :format(show(name), type(schema), type(defaults)))
  end
  local all = {}
  for k, v in pairs(recipe.common) do all[k] = v end
  for k, v in pairs(schema) do
    if type(k) ~= "string" or not kinds[v] then
      fail(("recipe '%s': schema entry '%s' must name a kind (%s), got %s"):format(show(name), show(k), "errno, count, port, ...", show(v)))
    end
    all[k] = v
  end
  local out = {}
  for k, v in pairs(opts) do
    local kind = all[k]
    if not kind then
      local names = {}
      for n in pairs(all) do names[#names + 1] = n end
      table.sort(names)
      fail(("recipe '%s': unknown option '%s' (known: %s)"):format(show(name), show(k), table.concat(names, ", ")))
    end
    local value, expected = kinds[kind](v)
    if value == nil then
      fail(("recipe '%s': option '%s' must be %s, got %s"):format(show(name), show(k), expected, show(v)))
    end
    out[k] = value
  end
  local triggers = (out.nth and 1 or 0) + (out.every and 1 or 0) + (out.chance and 1 or 0)
  if triggers > 1 then
    fail(("recipe '%s': give at most one of nth, every, chance"):format(show(name)))
  end
  for k, v in pairs(defaults or {}) do if out[k] == nil then out[k] = v end end
  names[out] = name
  return out
end

-- target, trigger and when take the table check returned.
local function checked(fname, opts)
  if type(opts) ~= "table" then
    fail(("bad argument #1 to '%s' (options table expected, got %s)"):format(fname, type(opts)))
  end
end

local function port_of(addr) return addr and tonumber(addr:match(":(%d+)$")) end

--- A predicate on a status (or a `st.sockets()` entry): is the socket of the family and type
--- opts aim at (default: inet stream)?
function recipe.kind(opts)
  checked("kind", opts)
  local family, socktype = opts.family or "inet", opts.type or st.SOCK_STREAM
  return function(so)
    local f = so.family
    if family == "inet" then
      if f ~= st.AF_INET and f ~= st.AF_INET6 then return false end
    elseif family ~= "any" and f ~= family then
      return false
    end
    return socktype == "any" or so.type & 0xf == socktype   -- 0xf: the type without its flags
  end
end

-- Each recipe's targeting options (addr, port, family) and whether any call matched them: the
-- run's report warns about those that matched none (LuaHost.unmatchedTargets).
recipe.targets = {}

local data_path = {read = true, write = true, shutdown = true}

--- A predicate on the status: does the call match the kind (family, type), addr and port?
--- connect and bind match their address; a read, write or shutdown either end of its
--- connection (a client's reads by the server's port, the server's by its own); accept, listen
--- and others the socket's own (a program's too).
function recipe.target(opts)
  checked("target", opts)
  local of_kind = recipe.kind(opts)
  local entry
  if opts.addr or opts.port or (opts.family and opts.family ~= "any" and opts.family ~= "inet") then
    entry = {recipe = names[opts] or "recipe", addr = opts.addr, port = opts.port,
             family = opts.family and (family_names[opts.family] or opts.family), matched = false}
    recipe.targets[#recipe.targets + 1] = entry
  end
  return function(so)
    if not of_kind(so) then return false end
    if opts.addr or opts.port then
      local function at(addr)
        return (not opts.addr or addr == opts.addr) and (not opts.port or port_of(addr) == opts.port)
      end
      local op = so.op
      if op == "connect" or op == "bind" then
        if not at(so.addr) then return false end
      elseif data_path[op] then
        if not (at(so.addr) or at(so.local_addr)) then return false end
      elseif not at(so.local_addr) then
        return false
      end
    end
    if entry then entry.matched = true end
    return true
  end
end

--- When to fire among matching calls: nth, every, chance, or (default) always.
function recipe.trigger(opts)
  checked("trigger", opts)
  if opts.nth then return st.nth(opts.nth) end
  if opts.every then return st.every(opts.every) end
  if opts.chance then return st.chance(opts.chance) end
  return function() return true end
end

--- The usual shape: fire(so) is true for matching calls when the trigger says so.
function recipe.when(opts)
  checked("when", opts)
  local matches, trigger = recipe.target(opts), recipe.trigger(opts)
  return function(so) return matches(so) and trigger() end
end

--- For recipes that act on every matching connection (nth, every, chance have no meaning
--- there): an error naming the recipe when one is given.
function recipe.no_triggers(opts, instead)
  checked("no_triggers", opts)
  if opts.nth or opts.every or opts.chance then
    fail(("recipe '%s': nth, every, chance do not apply (%s)"):format(names[opts] or "recipe", instead))
  end
end

--- Per-connection state for the data path: state(so) is a table of the connection the call is
--- on (its process and descriptor), fresh once that descriptor has been closed (and then given
--- to closed(state), if there is one).
function recipe.connections(closed)
  local states = {}
  st.add("close", function(so)
    local key = so.pid .. ":" .. so.fd
    if closed and states[key] then closed(states[key]) end
    states[key] = nil
  end)
  return function(so)
    local key = so.pid .. ":" .. so.fd
    local state = states[key]
    if not state then state = {}; states[key] = state end
    return state
  end
end

--- An after-filter that does nothing, for a call that must be counted: a supervised program's
--- call with an after-filter is made by the tool, so its bytes show in so.read_total and
--- so.written_total; one that merely continues in the kernel is not seen.
function recipe.counted() end

-- Bytes moved so far on the call's socket in the direction dir (read, write, both).
local function moved(so, dir)
  return (dir ~= "write" and so.read_total or 0) + (dir ~= "read" and so.written_total or 0)
end

--- A read or write filter for "after opts.after bytes (counted in direction dir: read, write,
--- both) on a connection, answer(so)": matching calls before the limit run (and are counted),
--- the stream call that would cross it is cut short exactly there (a datagram is never cut),
--- and later ones get what answer(so) returns.
function recipe.after(opts, dir, answer)
  checked("after", opts)
  local matches = recipe.target(opts)
  return function(so)
    if not matches(so) then return end
    local limit, done = opts.after, moved(so, dir)
    if done >= limit then return answer(so) end
    if so.size and done + so.size > limit and so.type & 0xf == st.SOCK_STREAM then
      return st.short(limit - done)
    end
    return recipe.counted
  end
end

return recipe
