---@meta socktest
-- LuaCATS annotations for the `socktest` module (the global `socktest` and
-- `require("socktest")`), for lua-language-server: completion of `st.` and `so.`, a warning on
-- `st.set("conect", ...)`. Nothing here runs. Kept equal to the live module by a test
-- (AnnotationTests): every function, constant, status field and filter type is named here.

---The kind of call a filter is set for.
---@alias socktest.FilterType
---| "socket"     # socket(2): runs for every call, before any descriptor exists
---| "bind"       # bind(2) on a tracked socket
---| "connect"    # connect(2) on a tracked socket
---| "listen"     # listen(2) on a tracked socket
---| "accept"     # accept(2) and accept4(2) on a tracked listener
---| "getsockopt" # getsockopt(2) for an integer option
---| "close"      # close(2) of a tracked socket

---An errno's symbolic name ("ECONNREFUSED") or its number (111).
---@alias socktest.Errno string|integer

---A socket address as text: "127.0.0.1:8080", "[::1]:443", a unix path "/tmp/s" or an
---abstract name "@name".
---@alias socktest.Address string

---What a filter may return: nothing (the call runs), an errno (the call fails without running),
---an after-filter, or a delay.
---@alias socktest.Verdict nil|socktest.Errno|socktest.AfterFilter|socktest.delay

---A filter: runs before the call, with the call's status.
---@alias socktest.Filter fun(so: socktest.status): socktest.Verdict

---An after-filter: runs after the call with the same status, now holding the outcome; may
---assign `so.err` / `so.socket_err` to rewrite it, or return an errno or a delay.
---@alias socktest.AfterFilter fun(so: socktest.status): (socktest.Errno|socktest.delay|nil)

---A predicate from `nth`, `every`, `once` or `chance`: each call counts one occurrence and
---says whether the fault fires.
---@alias socktest.Predicate fun(): boolean

---The status of the call a filter sees. It belongs to its call: it is reused for later calls,
---so keep values, not the object. Only `err` and `socket_err` may be assigned, and only in an
---after-filter.
---@class socktest.status
---@field op socktest.FilterType the filter type of the call
---@field fd integer? the descriptor the call is on (nil for socket)
---@field family integer the socket's address family (`socktest.AF_INET`, ...)
---@field type integer the socket's type with its flags (`SOCK_STREAM | SOCK_NONBLOCK`)
---@field protocol integer the socket's protocol (0 for the default)
---@field cookie integer family, type and protocol packed as in Go's socktest
---@field err string? nil before the call; after it, nil or the errno name (writable in after-filters)
---@field socket_err string? getsockopt(SO_ERROR): the socket error (writable in after-filters)
---@field addr socktest.Address? connect and bind: the address given; accept: the peer (after the call)
---@field backlog integer? listen: the backlog
---@field level integer? getsockopt: the level
---@field opt integer? getsockopt: the option
---@field flags integer? accept4: the flags
---@field pid integer the calling process: this one in-process, the program's process (not thread) for an external program
---@field nonblocking boolean whether the socket is non-blocking now (O_NONBLOCK, as fcntl or ioctl left it)
---@field local_addr socktest.Address? the socket's own address (getsockname), read when the script reads it; nil for socket()

---What `socktest.delay` returns.
---@class socktest.delay

---One cookie's statistics (`tostring` gives Go's text form).
---@class socktest.stat
---@field family integer
---@field type integer
---@field protocol integer
---@field opened integer
---@field connected integer
---@field listened integer
---@field accepted integer
---@field closed integer
---@field openfailed integer
---@field connectfailed integer
---@field listenfailed integer
---@field acceptfailed integer
---@field closefailed integer

---A socket still open, from `socktest.sockets()` (`tostring` gives Go's Status text).
---@class socktest.socket
---@field fd integer
---@field pid integer the process holding it: this one (`socktest.pid`) or a supervised program's
---@field family integer
---@field type integer
---@field protocol integer
---@field cookie integer
---@field err string? the outcome of the last call on it
---@field socket_err string?

---@class socktest
local socktest = {}

---Sets the filter for a call type, replacing the filters set or added before; nil removes it.
---@param type socktest.FilterType
---@param filter socktest.Filter|nil
function socktest.set(type, filter) end

---Chains a filter after those already added for the type, so recipes combine: the first to
---return an errno or a delay decides; the after-filters they return all run, in order.
---@param type socktest.FilterType
---@param filter socktest.Filter
function socktest.add(type, filter) end

---(Inside a filter) wait `seconds`, then run the call, or fail it with `errno`.
---@param seconds number 0-3600
---@param errno? socktest.Errno
---@return socktest.delay
function socktest.delay(seconds, errno) end

---Waits `seconds` without holding the Lua state (in a script that drives its own workload).
---@param seconds number 0-3600
function socktest.sleep(seconds) end

---Seconds on a monotonic clock.
---@return number
function socktest.now() end

---A number in [0, 1) from the run's seeded generator (`--seed`).
---@return number
function socktest.random() end

---A predicate that fires on the n-th occurrence only.
---@param n integer >= 1
---@return socktest.Predicate
function socktest.nth(n) end

---A predicate that fires on every n-th occurrence.
---@param n integer >= 1
---@return socktest.Predicate
function socktest.every(n) end

---A predicate that fires on the first occurrence only.
---@return socktest.Predicate
function socktest.once() end

---A predicate that fires with probability p, from the run's seeded generator.
---@param p number 0-1
---@return socktest.Predicate
function socktest.chance(p) end

---Per-cookie statistics, ordered by cookie.
---@return socktest.stat[]
function socktest.stats() end

---The sockets still open: descriptor → status for this process's; "PID:FD" → status for a
---supervised program's (each with the `pid` holding it).
---@return table<integer|string, socktest.socket>
function socktest.sockets() end

---socket(2) through the switch.
---@param family integer
---@param type integer
---@param protocol? integer
---@return integer? fd
---@return string? errname
---@return integer? errno
function socktest.socket(family, type, protocol) end

---bind(2) through the switch.
---@param fd integer
---@param addr socktest.Address
---@return true? ok
---@return string? errname
---@return integer? errno
function socktest.bind(fd, addr) end

---connect(2) through the switch (a non-blocking socket returns nil, "EINPROGRESS").
---@param fd integer
---@param addr socktest.Address
---@return true? ok
---@return string? errname
---@return integer? errno
function socktest.connect(fd, addr) end

---listen(2) through the switch.
---@param fd integer
---@param backlog? integer default 128
---@return true? ok
---@return string? errname
---@return integer? errno
function socktest.listen(fd, backlog) end

---accept4(2) through the switch.
---@param fd integer
---@param flags? integer
---@return integer? fd
---@return socktest.Address|string|nil peer the peer's address, or the errno name on failure
function socktest.accept(fd, flags) end

---getsockopt(2) for an integer option, through the switch (for SO_ERROR: as the after-filter left it).
---@param fd integer
---@param level integer
---@param opt integer
---@return integer? value
---@return string? errname
---@return integer? errno
function socktest.getsockopt(fd, level, opt) end

---close(2) through the switch.
---@param fd integer
---@return true? ok
---@return string? errname
---@return integer? errno
function socktest.close(fd) end

---The socket's own address (unfiltered).
---@param fd integer
---@return socktest.Address? addr
---@return string? errname
---@return integer? errno
function socktest.getsockname(fd) end

---The peer's address (unfiltered).
---@param fd integer
---@return socktest.Address? addr
---@return string? errname
---@return integer? errno
function socktest.getpeername(fd) end

---Reads up to n bytes (unfiltered); "" at end of stream.
---@param fd integer
---@param n? integer default 4096
---@return string? data
---@return string? errname
---@return integer? errno
function socktest.read(fd, n) end

---Writes s (unfiltered).
---@param fd integer
---@param s string
---@return integer? written
---@return string? errname
---@return integer? errno
function socktest.write(fd, s) end

---Every errno the platform defines, both ways: `errno.ECONNREFUSED == 111`, `errno[111] == "ECONNREFUSED"`.
---@type table<string|integer, integer|string>
socktest.errno = {}

---This process's id (the tool's): `so.pid ~= socktest.pid` for a supervised program's call.
---@type integer
socktest.pid = 0

---The filter types, in order.
---@type socktest.FilterType[]
socktest.filter_types = {}

socktest.AF_INET = 2
socktest.AF_INET6 = 10
socktest.AF_UNIX = 1
socktest.SOCK_STREAM = 1
socktest.SOCK_DGRAM = 2
socktest.SOCK_RAW = 3
socktest.SOCK_SEQPACKET = 5
socktest.SOCK_NONBLOCK = 2048
socktest.SOCK_CLOEXEC = 524288
socktest.IPPROTO_TCP = 6
socktest.IPPROTO_UDP = 17
socktest.SOL_SOCKET = 1
socktest.SO_ERROR = 4
socktest.SO_TYPE = 3

return socktest
