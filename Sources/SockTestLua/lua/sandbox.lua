-- The sandbox every script and recipe runs in (docs/sandbox.md). Runs once, before any script,
-- on the globals the host opened: base, package, coroutine, table, string, math, utf8, os (and
-- io or debug only when the command line allows them).
--
-- allow: set of what the command line allowed ("io", "os", "c", "bytecode", "debug").
-- readsource(path): the bytes of a regular file, or nil, message, errno name (never blocks).
-- fail(message): raises it with the file:line of the script code that made the call.
local allow, readsource, fail = ...
local G = _G
local raw_load, select, type, error = load, select, type, error

-- Binary chunks are not verified by Lua: a mutated one crashes the process. Source only.
if not allow.bytecode then
  function G.load(chunk, name, mode, ...)
    if type(chunk) == "string" and chunk:byte(1) == 27 then
      return nil, "binary chunks are not allowed (socktest-lua run --allow bytecode)"
    end
    return raw_load(chunk, name, "t", ...)
  end
end

--- loadfile(path [, mode [, env]]): Lua source from a regular file. Standard input and
--- anything that is not a regular file (a FIFO, a device) are refused rather than waited on.
function G.loadfile(path, mode, ...)
  if path == nil then return nil, "loadfile: reading standard input is not allowed" end
  if type(path) ~= "string" then
    fail(("bad argument #1 to 'loadfile' (string expected, got %s)"):format(type(path)))
  end
  local source, err = readsource(path)
  if not source then return nil, err end
  return G.load(source, "@" .. path, allow.bytecode and mode or "t", ...)
end

function G.dofile(path)
  local chunk, err = G.loadfile(path)
  if not chunk then fail(err) end
  return chunk()
end

-- No finalizers on tables: Lua runs __gc with hooks off, so neither the instruction budget nor
-- an interrupt stops one that loops, and at shutdown nothing else would. <close> variables
-- cover what a script needs finalizers for. (A __gc added after setmetatable is never called.)
if not allow.debug then
  local raw_setmetatable, rawget = setmetatable, rawget
  function G.setmetatable(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      fail("a __gc metamethod is not allowed in the sandbox (use a <close> variable)")
    end
    return raw_setmetatable(t, mt)
  end
end

-- os: clocks, dates and the environment; nothing that runs, exits or deletes.
if not allow.os then
  local os = G.os
  G.os = {clock = os.clock, time = os.time, date = os.date, difftime = os.difftime, getenv = os.getenv}
end

-- require: preloaded modules (socktest, socktest.net, socktest.recipe) and Lua source on
-- package.path (the script's folder and the recipe path), read with readsource.
local package = G.package

local function find(name, path)
  local file = name:gsub("%.", "/")
  local tried = {}
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", function() return file end)
    local source, err, code = readsource(candidate)
    if source then return candidate, source end
    if code ~= "ENOENT" and code ~= "ENOTDIR" then error(err, 0) end
    tried[#tried + 1] = "\n\tno file '" .. candidate .. "'"
  end
  return nil, table.concat(tried)
end

--- searchpath(name, path): the first file of path that holds the module, or nil, what was tried.
function package.searchpath(name, path)
  local found, tried = find(name, path)
  if not found then return nil, tried end
  return found
end

local searchers = {package.searchers[1]}   -- package.preload
searchers[2] = function(name)
  local found, source = find(name, package.path)
  if not found then return source end
  local chunk, err = G.load(source, "@" .. found, "t")
  if not chunk then
    error(("error loading module '%s' from file '%s':\n\t%s"):format(name, found, err), 0)
  end
  return chunk, found
end
if allow.c then
  searchers[3], searchers[4] = package.searchers[3], package.searchers[4]
else
  package.loadlib = nil
  package.cpath = ""
end
package.searchers = searchers
