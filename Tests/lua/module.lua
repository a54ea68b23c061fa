-- The module: global and require, constants, the two-way errno table, filter types.
local check = require("check")
local st = require("socktest")

check.eq(st, socktest, "require returns the global")
check.eq(st.AF_INET, 2, "AF_INET")
check.eq(st.AF_INET6, 10, "AF_INET6")
check.eq(st.AF_UNIX, 1, "AF_UNIX")
check.eq(st.SOCK_STREAM, 1, "SOCK_STREAM")
check.eq(st.SOCK_DGRAM, 2, "SOCK_DGRAM")
check.eq(st.SOCK_RAW, 3, "SOCK_RAW")
check.eq(st.SOCK_SEQPACKET, 5, "SOCK_SEQPACKET")
check.eq(st.SOCK_NONBLOCK, 0x800, "SOCK_NONBLOCK")
check.eq(st.SOCK_CLOEXEC, 0x80000, "SOCK_CLOEXEC")
check.eq(st.IPPROTO_TCP, 6, "IPPROTO_TCP")
check.eq(st.IPPROTO_UDP, 17, "IPPROTO_UDP")
check.eq(st.SOL_SOCKET, 1, "SOL_SOCKET")
check.eq(st.SO_ERROR, 4, "SO_ERROR")

check.eq(st.errno.ECONNREFUSED, 111, "errno.ECONNREFUSED")
check.eq(st.errno[111], "ECONNREFUSED", "errno[111]")
check.eq(st.errno.EWOULDBLOCK, st.errno.EAGAIN, "alias EWOULDBLOCK")
check.eq(st.errno[11], "EAGAIN", "errno[11] is the canonical name")
local names = 0
for name, value in pairs(st.errno) do
  if type(name) == "string" then
    names = names + 1
    check.eq(st.errno[st.errno[value]], value, "round trip of " .. name)
  end
end
assert(names > 120, "every errno the platform defines: got " .. names)

local types = table.concat(st.filter_types, " ")
check.eq(types, "socket bind connect listen accept getsockopt close read write shutdown", "filter types")
