import CLua
import Synchronization
import Glibc
import SockTestCore

typealias LuaState = OpaquePointer

/// One Lua state bound to a switch, and everything that must be touched only under its guard.
///
/// Rules kept here, for every path into Lua:
/// - Lua runs only under `lua_pcall` (`st_pcall`, with a traceback handler); errors come back as
///   status codes, never as a longjmp through Swift.
/// - Swift calls Lua API functions that raise only on memory errors, and only while the capped
///   allocator is not enforcing (see `shim.h`), so they cannot raise at all.
/// - Swift reached from Lua (bindings) reports errors by returning `ST_RAISE`; the C trampoline
///   raises them after the Swift frame is gone.
final class LuaRuntime: @unchecked Sendable {
    let sw: Switch
    let limits: LuaHost.Limits
    let guardLock = LuaGuard(spinning: true)
    /// The script's main thread; runs top-level chunks.
    let L: LuaState
    /// A thread for the host's own bookkeeping (making slots, reading function origins); never
    /// suspended inside a binding, unlike `L`.
    private let service: LuaState
    /// The watchdog's view, and the allocator's memory (`monitor.shared`).
    let monitor: HoldMonitor
    private var alloc: UnsafeMutablePointer<st_alloc_state> { monitor.shared }

    /// What only the guard's holder touches. Out of line, so an access costs no dynamic
    /// exclusivity check: the guard is the check.
    private struct Guarded {
        /// The slot returned last: the next call takes it back without touching `free`.
        var idle: Slot?
        /// The other free slots (filters running on several threads at once, or after-filters
        /// pending).
        var free: [Slot] = []
        var random: SplitMix64
        /// Calls seen per filter type: every filter call takes the guard anyway, so counting
        /// here costs no second lock.
        var seen = Array(repeating: 0, count: FilterType.allCases.count)
    }
    private let guarded: UnsafeMutablePointer<Guarded>
    /// Registry references dropped by Swift objects (`LuaRef.deinit`) on any thread, released
    /// the next time someone holds the guard.
    private let droppedRefs = Locked<[Int32]>([])
    /// How many references wait in `droppedRefs`: lets the common case skip its lock.
    private let droppedCount = Atomic<Int>(0)

    /// Script errors: the first `keptErrors` in full, then only counted, so a flood of them
    /// cannot make the tool hold memory without bound.
    let errors = Locked<(kept: [String], total: Int)>(([], 0))
    static let keptErrors = 20
    /// Set (guard held) while lua_close runs the script's finalizers: bindings refuse then.
    private(set) var isClosing = false
    /// Per filter type, all but `seen`.
    let counts = Locked<[FilterCounts]>(Array(repeating: FilterCounts(), count: FilterType.allCases.count))
    /// Filter types this host has set on the switch; cleared from it when the host closes.
    let filtersSet = Locked<Set<FilterType>>([])

    init(switch sw: Switch, seed: UInt64, limits: LuaHost.Limits, allow: Allowances) throws(LuaError) {
        self.sw = sw
        self.limits = limits
        guarded = .allocate(capacity: 1)
        guarded.initialize(to: Guarded(random: SplitMix64(seed: seed)))
        monitor = HoldMonitor(memoryLimit: limits.memoryBytes)
        guard let L = st_newstate(monitor.shared) else {
            guarded.deinitialize(count: 1)
            guarded.deallocate()
            throw LuaError("cannot create a Lua state")
        }
        self.L = L
        st_install_hook(L)                          // before any thread exists: all inherit it
        Sandbox.openLibraries(L, allow)
        service = lua_newthread(L)
        _ = luaL_ref(L, st_registryindex())      // anchor the service thread
        try SocktestModule.install(self, allow: allow)
    }

    deinit {
        // Finalizers run now: within a filter's budget and the memory cap, and with bindings
        // refusing (a finalizer that sets a filter would hand the switch this dying object).
        lock()
        isClosing = true
        _ = st_setbudget(L, limits.instructionsPerFilter)
        alloc.pointee.enforce = 1
        lua_close(L)
        unlock()
        guarded.deinitialize(count: 1)
        guarded.deallocate()
    }

    var context: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ context: UnsafeMutableRawPointer?) -> LuaRuntime {
        Unmanaged<LuaRuntime>.fromOpaque(context!).takeUnretainedValue()
    }

    var memoryInUse: Int { withLua { _ in Int(alloc.pointee.used) } }
    var peakMemory: Int { withLua { _ in Int(alloc.pointee.peak) } }

    // MARK: - The guard

    @inline(__always)
    private func lock() {
        guardLock.lock()
        monitor.countHold()
    }

    @inline(__always)
    private func unlock() {
        monitor.countHold()
        guardLock.unlock()
    }

    /// Runs `body` holding the guard.
    func withLua<R>(_ body: (LuaRuntime) throws(LuaError) -> R) throws(LuaError) -> R {
        lock()
        defer { unlock() }
        releaseDroppedRefs()
        return try body(self)
    }

    func withLua<R>(_ body: (LuaRuntime) -> R) -> R {
        lock()
        defer { unlock() }
        releaseDroppedRefs()
        return body(self)
    }

    /// From a binding (guard held): lets the guard go around `body`, which may block. The
    /// running budget and activity are this thread's again once it has the guard back.
    func unlocked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        Waiting.willWait()
        let budget = st_currentbudget(L), doing = monitor.doing.load(ordering: .relaxed)
        unlock()
        defer {
            lock()
            st_restorebudget(L, budget)
            monitor.doing.store(doing, ordering: .relaxed)
        }
        return try body()
    }


    /// The run's seeded generator: a number in [0, 1). Guard held.
    func nextRandom() -> Double { guarded.pointee.random.nextUnit() }

    /// Calls seen per filter type. Guard held.
    var seen: [Int] { guarded.pointee.seen }

    /// Counts a call seen by the filter of `type`. Guard held.
    func see(_ type: FilterType) { guarded.pointee.seen[type.rawValue] += 1 }

    /// Makes `templates` ("dir/?.lua") the whole of `package.path`: a script finds modules in
    /// its own folder and the recipe path, not in the system's Lua folders.
    func setModulePath(_ templates: [String]) {
        withLua { rt in
            lua_getglobal(rt.L, "package")
            lua_pushstring(rt.L, templates.joined(separator: ";"))
            lua_setfield(rt.L, -2, "path")
            st_pop(rt.L, 1)
        }
    }

    // MARK: - Running chunks

    /// Loads and runs a chunk on the main thread without an instruction budget (the watchdog
    /// stops one that does not return).
    func run(source: String, chunkName: String) throws(LuaError) {
        try withLua { rt throws(LuaError) in
            try rt.load(Array(source.utf8), chunkName: chunkName)
            try rt.call(nargs: 0, nresults: 0, what: "script")
        }
    }

    func run(file path: String) throws(LuaError) {
        try withLua { rt throws(LuaError) in
            try rt.load(file: path)
            try rt.call(nargs: 0, nresults: 0, what: "script")
        }
    }

    /// Compiles a file without running it.
    func compile(file path: String) throws(LuaError) {
        try withLua { rt throws(LuaError) in
            try rt.load(file: path)
            st_pop(rt.L, 1)
        }
    }

    /// Runs one of the module's own chunks with the arguments `pushArguments` pushes (it
    /// returns their number).
    func runChunk(_ source: String, name: String, _ pushArguments: () throws(LuaError) -> Int32) throws(LuaError) {
        try withLua { rt throws(LuaError) in
            try rt.load(Array(source.utf8), chunkName: name)
            try rt.call(nargs: try pushArguments(), nresults: 0, what: name)
        }
    }

    /// Pushes the compiled chunk of a source file (a regular file, never waited on). Guard held.
    private func load(file path: String) throws(LuaError) {
        let source: [UInt8]
        do throws(SourceFile.Failure) {
            source = try SourceFile.read(path)
        } catch {
            throw LuaError(error.message)
        }
        try load(source, chunkName: "@" + path)
    }

    /// Pushes a chunk compiled from source (binary chunks refused). Guard held.
    func load(_ source: [UInt8], chunkName: String) throws(LuaError) {
        let status = source.withUnsafeBytes { raw in
            luaL_loadbufferx(L, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, chunkName, "t")
        }
        try finish(L, status, what: chunkName)
    }

    /// Calls the function below `nargs` arguments on the main thread, without a budget (the
    /// script's top level: it may drive a long workload). Guard held.
    func call(nargs: Int32, nresults: Int32, what: String) throws(LuaError) {
        let previous = st_setbudget(L, -1)
        monitor.doing.store(0, ordering: .relaxed)
        defer { st_restorebudget(L, previous) }
        try finish(L, st_pcall(L, nargs, nresults), what: what)
    }

    /// Runs the recipe file at `path` as module `module` (so a script's `require(module)` gets
    /// the same one), then calls the function it returns with `options`.
    func callRecipe(_ module: String, path: String, options: [(String, LuaValue)]) throws(LuaError) {
        try withLua { rt throws(LuaError) in
            let L = rt.L
            try rt.load(file: path)
            lua_pushstring(L, module)
            lua_pushstring(L, path)
            try rt.call(nargs: 2, nresults: 1, what: module)
            // package.loaded[module] = recipe, raw: a script may have given package.loaded a
            // __newindex, whose error would longjmp through this Swift frame.
            lua_getfield(L, st_registryindex(), LUA_LOADED_TABLE)
            lua_pushstring(L, module)
            lua_pushvalue(L, -3)
            lua_rawset(L, -3)
            st_pop(L, 1)
            guard st_isfunction(L, -1) != 0 else {
                let got = String(cString: st_typename(L, -1))
                st_pop(L, 1)
                throw LuaError("module '\(module)' returned a \(got), expected a function of an options table")
            }
            lua_createtable(L, 0, Int32(options.count))
            for (key, value) in options {
                switch value {
                case .integer(let v): lua_pushinteger(L, v)
                case .number(let v): lua_pushnumber(L, v)
                case .boolean(let v): lua_pushboolean(L, v ? 1 : 0)
                case .string(let v): lua_pushstring(L, v)
                }
                lua_setfield(L, -2, key)
            }
            try rt.call(nargs: 1, nresults: 0, what: module)
        }
    }

    /// Turns a non-OK status into a LuaError with the message on top of `thread`'s stack.
    private func finish(_ thread: LuaState, _ status: Int32, what: String) throws(LuaError) {
        guard status != LUA_OK else { return }
        throw LuaError(popError(thread, status, origin: what))
    }

    /// Pops the error object of a failed call and says what it was.
    func popError(_ thread: LuaState, _ status: Int32, origin: String) -> String {
        defer { st_pop(thread, 1) }
        if status == LUA_ERRMEM {
            st_gc_collect(thread)
            return "\(origin): ran out of memory (the script may use \(limits.memoryBytes >> 20) MiB)"
        }
        if lua_type(thread, -1) == LUA_TSTRING, let text = st_tostring(thread, -1) {
            return String(cString: text)
        }
        return "\(origin): error object is a \(String(cString: st_typename(thread, -1)))"
    }

    func record(scriptError message: String) {
        errors.withLock { errors in
            if errors.kept.count < Self.keptErrors { errors.kept.append(message) }
            errors.total += 1
        }
    }

    // MARK: - Slots: a Lua thread and a status object per call in flight

    /// A free slot, or a new one. Guard held.
    func checkoutSlot() -> Slot {
        let g = guarded
        if let slot = g.pointee.idle.take() { return slot }
        if let slot = g.pointee.free.popLast() { return slot }
        let thread = lua_newthread(service)!
        _ = luaL_ref(service, st_registryindex())           // anchors the thread, and its stack:
        st_push_traceback_handler(thread)                   // index 1, for good
        let status = StatusObject.push(thread)              // index 2, for good
        return Slot(thread: thread, status: status)
    }

    /// Returns a slot; its status object reads as nil until the next call. Guard held.
    func checkin(_ slot: Slot) {
        slot.status.pointee.call = nil
        let g = guarded
        if g.pointee.idle == nil { g.pointee.idle = slot } else { g.pointee.free.append(slot) }
    }

    // MARK: - References to Lua values held by Swift

    /// Anchors the value on top of `thread` in the registry (popping it).
    func ref(_ thread: LuaState) -> LuaRef {
        LuaRef(runtime: self, ref: luaL_ref(thread, st_registryindex()))
    }

    func push(_ ref: LuaRef, on thread: LuaState) {
        lua_rawgeti(thread, st_registryindex(), lua_Integer(ref.ref))
    }

    /// From any thread, guard held or not: the reference is released under the guard later.
    func drop(_ ref: Int32) {
        droppedRefs.withLock { $0.append(ref) }
        droppedCount.add(1, ordering: .releasing)
    }

    @inline(__always)
    private func releaseDroppedRefs() {
        if droppedCount.load(ordering: .acquiring) > 0 { releaseDroppedRefsNow() }
    }

    private func releaseDroppedRefsNow() {
        let refs = droppedRefs.withLock { refs in
            droppedCount.subtract(refs.count, ordering: .relaxed)
            defer { refs.removeAll() }
            return refs
        }
        for ref in refs { luaL_unref(service, st_registryindex(), ref) }
    }

    /// "script.lua:12" for a function held by Swift: looked up when an error needs it, not
    /// when the function is anchored. Guard held.
    func origin(of function: LuaRef) -> String {
        push(function, on: service)
        return origin(poppingFrom: service)
    }

    /// "script.lua:12" for the function on top of `thread`, which it pops. Guard held.
    func origin(poppingFrom thread: LuaState) -> String {
        var ar = lua_Debug()
        guard lua_getinfo(thread, ">S", &ar) != 0 else { return "?" }
        let source = withUnsafeBytes(of: ar.short_src) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return "\(source):\(ar.linedefined)"
    }
}

/// One call in flight through a Lua filter: its Lua thread, and the status object the filter
/// sees (a userdata that reads the caller's `Call` in place). Immutable: what changes per call
/// lives in the status object's memory.
final class Slot: @unchecked Sendable {
    /// The thread: the traceback handler at index 1 of its stack, the status object at 2, and
    /// while an after-filter is pending, its function at 3.
    let thread: LuaState
    /// The status object's memory (owned by Lua, anchored on the thread's stack).
    let status: UnsafeMutablePointer<StatusObject.Target>

    static let handlerIndex: Int32 = 1
    static let statusIndex: Int32 = 2
    static let afterIndex: Int32 = 3

    init(thread: LuaState, status: UnsafeMutablePointer<StatusObject.Target>) {
        self.thread = thread
        self.status = status
    }
}

/// A Lua value anchored in the registry for as long as Swift holds this object.
final class LuaRef: @unchecked Sendable {
    let runtime: LuaRuntime
    let ref: Int32

    init(runtime: LuaRuntime, ref: Int32) {
        self.runtime = runtime
        self.ref = ref
    }

    deinit { runtime.drop(ref) }
}

/// The run's generator: SplitMix64, so the same seed gives the same decisions.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
