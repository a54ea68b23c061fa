-- require("socktest.net"): listeners and connections over the switch's calls, so the script's
-- filters apply to them. Both are userdata (raw.handle) with __gc and __close, as io's files
-- are: `local conn <close> = net.dial(...)` closes at the end of the block, and a forgotten one
-- is closed when collected. Failures return nil, "ENAME", errno (luaL_fileresult's shape).
local st, raw = ...
local fail = raw.fail    -- raises "script.lua:12: message", naming the script's line
local net = {}

local EBADF = st.errno.EBADF
local function closed() return nil, "EBADF", EBADF end

local function family_of(fname, network, address)
  if type(address) ~= "string" then
    fail(("bad argument #2 to '%s' (address string expected, got %s)"):format(fname, type(address)))
  end
  if network == "tcp4" then return st.AF_INET end
  if network == "tcp6" then return st.AF_INET6 end
  if network == "unix" then return st.AF_UNIX end
  if network ~= "tcp" then
    fail(("bad argument #1 to '%s' (unknown network '%s': expected tcp, tcp4, tcp6 or unix)")
      :format(fname, raw.show(network)))
  end
  return address:sub(1, 1) == "[" and st.AF_INET6 or st.AF_INET
end

-- Calls f(fd, ...); if it raises (a misuse, such as a malformed address), closes fd first so
-- nothing leaks, then raises the same error (it already names the script's line).
local function guarded(fd, f, ...)
  local ok, a, b, c = pcall(f, fd, ...)
  if not ok then
    st.close(fd)
    error(a, 0)
  end
  return a, b, c
end

-- Both kinds share close, fileno, __gc, __close; raw.fd and raw.detach check the type.
local function define(name, methods, describe)
  local mt = raw.metatable(name)
  mt.__index = methods
  function methods.close(self)
    local fd = raw.detach(self, "close")
    if not fd then return closed() end
    return st.close(fd)
  end
  function methods.fileno(self) return raw.fd(self, "fileno") end
  local function release(self)
    local fd = raw.detach(self, "__gc")
    if fd then st.close(fd) end
  end
  mt.__gc, mt.__close = release, release
  function mt.__tostring(self)
    local fd = raw.fd(self, "tostring")
    return ("%s (%s)"):format(name, fd and tostring(describe(self, fd)) or "closed")
  end
  return mt
end

local Conn = {}
define("socktest.net.conn", Conn, function(self) return raw.remote(self) end)

--- Up to n bytes (default 4096); nil, "EOF" at the end of the stream; nil, "ENAME", errno.
function Conn:read(n)
  local fd = raw.fd(self, "read")
  if not fd then return closed() end
  local data, err, code = st.read(fd, n or 4096)
  if not data then return nil, err, code end
  if data == "" then return nil, "EOF" end
  return data
end

--- Writes all of s, looping over short writes (as a correct program does); returns #s, or
--- nil, "ENAME", errno.
function Conn:write(s)
  local fd = raw.fd(self, "write")
  if not fd then return closed() end
  if type(s) ~= "string" then
    fail(("bad argument #1 to 'write' (string expected, got %s)"):format(type(s)))
  end
  local sent = 0
  while sent < #s do
    local n, err, code = st.write(fd, s:sub(sent + 1))
    if not n then return nil, err, code end
    sent = sent + n
  end
  return sent
end

--- Shuts down the writing side (how "w", the default), the reading side ("r") or both ("rw").
function Conn:shutdown(how)
  local fd = raw.fd(self, "shutdown")
  if not fd then return closed() end
  return st.shutdown(fd, how or "w")
end

-- The socket's own address (a listener's addr, a connection's local_addr).
local function sockname(self, method)
  local fd = raw.fd(self, method)
  if not fd then return closed() end
  return st.getsockname(fd)
end

function Conn:local_addr() return sockname(self, "local_addr") end

function Conn:remote_addr()
  raw.fd(self, "remote_addr")       -- checks the type
  return raw.remote(self)
end

local Listener = {}
define("socktest.net.listener", Listener, function(_, fd) return st.getsockname(fd) end)

--- The next connection: a conn, or nil, "ENAME", errno.
function Listener:accept()
  local fd = raw.fd(self, "accept")
  if not fd then return closed() end
  local conn, peer, code = st.accept(fd)
  if not conn then return nil, peer, code end
  return raw.handle("socktest.net.conn", conn, peer)
end

function Listener:addr() return sockname(self, "addr") end

--- listen(network, address [, backlog]): a listener, or nil, "ENAME", errno.
function net.listen(network, address, backlog)
  local family = family_of("listen", network, address)
  local fd, err, code = st.socket(family, st.SOCK_STREAM, 0)
  if not fd then return nil, err, code end
  local ok
  ok, err, code = guarded(fd, st.bind, address)
  if ok then ok, err, code = guarded(fd, st.listen, backlog or 128) end
  if not ok then st.close(fd); return nil, err, code end
  return raw.handle("socktest.net.listener", fd)
end

--- dial(network, address): a conn, or nil, "ENAME", errno.
function net.dial(network, address)
  local family = family_of("dial", network, address)
  local fd, err, code = st.socket(family, st.SOCK_STREAM, 0)
  if not fd then return nil, err, code end
  local ok
  ok, err, code = guarded(fd, st.connect, address)
  if not ok then st.close(fd); return nil, err, code end
  return raw.handle("socktest.net.conn", fd, address)
end

return net
