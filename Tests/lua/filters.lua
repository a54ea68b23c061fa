-- set(): the return contract and the status fields a filter sees.
local check = require("check")
local st = require("socktest")

local lfd, addr = check.listener(st)

-- Cancel with a name or a number; the call does not count.
st.set("socket", function(so)
  check.eq(so.op, "socket", "op")
  check.eq(so.fd, nil, "fd is nil for socket")
  check.eq(so.family, st.AF_INET6, "family")
  check.eq(so.type, st.SOCK_STREAM | st.SOCK_NONBLOCK, "type with flags")
  check.eq(so.protocol, 0, "protocol")
  check.eq(so.cookie, (st.AF_INET6 << 48) | ((st.SOCK_STREAM | st.SOCK_NONBLOCK) << 16), "cookie")
  check.eq(so.err, nil, "err before the call")
  check.eq(tostring(so), "(inet6, stream|0x800, default): syscallerr=<nil>, socketerr=<nil>", "tostring")
  return "EMFILE"
end)
check.eq(select(2, st.socket(st.AF_INET6, st.SOCK_STREAM | st.SOCK_NONBLOCK)), "EMFILE", "cancel by name")
st.set("socket", function() return 24 end)
check.eq(select(2, st.socket(st.AF_INET, st.SOCK_STREAM)), "EMFILE", "cancel by number")
st.set("socket", nil)
check.eq(#st.stats(), 1, "cancelled calls count nothing (only the listener's cookie)")

-- connect sees its address; an after-filter sees the outcome and may rewrite it.
local seen = {}
st.set("connect", function(so)
  seen.addr, seen.fd, seen.op = so.addr, so.fd, so.op
  return function(after)
    seen.err = after.err
    check.eq(after, so, "the after-filter gets the same status object")
    after.err = "ECONNRESET"
  end
end)
local fd = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
local ok, err = st.connect(fd, addr)
check.eq(err, "ECONNRESET", "rewritten outcome")
check.eq(seen.addr, addr, "so.addr")
check.eq(seen.fd, fd, "so.fd")
check.eq(seen.op, "connect", "so.op")

-- A status object kept past its call reads nothing: it reads the call in flight in place,
-- and there is none.
local kept
st.set("connect", function(so) kept = so end)
local kfd = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
assert(st.connect(kfd, addr))
st.set("connect", nil)
assert(st.close(kfd))
check.eq(kept.op, nil, "a kept status object reads nil")
check.eq(kept.fd, nil, "a kept status object reads nil (fd)")
check.eq(tostring(kept), "socktest.status (outside its call)", "a kept status object's text")
local okSet, setErr = pcall(function() kept.err = nil end)
check.eq(okSet, false, "a kept status object cannot be written")
check.eq(tostring(setErr):match("status object used outside its call") ~= nil, true, setErr)
check.eq(seen.err, nil, "the real outcome was success")
check.eq(st.sockets()[fd].err, "ECONNRESET", "rewritten outcome is booked")

-- A real failure rewritten into success.
local refused = check.closed_port(st)
st.set("connect", function() return function(so) if so.err == "ECONNREFUSED" then so.err = nil end end end)
local fd2 = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
check.eq(st.connect(fd2, refused), true, "refusal rewritten to success")
st.set("connect", nil)

-- An after-filter that fails the call: nothing counted, descriptor closed.
st.set("accept", function() return function() return "ECONNABORTED" end end)
local client = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
assert(st.connect(client, addr))
check.eq(select(2, st.accept(lfd)), "ECONNABORTED", "after-filter failure")
st.set("accept", nil)

-- listen sees the backlog; getsockopt its level and option and the socket error.
st.set("listen", function(so) seen.backlog = so.backlog end)
local l2 = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
assert(st.bind(l2, "127.0.0.1:0"))
assert(st.listen(l2, 7))
check.eq(seen.backlog, 7, "so.backlog")
st.set("getsockopt", function(so)
  seen.level, seen.opt = so.level, so.opt
  return function(after) seen.socket_err = after.socket_err; after.socket_err = "ETIMEDOUT" end
end)
check.eq(st.getsockopt(client, st.SOL_SOCKET, st.SO_ERROR), st.errno.ETIMEDOUT, "rewritten SO_ERROR")
check.eq(seen.level, st.SOL_SOCKET, "so.level")
check.eq(seen.opt, st.SO_ERROR, "so.opt")
check.eq(seen.socket_err, nil, "the real socket error")
st.set("getsockopt", nil)

-- close: a cancelled close leaves the socket open.
st.set("close", function(so) if so.fd == fd then return "EINTR" end end)
check.eq(select(2, st.close(fd)), "EINTR", "cancelled close")
check.eq(st.sockets()[fd] ~= nil, true, "still in the table")
st.set("close", nil)

-- bind is a filter type too.
st.set("bind", function(so) if so.addr == "127.0.0.1:1" then return "EADDRINUSE" end end)
local bs = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
check.eq(select(2, st.bind(bs, "127.0.0.1:1")), "EADDRINUSE", "bind filter")
st.set("bind", nil)

-- Calls from inside a filter run unfiltered and are counted.
local inner
st.set("socket", function(so)
  if so.family == st.AF_INET6 then return end
  inner = assert(st.socket(st.AF_INET6, st.SOCK_STREAM))
  assert(st.close(inner))
end)
local outer = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
assert(inner, "the filter's own call ran")
st.set("socket", nil)

-- Close exactly what this script opened: a socket it lost track of stays open and fails the
-- leak check that runs after it (LuaScriptTests).
for _, s in ipairs({lfd, fd, fd2, client, l2, bs, outer}) do assert(st.close(s)) end
