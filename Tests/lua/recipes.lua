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
-- connect-timeout, non-blocking: EINPROGRESS, then SO_ERROR says ETIMEDOUT after the wait.
local fdn, _, errn = dial(addr, st.SOCK_STREAM | st.SOCK_NONBLOCK)
check.eq(errn, "EINPROGRESS", "connect-timeout non-blocking: in progress")
t0 = st.now()
check.eq(st.getsockopt(fdn, st.SOL_SOCKET, st.SO_ERROR), st.errno.ETIMEDOUT, "SO_ERROR reports the timeout")
assert(st.now() - t0 >= 0.1, "getsockopt waited")
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

-- Bad options are errors naming the recipe and the option.
check.raises("recipe 'refuse': unknown option 'prot'", require("recipes.refuse"), {prot = 1})
check.raises("recipe 'refuse': option 'errno' must be an errno name", require("recipes.refuse"), {errno = "ENOPE"})
check.raises("recipe 'refuse': give at most one of nth, every, chance", require("recipes.refuse"), {nth = 1, every = 2})
check.raises("recipe 'slow%-connect': option 'latency' must be a number of seconds", require("recipes.slow-connect"), {latency = "x"})
check.raises("recipe 'flaky': option 'op' must be a filter type", require("recipes.flaky"), {op = "sned"})
check.raises("recipe 'close%-fail': option 'really_close' must be true or false", require("recipes.close-fail"), {really_close = 3})
check.raises("recipe 'addr%-in%-use': option 'op' must be bind or listen", require("recipes.addr-in-use"), {op = "connect"})
check.raises("recipe 'accept%-emfile': options must be a table", require("recipes.accept-emfile"), 3)

-- Close exactly what this script opened (the leak check after it must be able to fail).
reset()
for _, s in ipairs({lfd, lfd2}) do assert(st.close(s)) end
