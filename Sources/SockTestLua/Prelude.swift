/// The parts of the `socktest` module written in Lua, over its Swift functions.
enum Prelude {
    /// nth, every, once, chance: predicates for recipes. Each call of the predicate counts one
    /// occurrence and says whether the fault fires. Filters run one at a time under the guard,
    /// so the counters need no lock.
    static let helpers = #"""
    local st = socktest

    local function count_arg(name, n)
      if math.type(n) ~= "integer" or n < 1 then
        error(("bad argument #1 to '%s' (positive integer expected, got %s)"):format(name, tostring(n)), 3)
      end
    end

    function st.nth(n)
      count_arg("nth", n)
      local seen = 0
      return function() seen = seen + 1; return seen == n end
    end

    function st.every(n)
      count_arg("every", n)
      local seen = 0
      return function() seen = seen + 1; return seen % n == 0 end
    end

    function st.once()
      local fired = false
      return function() if fired then return false end; fired = true; return true end
    end

    function st.chance(p)
      if type(p) ~= "number" or p < 0 or p > 1 then
        error(("bad argument #1 to 'chance' (probability within 0-1 expected, got %s)"):format(tostring(p)), 2)
      end
      local random = st.random
      return function() return random() < p end
    end
    """#

    /// `require("socktest.net")`: listeners and connections over the switch's calls, so the
    /// script's filters apply to them.
    static let preloadNet = #"""
    package.preload["socktest.net"] = function()
      local st = require("socktest")
      local net = {}

      local function family_of(fname, network, address)
        if type(address) ~= "string" then
          error(("bad argument #2 to '%s' (address string expected, got %s)"):format(fname, type(address)), 3)
        end
        if network == "tcp4" then return st.AF_INET end
        if network == "tcp6" then return st.AF_INET6 end
        if network == "unix" then return st.AF_UNIX end
        if network ~= "tcp" then
          error(("bad argument #1 to '%s' (unknown network '%s': expected tcp, tcp4, tcp6 or unix)")
            :format(fname, tostring(network)), 3)
        end
        return address:sub(1, 1) == "[" and st.AF_INET6 or st.AF_INET
      end

      local Conn = {__name = "socktest.net.conn"}
      Conn.__index = Conn

      function Conn:__tostring()
        return ("socktest.net.conn(%s)"):format(self.fd and tostring(self.remote) or "closed")
      end

      --- Up to n bytes (default 4096); nil, "EOF" at the end of the stream; nil, "ENAME" on error.
      function Conn:read(n)
        if not self.fd then return nil, "EBADF" end
        local data, err = st.read(self.fd, n or 4096)
        if data == "" then return nil, "EOF" end
        return data, err
      end

      --- Writes all of s; returns #s, or nil, "ENAME".
      function Conn:write(s)
        if not self.fd then return nil, "EBADF" end
        local sent = 0
        while sent < #s do
          local n, err = st.write(self.fd, s:sub(sent + 1))
          if not n then return nil, err end
          sent = sent + n
        end
        return sent
      end

      function Conn:close()
        local fd = self.fd
        if not fd then return nil, "EBADF" end
        self.fd = nil
        return st.close(fd)
      end

      function Conn:local_addr() return st.getsockname(self.fd or -1) end
      function Conn:remote_addr() return self.remote end
      function Conn:fileno() return self.fd end

      local Listener = {__name = "socktest.net.listener"}
      Listener.__index = Listener

      function Listener:__tostring()
        return ("socktest.net.listener(%s)"):format(self.fd and tostring(self:addr()) or "closed")
      end

      --- The next connection: a conn, or nil, "ENAME".
      function Listener:accept()
        if not self.fd then return nil, "EBADF" end
        local fd, peer = st.accept(self.fd)
        if not fd then return nil, peer end
        return setmetatable({fd = fd, remote = peer}, Conn)
      end

      function Listener:addr() return st.getsockname(self.fd or -1) end
      Listener.close = Conn.close
      Listener.fileno = Conn.fileno

      --- listen(network, address [, backlog]): a listener, or nil, "ENAME".
      function net.listen(network, address, backlog)
        local family = family_of("listen", network, address)
        local fd, err = st.socket(family, st.SOCK_STREAM, 0)
        if not fd then return nil, err end
        local ok
        ok, err = st.bind(fd, address)
        if ok then ok, err = st.listen(fd, backlog or 128) end
        if not ok then st.close(fd); return nil, err end
        return setmetatable({fd = fd}, Listener)
      end

      --- dial(network, address): a conn, or nil, "ENAME".
      function net.dial(network, address)
        local family = family_of("dial", network, address)
        local fd, err = st.socket(family, st.SOCK_STREAM, 0)
        if not fd then return nil, err end
        local ok
        ok, err = st.connect(fd, address)
        if not ok then st.close(fd); return nil, err end
        return setmetatable({fd = fd, remote = address}, Conn)
      end

      return net
    end
    """#
}
