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
---| "read"       # read, readv, recv, recvfrom, recvmsg, recvmmsg on a tracked socket
---| "write"      # write, writev, send, sendto, sendmsg, sendmmsg on a tracked socket
---| "shutdown"   # shutdown(2) of a tracked socket

---An errno's symbolic name ("ECONNREFUSED") or its number (111).
---@alias socktest.Errno string|integer

---A socket address as text: "127.0.0.1:8080", "[::1]:443", a unix path "/tmp/s" or an
---abstract name "@name".
---@alias socktest.Address string

---What a filter may return: nothing (the call runs), an errno (the call fails without running),
---an after-filter, or a delay; a read or write filter also an answer (`short`, `eof`, `reset`,
---`drop`).
---@alias socktest.Verdict nil|socktest.Errno|socktest.AfterFilter|socktest.delay|socktest.answer

---A filter: runs before the call, with the call's status.
---@alias socktest.Filter fun(so: socktest.status): socktest.Verdict

---An after-filter: runs after the call with the same status, now holding the outcome; may
---assign `so.err` / `so.socket_err` (and lower `so.n`) to rewrite it, or return an errno or a delay.
---@alias socktest.AfterFilter fun(so: socktest.status): (socktest.Errno|socktest.delay|nil)

---A predicate from `nth`, `every`, `once` or `chance`: each call counts one occurrence and
---says whether the fault fires.
---@alias socktest.Predicate fun(): boolean

---The status of the call a filter sees. It belongs to its call: it is reused for later calls,
---so keep values, not the object. Only `err`, `socket_err` and `n` may be assigned, and only
---in an after-filter.
---@class socktest.status
---@field op socktest.FilterType the filter type of the call
---@field fd integer? the descriptor the call is on (nil for socket)
---@field family integer the socket's address family (`socktest.AF_INET`, ...)
---@field type integer the socket's type with its flags (`SOCK_STREAM | SOCK_NONBLOCK`)
---@field protocol integer the socket's protocol (0 for the default)
---@field cookie integer family, type and protocol packed as in Go's socktest
---@field err string? nil before the call; after it, nil or the errno name (writable in after-filters)
---@field socket_err string? getsockopt(SO_ERROR): the socket error (writable in after-filters)
---@field addr socktest.Address? connect and bind: the address given; accept: the peer (after the call); read, write, shutdown: the peer (a datagram's: the address sent to or received from)
---@field backlog integer? listen: the backlog
---@field level integer? getsockopt: the level
---@field opt integer? getsockopt: the option
---@field flags integer? accept4: the flags; read, write: recv's or send's flags (0 for read, write)
---@field pid integer the calling process: this one in-process, the program's process (not thread) for an external program
---@field nonblocking boolean whether the socket is non-blocking now (O_NONBLOCK, as fcntl or ioctl left it)
---@field local_addr socktest.Address? the socket's own address (getsockname), read when the script reads it; nil for socket()
---@field size integer? read, write: the bytes the caller asked for or offered
---@field n integer? read, write, after the call: the bytes transferred (an after-filter may lower it)
---@field read_total integer? read, write: bytes read on this socket before this call
---@field written_total integer? read, write: bytes written on this socket before this call
---@field how integer? shutdown: `socktest.SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`
---@field data string? write: the bytes offered; read, in an after-filter: the bytes received (copied when read)

---What `socktest.delay` returns.
---@class socktest.delay

---What `socktest.short`, `eof`, `reset` and `drop` return: a read or write filter's answer.
---@class socktest.answer

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
---@field read_bytes integer bytes the data-path calls read (not in Go's text form)
---@field written_bytes integer bytes the data-path calls wrote (not in Go's text form)

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

---(Inside a read or write filter) transfer at most `n` bytes in this call: a short read or write.
---@param n integer >= 1
---@return socktest.answer
function socktest.short(n) end

---(Inside a read filter) the read returns "" (end of stream) and consumes nothing.
---@return socktest.answer
function socktest.eof() end

---(Inside a read or write filter) reset the connection: the peer gets a TCP RST, this call fails
---with ECONNRESET, later writes fail EPIPE and later reads return "".
---@return socktest.answer
function socktest.reset() end

---(Inside a write filter) the write reports success but nothing is sent.
---@return socktest.answer
function socktest.drop() end

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

---read(2) through the switch: up to n bytes; "" at end of stream.
---@param fd integer
---@param n? integer 1-16777216, default 4096
---@return string? data
---@return string? errname
---@return integer? errno
function socktest.read(fd, n) end

---recvfrom(2) through the switch: up to n bytes, and a datagram's sender (nil on a stream).
---@param fd integer
---@param n? integer 1-16777216, default 4096
---@return string? data
---@return socktest.Address|string|nil from the sender, or the errno name on failure
---@return integer? errno
function socktest.recv(fd, n) end

---write(2) through the switch: the bytes written (fewer than #s is a short write; a peer that
---is gone is nil, "EPIPE", not a SIGPIPE).
---@param fd integer
---@param s string
---@return integer? written
---@return string? errname
---@return integer? errno
function socktest.write(fd, s) end

---send(2), or sendto(2) to addr, through the switch: the bytes sent.
---@param fd integer
---@param s string
---@param addr? socktest.Address
---@return integer? sent
---@return string? errname
---@return integer? errno
function socktest.send(fd, s, addr) end

---shutdown(2) through the switch.
---@param fd integer
---@param how integer|"r"|"w"|"rw" `socktest.SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`
---@return true? ok
---@return string? errname
---@return integer? errno
function socktest.shutdown(fd, how) end

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
socktest.SHUT_RD = 0
socktest.SHUT_WR = 1
socktest.SHUT_RDWR = 2

return socktest
