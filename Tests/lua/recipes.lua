-- Every recipe, against the switch's own calls: it injects what it says, targets what it is
-- told, and refuses bad options with an error naming it.
local check = require("check")
local st = require("socktest")

local function reset()
  for _, kind in ipairs(st.filter_types) do st.set(kind, nil) end
end

local function apply(name, opts)
  reset()
  require("recipes." .. name)(opts)
end

local lfd, addr = check.listener(st)
local lfd2, addr2 = check.listener(st)
local port = tonumber(addr:match(":(%d+)$"))

local function dial(address, type_)
  local fd = assert(st.socket(address:sub(1, 1) == "[" and st.AF_INET6 or st.AF_INET, type_ or st.SOCK_STREAM))
  local ok, err = st.connect(fd, address)
  return fd, ok, err
end

-- refuse: only the targeted port, every 2nd time.
apply("refuse", {port = port, every = 2})
local results = {}
for i = 1, 4 do
  local fd, ok, err = dial(addr)
  results[#results + 1] = ok and "ok" or err
  st.close(fd)
end
check.eq(table.concat(results, " "), "ok ECONNREFUSED ok ECONNREFUSED", "refuse every=2")
local fd, ok = dial(addr2)
check.eq(ok, true, "refuse leaves other ports alone")
st.close(fd)

-- By default recipes aim at TCP over IPv4/IPv6: a UDP connect (a DNS lookup) is left alone
-- unless type= says so.
apply("refuse")
local u = assert(st.socket(st.AF_INET, st.SOCK_DGRAM))
check.eq(st.connect(u, addr), true, "refuse leaves a UDP connect alone")
apply("refuse", {type = "udp"})
check.eq(select(2, st.connect(u, addr)), "ECONNREFUSED", "type=udp aims at it")
st.close(u)
local tf, tok = dial(addr)
check.eq(tok, true, "type=udp leaves TCP alone")
st.close(tf)
local seen_kinds = {}
local kind = require("socktest.recipe").kind
for _, o in ipairs({{}, {family = st.AF_UNIX}, {type = st.SOCK_DGRAM}, {family = "any", type = "any"}}) do
  local k = kind(o)
  seen_kinds[#seen_kinds + 1] = table.concat({
    tostring(k({family = st.AF_INET6, type = st.SOCK_STREAM | st.SOCK_NONBLOCK})),
    tostring(k({family = st.AF_UNIX, type = st.SOCK_STREAM})),
    tostring(k({family = st.AF_INET, type = st.SOCK_DGRAM}))}, " ")
end
check.eq(table.concat(seen_kinds, ", "), "true false false, false true false, false false true, true true true",
  "recipe.kind: inet stream by default, flags ignored")

-- unreachable: IPv6 down, IPv4 up.
local l6 = assert(st.socket(st.AF_INET6, st.SOCK_STREAM))
assert(st.bind(l6, "[::1]:0")); assert(st.listen(l6))
apply("unreachable")
local fd6, ok6, err6 = dial(st.getsockname(l6))
check.eq(err6, "ENETUNREACH", "unreachable: IPv6")
local fd4, ok4 = dial(addr)
check.eq(ok4, true, "unreachable: IPv4 still works")
st.close(fd6); st.close(fd4); st.close(l6)
apply("unreachable", {errno = "EHOSTUNREACH", family = "inet4"})
local fdh, _, errh = dial(addr)
check.eq(errh, "EHOSTUNREACH", "unreachable: errno and family options")
st.close(fdh)

-- connect-timeout, blocking: waits, then ETIMEDOUT.
apply("connect-timeout", {wait = 0.1})
local t0 = st.now()
local fdt, _, errt = dial(addr)
check.eq(errt, "ETIMEDOUT", "connect-timeout blocking")
assert(st.now() - t0 >= 0.1, "the blocking connect waited")
st.close(fdt)
-- connect-timeout, non-blocking: EINPROGRESS at once, then nothing — a peer that never answers —
-- until the connect times out (at the first SYN retransmission after the wait: about 1 s).
local fdn, _, errn = dial(addr, st.SOCK_STREAM | st.SOCK_NONBLOCK)
check.eq(errn, "EINPROGRESS", "connect-timeout non-blocking: in progress")
t0 = st.now()
check.eq(st.getsockopt(fdn, st.SOL_SOCKET, st.SO_ERROR), 0, "not answered yet")
local soerr = 0
while soerr == 0 and st.now() - t0 < 5 do
  st.sleep(0.05)
  soerr = st.getsockopt(fdn, st.SOL_SOCKET, st.SO_ERROR)
end
check.eq(soerr, st.errno.ETIMEDOUT, "SO_ERROR reports the timeout")
assert(st.now() - t0 >= 0.1, "it timed out after the wait")
check.eq(st.sockets()[fdn].socket_err, "ETIMEDOUT", "table keeps the socket error")
st.close(fdn)

-- slow-connect: latency plus jitter, and the call still succeeds.
apply("slow-connect", {latency = 0.05, jitter = 0.02})
t0 = st.now()
local fds, oks = dial(addr)
local took = st.now() - t0
check.eq(oks, true, "slow-connect succeeds")
assert(took >= 0.05 and took < 0.5, "slow-connect took " .. took)
st.close(fds)

-- accept-emfile: fails every 2nd accept, and the connection stays queued.
local lfa, addra = check.listener(st)
apply("accept-emfile", {every = 2})
local c1 = dial(addra)
local a1 = assert(st.accept(lfa))
local c2 = dial(addra)
check.eq(select(2, st.accept(lfa)), "EMFILE", "accept-emfile fails the 2nd accept")
local a2 = assert(st.accept(lfa), "the connection was still queued")
check.eq(st.getpeername(a2), st.getsockname(c2), "the queued connection is the one accepted next")
for _, s in ipairs({c1, a1, c2, a2}) do st.close(s) end

-- accept-aborted: the accepted connection is closed and the caller told ECONNABORTED.
apply("accept-aborted", {every = 1})
local c3 = dial(addra)
check.eq(select(2, st.accept(lfa)), "ECONNABORTED", "accept-aborted")
local data, rerr = st.read(c3, 10)
assert(data == "" or rerr == "ECONNRESET", "the client sees the connection go away")
st.close(c3)
st.close(lfa)

-- socket-exhaustion: after N open sockets (the table), socket fails; closing one frees a slot.
local open = 0
for _ in pairs(st.sockets()) do open = open + 1 end
apply("socket-exhaustion", {after = open + 1})
local s1 = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
check.eq(select(2, st.socket(st.AF_INET, st.SOCK_STREAM)), "EMFILE", "socket-exhaustion")
st.close(s1)
local s2 = assert(st.socket(st.AF_INET, st.SOCK_STREAM), "a slot came free")
st.close(s2)

-- addr-in-use: bind, or listen.
apply("addr-in-use", {port = 1234})
local b = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
check.eq(select(2, st.bind(b, "127.0.0.1:1234")), "EADDRINUSE", "addr-in-use on bind")
check.eq(st.bind(b, "127.0.0.1:0"), true, "other ports bind")
apply("addr-in-use", {op = "listen"})
check.eq(select(2, st.listen(b)), "EADDRINUSE", "addr-in-use on listen")
st.close(b)

-- close-fail: the close happens, the caller hears EINTR (Linux semantics) ...
apply("close-fail", {every = 1})
local cf = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
check.eq(select(2, st.close(cf)), "EINTR", "close-fail")
check.eq(st.sockets()[cf], nil, "the descriptor is really gone")
check.eq(select(2, st.close(cf)), "EBADF", "a retried close finds it gone")
-- ... or is cancelled, and the descriptor stays.
apply("close-fail", {every = 1, errno = "EIO", really_close = false})
local cf2 = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
check.eq(select(2, st.close(cf2)), "EIO", "close-fail cancelled")
assert(st.sockets()[cf2], "the descriptor stays open")
reset()
st.close(cf2)

-- flaky: p=1 always, p=0 never; errors from the set; op=all covers socket too.
apply("flaky", {p = 1, errors = "EIO"})
local ff, okf, errf = dial(addr)
check.eq(errf, "EIO", "flaky p=1")
st.close(ff)
apply("flaky", {p = 0})
local f0, ok0 = dial(addr)
check.eq(ok0, true, "flaky p=0")
st.close(f0)
apply("flaky", {op = "all", p = 1, errors = "ENOBUFS"})
check.eq(select(2, st.socket(st.AF_INET, st.SOCK_STREAM)), "ENOBUFS", "flaky op=all")
reset()

-- Recipes combine: refuse one port and slow down the rest.
reset()
require("recipes.refuse")({port = port})
require("recipes.slow-connect")({latency = 0.05, jitter = 0})
local x1, _, ex1 = dial(addr)
check.eq(ex1, "ECONNREFUSED", "combined: refused")
t0 = st.now()
local x2, ox2 = dial(addr2)
check.eq(ox2, true, "combined: the other port connects")
assert(st.now() - t0 >= 0.05, "combined: and slowly")
st.close(x1); st.close(x2)
reset()

-- The data path (SPEC §7): a connection through the switch, client c and the server's side a
-- (non-blocking with nb, so "nothing arrived" is EAGAIN, not a hang).
local function pair(nb)
  local c = assert(dial(addr))
  for _ = 1, 100 do      -- (connections the tests above made wait in the backlog: not those)
    local a = assert(st.accept(lfd, nb and st.SOCK_NONBLOCK or 0))
    if st.getpeername(a) == st.getsockname(c) then return c, a end
    st.close(a)
  end
  error("pair: the connection was not accepted")
end
local function closing(...) for _, s in ipairs({...}) do st.close(s) end end
local function elapsed(f, ...)
  local t = st.now()
  local a, b = f(...)
  return st.now() - t, a, b
end

-- reset after=BYTES: exactly that many get through; then ECONNRESET, later calls as the
-- kernel fails them on a reset socket, and the peer receives a real RST.
apply("reset", {after = 10, dir = "write", port = port})
local c, a = pair()
check.eq(st.write(c, ("x"):rep(6)), 6, "reset: before the limit")
check.eq(st.write(c, ("y"):rep(6)), 4, "reset: the write that crosses it stops there")
check.eq(select(2, st.write(c, "z")), "ECONNRESET", "reset after 10 bytes")
check.eq(select(2, st.write(c, "z")), "EPIPE", "reset: a later write")
local got, peer_err = "", nil
for _ = 1, 5 do
  local d, e = st.read(a, 100)
  if not d or d == "" then peer_err = e or "EOF"; break end
  got = got .. d
end
check.eq(peer_err, "ECONNRESET", "reset: the peer got a RST (after " .. #got .. " bytes)")
closing(c, a)
c, a = pair()
check.eq(st.write(c, ("x"):rep(10)), 10, "reset: per connection, a new one starts from 0")
check.eq(select(2, st.write(c, "z")), "ECONNRESET", "reset: the new connection's 11th byte")
closing(c, a)
apply("reset", {after = 10, port = tonumber(addr2:match(":(%d+)$"))})
c, a = pair()
check.eq(st.write(c, ("x"):rep(20)), 20, "reset: another port is left alone")
closing(c, a)
-- nth=K: the K-th read or write of each connection (that moved data), either side.
apply("reset", {nth = 2})
c, a = pair()
check.eq(st.write(c, "ping"), 4, "reset nth=2: the client's 1st call")
check.eq(st.read(a, 10), "ping", "reset nth=2: the server's 1st call")
check.eq(select(2, st.write(a, "pong")), "ECONNRESET", "reset nth=2: the server's 2nd call")
check.eq(select(2, st.read(c, 10)), "ECONNRESET", "reset nth=2: the client hears the RST")
closing(c, a)

-- short-io: at most max bytes a call; op= picks the direction.
apply("short-io", {max = 3})
c, a = pair()
check.eq(st.write(c, "hello world"), 3, "short-io: a short write")
check.eq(st.read(a, 100), "hel", "short-io: a short read")
apply("short-io", {max = 3, op = "read"})
check.eq(st.write(c, "hello world"), 11, "short-io op=read: writes are whole")
check.eq(st.read(a, 100), "hel", "short-io op=read: reads are short")
closing(c, a)

-- early-eof: after N bytes read, end of stream; nothing is consumed.
apply("early-eof", {after = 5})
c, a = pair()
assert(st.write(c, "hello world"))
check.eq(st.read(a, 100), "hello", "early-eof: up to the limit")
check.eq(st.read(a, 100), "", "early-eof: then end of stream")
check.eq(st.read(a, 100), "", "early-eof: and again")
reset()
check.eq(st.read(a, 100), " world", "early-eof: the rest was still there")
closing(c, a)

-- blackhole: after N bytes written, writes succeed and send nothing.
apply("blackhole", {after = 4})
c, a = pair(true)
check.eq(st.write(c, "abcdef"), 4, "blackhole: up to the limit")
check.eq(st.write(c, "ef"), 2, "blackhole: a write past it reports success")
st.sleep(0.05)
check.eq(st.read(a, 100), "abcd", "blackhole: the peer gets what came before")
check.eq(select(2, st.read(a, 100)), "EAGAIN", "blackhole: and nothing after")
closing(c, a)

-- stall: after N bytes, a blocking read waits `wait` then fails EAGAIN (as with SO_RCVTIMEO);
-- a non-blocking one finds no data (EAGAIN after 0.1 s) though the data is there.
apply("stall", {after = 3, wait = 0.2})
c, a = pair()
assert(st.write(c, "hello"))
check.eq(st.read(a, 100), "hel", "stall: up to the limit")
local waited, d, e = elapsed(st.read, a, 100)
check.eq(e, "EAGAIN", "stall: a blocking read")
assert(waited >= 0.2 and waited < 2, "stall: waited " .. waited)
closing(c, a)
c, a = pair(true)
assert(st.write(c, "hello"))
st.sleep(0.05)
check.eq(st.read(a, 3), "hel", "stall non-blocking: up to the limit")
waited, d, e = elapsed(st.read, a, 100)
check.eq(e, "EAGAIN", "stall: a non-blocking read")
assert(waited >= 0.1 and waited < 1, "stall: paced, not spinning: " .. waited)
reset()
check.eq(st.read(a, 100), "lo", "stall: the data was there all along")
closing(c, a)

-- stall dir=write: the writes stop instead.
apply("stall", {after = 2, dir = "write", wait = 0.1})
c, a = pair()
check.eq(st.write(c, "hello"), 2, "stall dir=write: up to the limit")
waited, d, e = elapsed(st.write, c, "llo")
check.eq(e, "EAGAIN", "stall dir=write: then a write waits and fails")
assert(waited >= 0.1, "stall dir=write: waited " .. waited)
check.eq(st.read(a, 100), "he", "stall dir=write: reads are left alone")
closing(c, a)

-- bandwidth: about size / rate; a call moves at most 20 ms of data.
apply("bandwidth", {rate = "1k"})
c, a = pair()
local sent, t = 0, st.now()
while sent < 300 and st.now() - t < 3 do
  local n = assert(st.write(c, ("b"):rep(300 - sent)))
  assert(n <= 20, "bandwidth: a call moves at most 20 ms of data, moved " .. n)
  sent = sent + n
end
waited = st.now() - t
assert(waited >= 0.25 and waited < 1.5, "bandwidth: 300 bytes at 1 KiB/s took " .. waited)
closing(c, a)
apply("bandwidth", {rate = "1k", dir = "read"})
c, a = pair()
check.eq(st.write(c, ("b"):rep(300)), 300, "bandwidth dir=read: writes are left alone")
closing(c, a)
-- latency: once per turn of the conversation, on the write that starts it.
apply("bandwidth", {rate = "1m", latency = 0.3})
c, a = pair()
check.eq(elapsed(st.write, c, "a") >= 0.3, true, "bandwidth latency: the first write waits")
check.eq(elapsed(st.write, c, "b") < 0.2, true, "bandwidth latency: the next goes on")
assert(st.read(a, 10)); assert(st.write(a, "r"))
assert(st.read(c, 10))
check.eq(elapsed(st.write, c, "c") >= 0.3, true, "bandwidth latency: a write after a read starts a turn")
closing(c, a)

-- udp-loss: on the sending side, datagrams only (TCP left alone), by port.
local function udp(nb)
  local fd = assert(st.socket(st.AF_INET, st.SOCK_DGRAM | (nb and st.SOCK_NONBLOCK or 0)))
  assert(st.bind(fd, "127.0.0.1:0"))
  return fd, st.getsockname(fd)
end
local r, raddr = udp(true)
local r2, raddr2 = udp(true)
local s = udp()
local function arrived(fd)
  local n = 0
  for _ = 1, 100 do
    local data = st.recv(fd, 100)
    if not data then break end
    n = n + 1
  end
  return n
end
apply("udp-loss", {loss = 1, port = tonumber(raddr:match(":(%d+)$"))})
check.eq(st.send(s, "lost", raddr), 4, "udp-loss: a lost datagram's send succeeds")
check.eq(st.send(s, "kept", raddr2), 4, "udp-loss: another port")
c, a = pair()
check.eq(st.write(c, "tcp"), 3, "udp-loss: TCP is left alone")
closing(c, a)
check.eq(arrived(r), 0, "udp-loss loss=1: nothing arrives")
check.eq(arrived(r2), 1, "udp-loss: another port is left alone")
apply("udp-loss", {loss = 0, dup = 1})
for i = 1, 3 do assert(st.send(s, "twice" .. i, raddr)) end
check.eq(arrived(r), 6, "udp-loss dup=1: each arrives twice")
apply("udp-loss", {loss = 0, delay = 0.1})
waited = elapsed(st.send, s, "late", raddr)
assert(waited >= 0.1, "udp-loss delay: the datagram left late")
check.eq(arrived(r), 1, "udp-loss delay: and arrived")
apply("udp-loss", {loss = 0.5})
for _ = 1, 100 do assert(st.send(s, "x", raddr)) end
local n = arrived(r)
assert(n > 25 and n < 75, "udp-loss loss=0.5: " .. n .. " of 100 arrived")
closing(r, r2, s)
reset()

-- Bad options are errors naming the recipe and the option.
check.raises("recipe 'refuse': unknown option 'prot'", require("recipes.refuse"), {prot = 1})
check.raises("recipe 'refuse': option 'errno' must be an errno name", require("recipes.refuse"), {errno = "ENOPE"})
check.raises("recipe 'refuse': give at most one of nth, every, chance", require("recipes.refuse"), {nth = 1, every = 2})
check.raises("recipe 'refuse': option 'type' must be stream %(or tcp%), datagram", require("recipes.refuse"), {type = "dgram"})
check.raises("recipe 'refuse': option 'family' must be inet %(IPv4 and IPv6%)", require("recipes.refuse"), {family = "ipv6"})
check.raises("recipe 'slow%-connect': option 'latency' must be a number of seconds", require("recipes.slow-connect"), {latency = "x"})
check.raises("recipe 'flaky': option 'op' must be a filter type", require("recipes.flaky"), {op = "sned"})
check.raises("recipe 'close%-fail': option 'really_close' must be true or false", require("recipes.close-fail"), {really_close = 3})
check.raises("recipe 'addr%-in%-use': option 'op' must be bind or listen", require("recipes.addr-in-use"), {op = "connect"})
check.raises("recipe 'accept%-emfile': options must be a table", require("recipes.accept-emfile"), 3)
check.raises("recipe 'reset': give after=BYTES or nth=K, not both", require("recipes.reset"), {after = 1, nth = 1})
check.raises("recipe 'reset': every and chance do not apply", require("recipes.reset"), {every = 2})
check.raises("recipe 'reset': option 'after' must be a number of bytes", require("recipes.reset"), {after = "1x"})
check.raises("recipe 'reset': option 'dir' must be read, write or both", require("recipes.reset"), {dir = "up"})
check.raises("recipe 'bandwidth': option 'rate' must be at least 1", require("recipes.bandwidth"), {rate = 0})
check.raises("recipe 'short%-io': option 'max' must be at least 1", require("recipes.short-io"), {max = "0k"})
check.raises("recipe 'stall': nth, every, chance do not apply", require("recipes.stall"), {chance = 0.5})
check.raises("recipe 'udp%-loss': option 'dup' must be a probability", require("recipes.udp-loss"), {dup = 2})
check.raises("recipe 'early%-eof': unknown option 'dir'", require("recipes.early-eof"), {dir = "read"})
local size = require("socktest.recipe").check("t", {a = "64k", b = "1m", c = 5, d = "1.5K"}, {a = "size", b = "size", c = "size", d = "size"})
check.eq(table.concat({size.a, size.b, size.c, size.d}, " "), "65536 1048576 5 1536", "sizes with suffixes")

-- Close exactly what this script opened (the leak check after it must be able to fail).
reset()
for _, s in ipairs({lfd, lfd2}) do assert(st.close(s)) end
