-- Assertions for the Lua-level tests: each names what differed and where.
local check = {}

function check.eq(got, want, what)
  if got ~= want then
    error(("%s: expected %s, got %s"):format(what or "value", tostring(want), tostring(got)), 2)
  end
end

function check.match(text, pattern, what)
  if type(text) ~= "string" or not text:find(pattern) then
    error(("%s: %q does not match %q"):format(what or "text", tostring(text), pattern), 2)
  end
end

--- Calls f(...) expecting an error whose message matches pattern.
function check.raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  if ok then error(("expected an error matching %q, got none"):format(pattern), 2) end
  if not tostring(err):find(pattern) then
    error(("error %q does not match %q"):format(tostring(err), pattern), 2)
  end
end

--- A listening TCP socket on 127.0.0.1 (made without filters in the way) and its address.
function check.listener(st)
  local fd = assert(st.socket(st.AF_INET, st.SOCK_STREAM))
  assert(st.bind(fd, "127.0.0.1:0"))
  assert(st.listen(fd, 16))
  return fd, assert(st.getsockname(fd))
end

--- An address on 127.0.0.1 where nothing listens.
function check.closed_port(st)
  local fd, addr = check.listener(st)
  assert(st.close(fd))
  return addr
end

return check
