-- The switch's calls: results, nil + "ENAME" on failure, errors on misuse, stats and sockets.
local check = require("check")
local st = require("socktest")

local lfd, addr = check.listener(st)
check.match(addr, "^127%.0%.0%.1:%d+$", "listener address")

local fd = assert(st.socket(st.AF_INET, st.SOCK_STREAM, st.IPPROTO_TCP))
check.eq(st.connect(fd, addr), true, "connect")
local conn, peer = st.accept(lfd)
assert(conn, peer)
check.eq(peer, st.getsockname(fd), "accept's peer is the client")
check.eq(st.getpeername(fd), addr, "getpeername")
check.eq(st.getsockopt(fd, st.SOL_SOCKET, st.SO_ERROR), 0, "SO_ERROR")

-- Operational failures: nil, "ENAME".
local refused = check.closed_port(st)
local fd2 = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
local ok, err = st.connect(fd2, refused)
check.eq(ok, nil, "refused connect")
check.eq(err, "ECONNREFUSED", "refused connect's error")
check.eq(select(2, st.socket(9999, st.SOCK_STREAM)), "EAFNOSUPPORT", "bad family")
check.eq(select(2, st.accept(fd2)), "EINVAL", "accept on a non-listener")
check.eq(select(2, st.close(987654)), "EBADF", "close of a bad fd")

-- Misuse raises, lauxlib style.
check.raises("bad argument #1 to 'connect' %(integer expected, got string%)", st.connect, "x", addr)
check.raises("bad argument #2 to 'connect' %(invalid address 'nowhere'", st.connect, fd2, "nowhere")
check.raises("bad argument #1 to 'socket' %(number has no integer representation%)", st.socket, 1.5, 1)
check.raises("bad argument #2 to 'bind' %(string expected, got no value%)", st.bind, fd2)

-- The table and the statistics, in Go's socktest text forms.
local sockets = st.sockets()
-- fd2's last call was the accept that failed with EINVAL.
check.eq(tostring(sockets[fd2]), "(inet4, stream, default): syscallerr=invalid argument, socketerr=<nil>", "socket status")
check.eq(sockets[fd2].err, "EINVAL", "the table keeps the last outcome")
check.eq(sockets[conn].protocol, 0, "accepted socket has the listener's cookie")
for _, s in ipairs({fd, fd2, conn, lfd}) do assert(st.close(s)) end
check.eq(next(st.sockets()), nil, "closing empties the table")

local text = {}
for _, stat in ipairs(st.stats()) do text[#text + 1] = tostring(stat) end
check.eq(text[1], "(inet4, stream, default): opened=3, connected=0, listened=2, accepted=1, closed=4, "
  .. "openfailed=0, connectfailed=1, listenfailed=0, acceptfailed=1, closefailed=0", "stat text")
check.eq(text[2], "(inet4, stream, tcp): opened=1, connected=2, listened=0, accepted=0, closed=1, "
  .. "openfailed=0, connectfailed=0, listenfailed=0, acceptfailed=0, closefailed=0", "stat text (tcp)")
check.eq(st.stats()[1].connectfailed, 1, "stat fields")
