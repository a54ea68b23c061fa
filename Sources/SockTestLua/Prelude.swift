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

    -- add(type, fn): chains fn after the filters already added for type, so recipes combine.
    -- Each runs in turn: the first to return an errno or a delay decides the call; the
    -- after-filters they return all run, in order, until one returns something. set(type, ...)
    -- replaces the whole chain.
    local chains = {}
    local raw_set = st.set
    local known = {}
    for _, name in ipairs(st.filter_types) do known[name] = true end

    local function check_kind(fname, kind)
      if not known[kind] then
        error(("bad argument #1 to '%s' (unknown filter type '%s' (expected one of: %s))")
          :format(fname, tostring(kind), table.concat(st.filter_types, ", ")), 3)
      end
    end

    function st.set(kind, fn)
      check_kind("set", kind)
      if fn ~= nil and type(fn) ~= "function" then
        error(("bad argument #2 to 'set' (function or nil expected, got %s)"):format(type(fn)), 2)
      end
      chains[kind] = nil
      return raw_set(kind, fn)
    end

    local function run_afters(afters)
      return function(after)
        for i = 1, #afters do
          local r = afters[i](after)
          if r ~= nil then return r end
        end
      end
    end

    function st.add(kind, fn)
      check_kind("add", kind)
      if type(fn) ~= "function" then
        error(("bad argument #2 to 'add' (function expected, got %s)"):format(type(fn)), 2)
      end
      local chain = chains[kind]
      if not chain then
        chain = {}
        raw_set(kind, function(so)
          local afters
          for i = 1, #chain do
            local r = chain[i](so)
            if type(r) == "function" then
              afters = afters or {}
              afters[#afters + 1] = r
            elseif r ~= nil then
              return r
            end
          end
          if afters then return #afters == 1 and afters[1] or run_afters(afters) end
        end)
        chains[kind] = chain
      end
      chain[#chain + 1] = fn
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

      -- Calls f(fd, ...); if it raises (a misuse, such as a malformed address), closes fd
      -- first so nothing leaks, then raises the same error (it already names the script's line).
      local function guarded(fd, f, ...)
        local ok, a, b = pcall(f, fd, ...)
        if not ok then
          st.close(fd)
          error(a, 0)
        end
        return a, b
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
        ok, err = guarded(fd, st.bind, address)
        if ok then ok, err = guarded(fd, st.listen, backlog or 128) end
        if not ok then st.close(fd); return nil, err end
        return setmetatable({fd = fd}, Listener)
      end

      --- dial(network, address): a conn, or nil, "ENAME".
      function net.dial(network, address)
        local family = family_of("dial", network, address)
        local fd, err = st.socket(family, st.SOCK_STREAM, 0)
        if not fd then return nil, err end
        local ok
        ok, err = guarded(fd, st.connect, address)
        if not ok then st.close(fd); return nil, err end
        return setmetatable({fd = fd, remote = address}, Conn)
      end

      return net
    end
    """#

    /// `require("socktest.recipe")`: what every recipe needs — checked options, targeting a call
    /// by address, port or family, and when to fire (nth, every, chance, or always).
    static let preloadRecipe = #"""
    package.preload["socktest.recipe"] = function()
      local st = require("socktest")
      local recipe = {}

      local names = setmetatable({}, {__mode = "k"})   -- checked options -> recipe name
      local family_names = {[st.AF_INET] = "inet4", [st.AF_INET6] = "inet6", [st.AF_UNIX] = "unix"}

      -- Each kind converts a value (an option from the command line arrives as a string,
      -- number or boolean) or returns nil, "what was expected".
      local kinds = {}
      function kinds.errno(v)
        local n = st.errno[v]
        if type(v) == "string" and n then return v end
        if math.type(v) == "integer" and n then return n end
        return nil, "an errno name such as ECONNREFUSED"
      end
      function kinds.errnos(v)
        local list = {}
        for name in tostring(v):gmatch("[^|,%s]+") do
          if not st.errno[name] then return nil, "errno names separated by | (" .. name .. " is not one)" end
          list[#list + 1] = name
        end
        if #list == 0 then return nil, "errno names separated by |" end
        return list
      end
      function kinds.count(v)
        if math.type(v) == "integer" and v >= 1 then return v end
        return nil, "a whole number >= 1"
      end
      function kinds.natural(v)
        if math.type(v) == "integer" and v >= 0 then return v end
        return nil, "a whole number >= 0"
      end
      function kinds.port(v)
        if math.type(v) == "integer" and v >= 0 and v <= 65535 then return v end
        return nil, "a port number (0-65535)"
      end
      function kinds.probability(v)
        if type(v) == "number" and v >= 0 and v <= 1 then return v end
        return nil, "a probability within 0-1"
      end
      function kinds.seconds(v)
        if type(v) == "number" and v >= 0 and v <= 3600 then return v end
        return nil, "a number of seconds within 0-3600"
      end
      function kinds.address(v)
        if type(v) == "string" and (v:find("^[%d.]+:%d+$") or v:find("^%[.*%]:%d+$") or v:find("^[/@]")) then return v end
        return nil, "HOST:PORT, [HOST]:PORT or a unix path"
      end
      function kinds.op(v)
        if v == "all" then return v end
        for _, name in ipairs(st.filter_types) do if v == name then return v end end
        return nil, "a filter type (" .. table.concat(st.filter_types, ", ") .. ") or all"
      end
      function kinds.boolean(v)
        if type(v) == "boolean" then return v end
        return nil, "true or false"
      end

      -- ---- Which kind of socket a recipe aims at (issue 15) ----------------------------------
      -- By default TCP over IPv4 or IPv6: what a user means by "connections". The UDP and unix
      -- sockets a program's libraries use on their own (glibc's DNS lookups, nscd and
      -- systemd-userdb, Go's address sorting) are left alone unless family= or type= aim there;
      -- "any" lifts either limit. A family is a number (AF_*) or "inet"/"any"; a type SOCK_* or "any".
      local families = {inet = "inet", inet4 = st.AF_INET, inet6 = st.AF_INET6, unix = st.AF_UNIX, any = "any"}
      local socket_types = {stream = st.SOCK_STREAM, tcp = st.SOCK_STREAM, datagram = st.SOCK_DGRAM,
                            udp = st.SOCK_DGRAM, seqpacket = st.SOCK_SEQPACKET, raw = st.SOCK_RAW, any = "any"}
      function kinds.family(v)
        if families[v] then return families[v] end
        return nil, "inet (IPv4 and IPv6), inet4, inet6, unix or any"
      end
      function kinds.socktype(v)
        if socket_types[v] then return socket_types[v] end
        return nil, "stream (or tcp), datagram (or udp), seqpacket, raw or any"
      end

      --- A predicate on a status (or a `st.sockets()` entry): is the socket of the family and
      --- type opts aim at (default: inet stream)?
      function recipe.kind(opts)
        local family, socktype = opts.family or "inet", opts.type or st.SOCK_STREAM
        return function(so)
          local f = so.family
          if family == "inet" then
            if f ~= st.AF_INET and f ~= st.AF_INET6 then return false end
          elseif family ~= "any" and f ~= family then
            return false
          end
          return socktype == "any" or so.type & 0xf == socktype   -- 0xf: the type without its flags
        end
      end
      -- ---------------------------------------------------------------------------------------

      --- Targeting and trigger options every recipe accepts.
      recipe.common = {addr = "address", port = "port", family = "family", type = "socktype",
                       nth = "count", every = "count", chance = "probability"}

      --- check(name, opts, schema, defaults): opts validated against schema (option → kind) plus
      --- the common options, defaults filled in. Errors name the recipe and the option.
      function recipe.check(name, opts, schema, defaults)
        if opts == nil then opts = {} end
        if type(opts) ~= "table" then
          error(("recipe '%s': options must be a table, got %s"):format(name, type(opts)), 3)
        end
        local all = {}
        for k, v in pairs(recipe.common) do all[k] = v end
        for k, v in pairs(schema) do all[k] = v end
        local out = {}
        for k, v in pairs(opts) do
          local kind = all[k]
          if not kind then
            local names = {}
            for n in pairs(all) do names[#names + 1] = n end
            table.sort(names)
            error(("recipe '%s': unknown option '%s' (known: %s)"):format(name, tostring(k), table.concat(names, ", ")), 3)
          end
          local value, expected = kinds[kind](v)
          if value == nil then
            error(("recipe '%s': option '%s' must be %s, got %s"):format(name, k, expected, tostring(v)), 3)
          end
          out[k] = value
        end
        local triggers = (out.nth and 1 or 0) + (out.every and 1 or 0) + (out.chance and 1 or 0)
        if triggers > 1 then
          error(("recipe '%s': give at most one of nth, every, chance"):format(name), 3)
        end
        for k, v in pairs(defaults or {}) do if out[k] == nil then out[k] = v end end
        names[out] = name
        return out
      end

      -- Each recipe's targeting options (addr, port, family) and whether any call matched
      -- them: the run's report warns about those that matched none (LuaHost.unmatchedTargets).
      recipe.targets = {}

      local function port_of(addr) return addr and tonumber(addr:match(":(%d+)$")) end

      --- A predicate on the status: does the call match the kind (family, type), addr and
      --- port? connect and bind match their address; accept, listen and others the socket's own.
      function recipe.target(opts)
        local of_kind = recipe.kind(opts)
        local entry
        if opts.addr or opts.port or (opts.family and opts.family ~= "any" and opts.family ~= "inet") then
          entry = {recipe = names[opts] or "recipe", addr = opts.addr, port = opts.port,
                   family = opts.family and (family_names[opts.family] or opts.family), matched = false}
          recipe.targets[#recipe.targets + 1] = entry
        end
        return function(so)
          if not of_kind(so) then return false end
          if opts.addr or opts.port then
            local addr = so.addr
            if so.op ~= "connect" and so.op ~= "bind" then addr = so.local_addr end   -- a program's too
            if opts.addr and addr ~= opts.addr then return false end
            if opts.port and port_of(addr) ~= opts.port then return false end
          end
          if entry then entry.matched = true end
          return true
        end
      end

      --- When to fire among matching calls: nth, every, chance, or (default) always.
      function recipe.trigger(opts)
        if opts.nth then return st.nth(opts.nth) end
        if opts.every then return st.every(opts.every) end
        if opts.chance then return st.chance(opts.chance) end
        return function() return true end
      end

      --- The usual shape: fire(so) is true for matching calls when the trigger says so.
      function recipe.when(opts)
        local matches, trigger = recipe.target(opts), recipe.trigger(opts)
        return function(so) return matches(so) and trigger() end
      end

      return recipe
    end
    """#
}
