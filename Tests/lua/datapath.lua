-- The data path (SPEC §7): read, write and shutdown filters, their status fields, the answers
-- short, eof, reset, drop, and st.read/recv/write/send/shutdown; socktest.net over them.
local check = require("check")
local st = require("socktest")
local net = require("socktest.net")

local lfd, addr = check.listener(st)

-- A connected pair: c (the client) and s (accepted, non-blocking, so that "nothing arrived"
-- is EAGAIN rather than a wait).
local function pair()
  local c = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
  assert(st.connect(c, addr))
  local s = assert(st.accept(lfd, st.SOCK_NONBLOCK))
  return c, s
end

local c, s = pair()

-- Status fields: a write's before-filter sees what it offers; the after-filter what moved.
local seen = {}
st.set("write", function(so)
  seen.op, seen.fd, seen.size, seen.n, seen.data = so.op, so.fd, so.size, so.n, so.data
  seen.read_total, seen.written_total, seen.flags = so.read_total, so.written_total, so.flags
  seen.addr, seen.local_addr, seen.how = so.addr, so.local_addr, so.how
  return function(after) seen.after_n, seen.after_err = after.n, after.err end
end)
check.eq(st.write(c, "hello"), 5, "write")
check.eq(seen.op, "write", "so.op")
check.eq(seen.fd, c, "so.fd")
check.eq(seen.size, 5, "so.size: the bytes offered")
check.eq(seen.n, nil, "so.n before the call")
check.eq(seen.after_n, 5, "so.n after the call")
check.eq(seen.after_err, nil, "so.err after the call")
check.eq(seen.data, "hello", "so.data: the bytes offered")
check.eq(seen.read_total, 0, "so.read_total")
check.eq(seen.written_total, 0, "so.written_total before the first write")
check.eq(seen.flags, 0, "so.flags of a plain write")
check.eq(seen.addr, addr, "so.addr: the peer")
check.eq(seen.local_addr, st.getsockname(c), "so.local_addr")
check.eq(seen.how, nil, "so.how is shutdown's")
check.eq(st.send(c, "world"), 5, "send")
check.eq(seen.written_total, 5, "so.written_total counts the bytes before this call")
st.set("write", nil)

-- A read's data is there only after the call; an after-filter may lower n (the caller is told
-- that many; the rest of what the system read is gone, as on a lossy link).
st.set("read", function(so)
  seen.before_data, seen.size, seen.addr = so.data, so.size, so.addr
  return function(after)
    seen.data, seen.n = after.data, after.n
    after.n = 4
    seen.lowered = after.n
  end
end)
check.eq(st.read(s, 100), "hell", "the lowered count")
check.eq(seen.before_data, nil, "so.data before a read")
check.eq(seen.data, "helloworld", "so.data after a read")
check.eq(seen.n, 10, "so.n after a read")
check.eq(seen.lowered, 4, "so.n reads back as lowered")
check.eq(seen.size, 100, "so.size: the bytes asked for")
check.eq(seen.addr, st.getsockname(c), "so.addr of a read: the peer")
st.set("read", nil)
check.eq(select(2, st.read(s, 100)), "EAGAIN", "the rest was consumed")

-- Misused n: only lowered, only an integer, only in an after-filter, only on a read or write.
local problems = {}
local function try(so, value)
  local ok, err = pcall(function() so.n = value end)
  problems[#problems + 1] = ok and "ok" or err:gsub("^.-: ", "")
end
st.set("read", function(so)
  try(so, 1)
  return function(after) try(after, 11); try(after, -1); try(after, 1.5); try(after, "x") end
end)
assert(st.write(c, "abc"))
check.eq(st.read(s, 100), "abc", "misuse leaves the call alone")
check.eq(problems[1], "'n' can only be set in an after-filter (a filter shortens a call by returning socktest.short(n))", "n before")
check.match(problems[2], "cannot set 'n' to 11: it may only be lowered, within 0%-3", "n raised")
check.match(problems[3], "cannot set 'n' to %-1", "n negative")
check.match(problems[4], "cannot set 'n': integer expected, got number", "n fractional")
check.match(problems[5], "cannot set 'n': integer expected, got string", "n string")
problems = {}
st.set("read", function() return function(after) try(after, 0) end end)
check.eq(select(2, st.read(s, 100)), "EAGAIN", "a failed read")
check.match(problems[1], "cannot set 'n': the call fails %(EAGAIN%)", "n of a failed call")
st.set("read", nil)
st.set("connect", function() return function(after) try(after, 0) end end)
local other = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
assert(st.connect(other, addr))
assert(st.close(other)); assert(st.close(assert(st.accept(lfd))))
st.set("connect", nil)
check.eq(problems[2], "'n' can only be set for a read or write, not connect", "n of a connect")
st.set("write", function(so)
  local ok, err = pcall(function() so.size = 1 end)
  problems[#problems + 1] = ok and "ok" or err:gsub("^.-: ", "")
end)
assert(st.write(c, "x"))
st.set("write", nil)
check.eq(problems[3], "status field 'size' is read-only (only err, socket_err and n can be set)", "size is read-only")

-- so.err rewritten as for any call: a read that worked fails; one that failed succeeds with 0
-- bytes (an end of stream); a write that worked fails (its bytes were sent all the same).
st.set("read", function()
  return function(after)
    if after.err then after.err = nil else after.err = "ETIMEDOUT" end
  end
end)
assert(st.write(c, "abc"))
check.eq(select(2, st.read(s, 100)), "ETIMEDOUT", "a successful read failed by an after-filter")
check.eq(st.read(s, 100), "", "a failed read (EAGAIN: abc was consumed) made a success: 0 bytes")
st.set("read", nil)
st.set("write", function() return function(after) after.err = "EIO" end end)
check.eq(select(2, st.write(c, "sent")), "EIO", "a write failed after the call")
st.set("write", nil)
check.eq(st.read(s, 100), "sent", "its bytes went all the same")

-- short(n): a write moves at most n bytes and says so; a looping writer (socktest.net's)
-- still delivers every byte; a short read leaves the rest for the next.
local drained = function(fd)
  local got = {}
  for _ = 1, 1000 do
    local data, err = st.read(fd, 65536)
    if not data then check.eq(err, "EAGAIN", "drain"); break end
    got[#got + 1] = data
  end
  return table.concat(got)
end
drained(s)
st.set("write", function() return st.short(3) end)
check.eq(st.write(c, "abcdefgh"), 3, "short write")
check.eq(drained(s), "abc", "only n bytes reached the peer")
local conn = assert(net.dial("tcp", addr))
local server = assert(st.accept(lfd))
local payload = string.rep("0123456789", 1000)
check.eq(conn:write(payload), #payload, "a looping writer")
st.set("write", nil)
local got = {}
for _ = 1, 10000 do
  if #table.concat(got) >= #payload then break end
  got[#got + 1] = assert(st.read(server, 65536))
  assert(got[#got] ~= "", "the end of the stream before the payload")
end
check.eq(table.concat(got), payload, "every byte arrived, in order")
st.set("read", function() return st.short(2) end)
assert(st.write(c, "xyzw"))
check.eq(st.read(s, 100), "xy", "short read")
check.eq(st.read(s, 100), "zw", "the rest stays for the next read")
st.set("read", nil)

-- eof(): "" without consuming anything; net's read says "EOF".
assert(st.write(c, "kept"))
st.set("read", function() return st.eof() end)
check.eq(st.read(s, 100), "", "eof")
check.eq(select(2, conn:read()), "EOF", "net: an early end of stream")
st.set("read", nil)
check.eq(st.read(s, 100), "kept", "eof consumed nothing")

-- drop(): the write reports success; nothing is sent.
st.set("write", function() return st.drop() end)
check.eq(st.write(c, "lost"), 4, "a dropped write reports success")
check.eq(conn:write("lost too"), 8, "net: a dropped write")
st.set("write", nil)
check.eq(select(2, st.read(s, 100)), "EAGAIN", "nothing was sent")

-- The answers are counted per filter kind in the stats' bytes: what the caller was told for a
-- short or lowered call, nothing for eof; a dropped write counts as written (the program was told so).
local before
for _, stat in ipairs(st.stats()) do if stat.family == st.AF_INET then before = stat end end
check.eq(type(before.read_bytes), "number", "stat read_bytes")
check.eq(type(before.written_bytes), "number", "stat written_bytes")
assert(st.write(c, "12345"))
check.eq(st.read(s, 100), "12345", "plain round trip")
local after
for _, stat in ipairs(st.stats()) do if stat.family == st.AF_INET then after = stat end end
check.eq(after.written_bytes - before.written_bytes, 5, "written_bytes grew")
check.eq(after.read_bytes - before.read_bytes, 5, "read_bytes grew")
check.match(tostring(after), "closefailed=%d+$", "Go's text form stays as it is")

-- reset(): this call fails ECONNRESET, the peer sees the reset, later reads return "",
-- later writes EPIPE (not a SIGPIPE that kills the tool); the socket is still held.
st.set("write", function(so) if so.fd == c then return st.reset() end end)
check.eq(select(2, st.write(c, "x")), "ECONNRESET", "the resetting call")
st.set("write", nil)
check.eq(select(2, st.read(s, 100)), "ECONNRESET", "the peer saw a real RST")
check.eq(st.read(c, 100), "", "a later read sees the end")
check.eq(select(2, st.write(c, "x")), "EPIPE", "a later write")
check.eq(select(2, st.send(c, "x")), "EPIPE", "a later send")
check.eq(st.sockets()[c] ~= nil, true, "the script still holds the socket")
-- On a read, and through net: the connection's next read ends.
st.set("read", function() return st.reset() end)
check.eq(select(2, conn:read()), "ECONNRESET", "net: a reset read")
st.set("read", nil)
check.eq(select(2, st.read(server, 100)), "ECONNRESET", "the net peer saw the reset")
check.eq(select(2, conn:read()), "EOF", "net: after the reset")
check.eq(select(2, conn:write("x")), "EPIPE", "net: writes after the reset")
assert(conn:close()); assert(st.close(server)); assert(st.close(c)); assert(st.close(s))

-- Misplaced answers are script errors (checked in Swift: they are counted, not raised here);
-- bad arguments raise.
check.raises("bad argument #1 to 'short' %(at least 1 byte expected, got 0%)", st.short, 0)
check.raises("bad argument #1 to 'short' %(integer expected, got string%)", st.short, "x")
check.eq(tostring(st.short(100)), "socktest.short(100)", "tostring(short)")
check.eq(tostring(st.eof()), "socktest.eof()", "tostring(eof)")
check.eq(tostring(st.reset()), "socktest.reset()", "tostring(reset)")
check.eq(tostring(st.drop()), "socktest.drop()", "tostring(drop)")

-- shutdown: filtered, with how; "r", "w", "rw" or the constants.
c, s = pair()
local hows = {}
st.set("shutdown", function(so)
  hows[#hows + 1] = so.how
  seen.addr = so.addr
  if so.how == st.SHUT_RD then return "EIO" end
end)
check.eq(st.shutdown(c, "w"), true, "shutdown w")
check.eq(st.read(s, 100), "", "the peer reads the end")
check.eq(select(2, st.shutdown(c, "r")), "EIO", "a filter fails shutdown")
check.eq(st.shutdown(c, st.SHUT_RDWR), true, "shutdown rw")
check.eq(table.concat(hows, ","), ("%d,%d,%d"):format(st.SHUT_WR, st.SHUT_RD, st.SHUT_RDWR), "so.how")
check.eq(seen.addr, addr, "so.addr of a shutdown: the peer")
st.set("shutdown", nil)
check.eq(select(2, st.shutdown(c, 7)), "EINVAL", "another integer goes to the system")
check.raises("bad argument #2 to 'shutdown' %(unknown how 'x' %(expected \"r\", \"w\" or \"rw\"%)%)", st.shutdown, c, "x")
check.raises("bad argument #2 to 'shutdown' %(socktest.SHUT_RD, SHUT_WR, SHUT_RDWR, \"r\", \"w\" or \"rw\" expected, got no value%)", st.shutdown, c)
check.eq(select(2, st.shutdown(1, "w")), "EBADF", "shutdown acts on tracked sockets only")
check.eq(select(2, st.write(1, "x")), "EBADF", "write acts on tracked sockets only")
check.eq(select(2, st.recv(0)), "EBADF", "recv acts on tracked sockets only")
check.raises("bad argument #2 to 'recv' %(size must be within 1%-16777216%)", st.recv, s, 0)
check.raises("bad argument #3 to 'send' %(invalid address 'nowhere'", st.send, c, "x", "nowhere")
assert(st.close(c)); assert(st.close(s))

-- net: conn:shutdown() half-closes (the write side by default); the peer reads the end.
local nc = assert(net.dial("tcp", addr))
local ns = assert(st.accept(lfd))
st.set("shutdown", function(so) seen.how = so.how end)
check.eq(nc:shutdown(), true, "conn:shutdown()")
st.set("shutdown", nil)
check.eq(seen.how, st.SHUT_WR, "conn:shutdown() is the write side")
check.eq(st.read(ns, 10), "", "the peer reads the end")
assert(st.write(ns, "still open"))
check.eq(nc:read(), "still open", "the other direction still works")
assert(nc:close()); assert(st.close(ns))
check.eq(select(2, nc:shutdown()), "EBADF", "shutdown of a closed conn")

-- UDP: send to an address, recv with the sender; so.addr is the address sent to and received
-- from; drop loses a datagram; short truncates one (the rest of a datagram is gone).
local u1 = assert(st.socket(st.AF_INET, st.SOCK_DGRAM | st.SOCK_NONBLOCK))
local u2 = assert(st.socket(st.AF_INET, st.SOCK_DGRAM | st.SOCK_NONBLOCK))
assert(st.bind(u1, "127.0.0.1:0")); assert(st.bind(u2, "127.0.0.1:0"))
local a1, a2 = st.getsockname(u1), st.getsockname(u2)
local addrs = {}
st.set("write", function(so) addrs.to = so.addr end)
st.set("read", function(so)
  addrs.before = so.addr
  return function(after) addrs.from = after.addr end
end)
check.eq(st.send(u1, "datagram", a2), 8, "sendto")
local data, from = st.recv(u2, 100)
check.eq(data, "datagram", "recv's data")
check.eq(from, a1, "recv's sender")
check.eq(addrs.to, a2, "so.addr of a sendto: the address sent to")
check.eq(addrs.before, nil, "so.addr of an unconnected recv, before: unknown")
check.eq(addrs.from, a1, "so.addr of a recv, after: the sender")
st.set("write", function() return st.drop() end)
check.eq(st.send(u1, "gone", a2), 4, "a dropped datagram reports success")
st.set("write", function() return st.short(3) end)
check.eq(st.send(u1, "truncated", a2), 3, "a short datagram")
st.set("write", nil)
check.eq(st.recv(u2, 100), "tru", "only the short datagram arrived, truncated")
check.eq(select(2, st.recv(u2, 100)), "EAGAIN", "the dropped one never did")
st.set("read", nil)

-- A reset of a datagram socket fails the call and leaves the socket as it was: still connected
-- to its peer, its later reads not taken for the end of a stream.
assert(st.connect(u1, a2))
st.set("write", function() return st.reset() end)
check.eq(select(2, st.send(u1, "x")), "ECONNRESET", "a datagram socket's reset fails the call")
st.set("write", nil)
check.eq(st.getpeername(u1), a2, "still connected after its reset")
check.eq(st.send(u1, "after"), 5, "and sends on")
check.eq(st.recv(u2, 100), "after", "what it sent arrives")
assert(st.send(u2, "back", a1))
check.eq(st.recv(u1, 100), "back", "a later read gets the datagram, not an end of stream")
assert(st.close(u1)); assert(st.close(u2))

-- Chained filters (socktest.add): the after-filters returned before a delay or an answer still
-- run, as the call still does.
local ran = 0
local c3, s3 = pair()
st.add("write", function() return function() ran = ran + 1 end end)
st.add("write", function() return st.short(2) end)
check.eq(st.write(c3, "hello"), 2, "the chain's short answer")
check.eq(ran, 1, "the after-filter before a short answer ran")
st.set("write", nil)
st.add("write", function() return function() ran = ran + 1 end end)
st.add("write", function() return st.delay(0.01) end)
check.eq(st.write(c3, "hello"), 5, "the chain's delay")
check.eq(ran, 2, "the after-filter before a delay ran")
st.set("write", nil)
st.add("write", function() return function() ran = ran + 1 end end)
st.add("write", function() return "EIO" end)
check.eq(select(2, st.write(c3, "hello")), "EIO", "the chain's errno: the call does not run")
check.eq(ran, 2, "and no after-filter runs for a call that did not")
st.set("write", nil)

-- A write to a reset peer whose EPIPE an after-filter hides: the SIGPIPE it raised is taken
-- all the same (it used to kill the tool when the mask was restored).
st.set("read", function() return st.reset() end)
check.eq(select(2, st.read(s3, 10)), "ECONNRESET", "the peer's side reset")
st.set("read", nil)
check.eq(select(2, st.write(c3, "x")), "ECONNRESET", "the RST seen")
st.set("write", function() return function(after) if after.err == "EPIPE" then after.err = nil end end end)
check.eq(st.write(c3, "y"), 0, "EPIPE hidden by the after-filter")
st.set("write", nil)
assert(st.close(c3)); assert(st.close(s3))

assert(st.close(lfd))
