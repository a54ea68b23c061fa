---@meta socktest.net
-- LuaCATS annotations for `require("socktest.net")`: a small net layer over the switch's calls,
-- so the script's filters apply to it. Kept equal to the live module by a test (AnnotationTests).

---A listening socket.
---@class socktest.net.Listener
---@field fd integer? the descriptor (nil once closed)
local Listener = {}

---Accepts a connection.
---@return socktest.net.Conn? conn
---@return string? errname
function Listener:accept() end

---The address it listens on.
---@return socktest.Address? addr
---@return string? errname
function Listener:addr() end

---Closes it.
---@return true? ok
---@return string? errname
function Listener:close() end

---Its descriptor.
---@return integer?
function Listener:fileno() end

---A connection.
---@class socktest.net.Conn
---@field fd integer? the descriptor (nil once closed)
---@field remote socktest.Address the address dialled or accepted from
local Conn = {}

---Reads up to n bytes; nil, "EOF" at end of stream.
---@param n? integer
---@return string? data
---@return string? errname
function Conn:read(n) end

---Writes all of s.
---@param s string
---@return integer? written
---@return string? errname
function Conn:write(s) end

---Closes it.
---@return true? ok
---@return string? errname
function Conn:close() end

---The local address.
---@return socktest.Address? addr
---@return string? errname
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
function net.listen(network, address, backlog) end

---Connects to an address.
---@param network socktest.net.Network
---@param address socktest.Address
---@return socktest.net.Conn? conn
---@return string? errname
function net.dial(network, address) end

return net
