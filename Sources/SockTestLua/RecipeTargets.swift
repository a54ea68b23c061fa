import CLua
import SockTestCore

extension LuaHost {
    /// Recipes' targeting options that no call matched in the whole run ("refuse: port=9"),
    /// from what `socktest.recipe`'s `target` noted: a recipe aimed at the wrong port is not
    /// to be mistaken for a program that survived.
    public var unmatchedTargets: [String] {
        let source = """
            local r = package.loaded["socktest.recipe"]
            if not r then return "" end
            local out = {}
            for _, t in ipairs(r.targets) do
              if not t.matched then
                local opts = {}
                if t.addr then opts[#opts + 1] = "addr=" .. t.addr end
                if t.port then opts[#opts + 1] = "port=" .. t.port end
                if t.family then opts[#opts + 1] = "family=" .. t.family end
                out[#out + 1] = t.recipe .. ": " .. table.concat(opts, ",")
              end
            end
            return table.concat(out, "\\n")
            """
        let text: String = runtime.withLua { rt in
            let L = rt.L
            guard luaL_loadbufferx(L, source, source.utf8.count, "=socktest", "t") == LUA_OK,
                  st_pcall(L, 0, 1) == LUA_OK else {
                st_pop(L, 1)
                return ""
            }
            defer { st_pop(L, 1) }
            return st_tostring(L, -1).map { String(cString: $0) } ?? ""
        }
        return text.split(separator: "\n").map(String.init)
    }

    /// Filter types this host set a filter for.
    public var filterTypesSet: Set<FilterType> { runtime.filtersSet.withLock { $0 } }
}
