---@meta socktest.net
-- LuaCATS annotations for `require("socktest.net")`: a small net layer over the switch's calls,
-- so the script's filters apply to it. Kept equal to the live module by a test (AnnotationTests).

---A listening socket: userdata with __close and __gc (`local ln <close> = net.listen(...)`).
---Failures return nil, "ENAME", errno; any method of a closed one nil, "EBADF", 9.
---@class socktest.net.Listener
local Listener = {}

---Accepts a connection.
---@return socktest.net.Conn? conn
---@return string? errname
---@return integer? errno
function Listener:accept() end

---The address it listens on.
---@return socktest.Address? addr
---@return string? errname
---@return integer? errno
function Listener:addr() end

---Closes it.
---@return true? ok
---@return string? errname
---@return integer? errno
function Listener:close() end

---Its descriptor.
---@return integer?
function Listener:fileno() end

---A connection: userdata with __close and __gc (`local conn <close> = net.dial(...)`).
---Failures return nil, "ENAME", errno; any method of a closed one nil, "EBADF", 9.
---@class socktest.net.Conn
local Conn = {}

---Reads up to n bytes; nil, "EOF" at end of stream.
---@param n? integer
---@return string? data
---@return string? errname
---@return integer? errno
function Conn:read(n) end

---Writes all of s, looping over short writes.
---@param s string
---@return integer? written
---@return string? errname
---@return integer? errno
function Conn:write(s) end

---Closes it.
---@return true? ok
---@return string? errname
---@return integer? errno
function Conn:close() end

---Shuts down one direction or both (shutdown(2)); by default the writing side, so the peer
---reads the end of the stream.
---@param how? integer|"r"|"w"|"rw" default "w"
---@return true? ok
---@return string? errname
---@return integer? errno
function Conn:shutdown(how) end

---The local address.
---@return socktest.Address? addr
---@return string? errname
---@return integer? errno
function Conn:local_addr() end

---The peer's address.
---@return socktest.Address
function Conn:remote_addr() end

---Its descriptor.
---@return integer?
function Conn:fileno() end

---@alias socktest.net.Network "tcp"|"tcp4"|"tcp6"|"unix"

---@class socktest.net
local net = {}

---Listens on an address ("127.0.0.1:0" picks a port).
---@param network socktest.net.Network
---@param address socktest.Address
---@param backlog? integer
---@return socktest.net.Listener? listener
---@return string? errname
---@return integer? errno
function net.listen(network, address, backlog) end

---Connects to an address.
---@param network socktest.net.Network
---@param address socktest.Address
---@return socktest.net.Conn? conn
---@return string? errname
---@return integer? errno
function net.dial(network, address) end

return net
