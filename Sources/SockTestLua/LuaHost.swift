import CLua
import SockTestCore

/// Runs Lua scripts whose filters apply to a `Switch`.
///
/// ```swift
/// let sw = Switch()
/// let host = try LuaHost(switch: sw, seed: 42)
/// try host.load(string: #"socktest.set("connect", function() return "ECONNREFUSED" end)"#, name: "refuse.lua")
/// // Code under test calling sw.connect(...) now gets ECONNREFUSED.
/// ```
///
/// Any thread may call the switch while scripts are loaded; filters run one at a time in the
/// host's Lua state, and never hold it while a call blocks or a delay waits. Errors inside
/// filters do not throw here: they fail the call (ECANCELED) and are collected in `scriptErrors`.
/// Closing the host (or releasing it) removes its filters from the switch.
public final class LuaHost: Sendable {
    /// Bounds on what a script may do.
    public struct Limits: Sendable {
        /// Lua instructions one filter or after-filter call may run (an endless loop stops here).
        public var instructionsPerFilter: Int64 = 10_000_000
        /// Bytes the Lua state may hold (allocations beyond fail with an error in the script).
        public var memoryBytes = 64 << 20
        public init() {}
    }

    let runtime: LuaRuntime
    public let sw: Switch

    /// Creates a Lua state with the `socktest` module bound to `sw`, in the sandbox
    /// (`Allowances` says what `allow` may add). `seed` seeds `socktest.random` and
    /// `socktest.chance`. `modulePaths` are the folders `require` searches (as `folder/?.lua`):
    /// nothing else is.
    public init(switch sw: Switch, seed: UInt64 = 0, limits: Limits = Limits(), modulePaths: [String] = [],
                allow: Allowances = []) throws(LuaError) {
        self.sw = sw
        runtime = try LuaRuntime(switch: sw, seed: seed, limits: limits, allow: allow)
        runtime.setModulePath(modulePaths.map { $0 + "/?.lua" })
    }

    deinit { close() }

    /// Loads and runs a script file (its top-level code sets filters and may drive a workload).
    public func load(file path: String) throws(LuaError) { try runtime.run(file: path) }

    /// Loads and runs a script from a string; `name` appears in error messages ("name:12: ...").
    public func load(string source: String, name: String = "script") throws(LuaError) {
        try runtime.run(source: source, chunkName: "@" + name)
    }

    /// Compiles a script file without running it: syntax errors throw, with file and line.
    public func compile(file path: String) throws(LuaError) { try runtime.compile(file: path) }

    /// Applies the recipe file at `path` as module `module` ("recipes.NAME"): runs it, makes it
    /// what `require(module)` returns, and calls the function it returned with `options`.
    public func apply(recipe module: String, path: String, options: [(String, LuaValue)] = []) throws(LuaError) {
        try runtime.callRecipe(module, path: path, options: options)
    }

    /// Errors raised inside filters so far, each with file, line and traceback: the first
    /// `LuaRuntime.keptErrors` of them (the rest are only counted, in `scriptErrorCount`).
    public var scriptErrors: [String] { runtime.errors.withLock { $0.kept } }
    /// How many errors were raised inside filters, kept or not.
    public var scriptErrorCount: Int { runtime.errors.withLock { $0.total } }

    /// For a watchdog: whether Lua code holds the state without returning, and a way to stop it.
    public var monitor: HoldMonitor { runtime.monitor }

    /// Per filter type: calls seen, failed, delayed, rewritten, and script errors.
    public var filterCounts: [FilterType: FilterCounts] {
        let seen = runtime.withLua { $0.seen }
        return runtime.counts.withLock { counts in
            Dictionary(uniqueKeysWithValues: FilterType.allCases.map { type in
                var counts = counts[type.rawValue]
                counts.seen = seen[type.rawValue]
                return (type, counts)
            })
        }
    }

    /// Bytes the Lua state holds now, and at most so far.
    public var memoryInUse: Int { runtime.memoryInUse }
    public var peakMemory: Int { runtime.peakMemory }

    /// Removes this host's filters from the switch. Calls already inside a filter finish; the Lua
    /// state is freed when the last of them has.
    public func close() {
        for type in runtime.filtersSet.withLock({ $0 }) { sw.set(type, nil) }
    }
}

/// A simple Lua value, for options handed to scripts.
public enum LuaValue: Sendable, Equatable {
    case integer(Int64)
    case number(Double)
    case boolean(Bool)
    case string(String)

    /// "12" → integer, "0.5" → number, "true"/"false" → boolean, anything else → string.
    public init(parsing text: String) {
        if let v = Int64(text) { self = .integer(v) }
        else if let v = Double(text), !text.isEmpty, text.allSatisfy({ "0123456789.eE+-".contains($0) }) { self = .number(v) }
        else if text == "true" || text == "false" { self = .boolean(text == "true") }
        else { self = .string(text) }
    }
}
