import Foundation
import SockTestCore
import SockTestLua
import SockTestRunner

/// The in-process cases: raw calls, the switch without filters, with a no-op Swift filter, with a
/// Lua filter on every call type (and the two floors under it, `LuaFloor`), with an after-filter
/// on every call type, and two threads at once.
enum InProcess {
    static let stream = Int32(SOCK_STREAM.rawValue)

    /// One way of making the calls of a workload.
    struct Calls: @unchecked Sendable {
        let listen: () -> (Int32, SocketAddress)
        let socket: () -> Int32
        let connect: (Int32, SocketAddress) -> Void
        let accept: (Int32) -> Int32
        let close: (Int32) -> Void
    }

    static let raw = Calls(
        listen: {
            let fd = Glibc.socket(AF_INET, stream, 0)
            _ = SocketAddress("127.0.0.1:0")!.withSockaddr { Glibc.bind(fd, $0, $1) }
            Glibc.listen(fd, 512)
            return (fd, try! Switch().getsockname(fd)!)
        },
        socket: { Glibc.socket(AF_INET, stream, 0) },
        connect: { fd, a in _ = a.withSockaddr { Glibc.connect(fd, $0, $1) } },
        accept: { Glibc.accept($0, nil, nil) },
        close: { _ = Glibc.close($0) })

    static func switched(_ sw: Switch) -> Calls {
        Calls(listen: {
                  let fd = try! sw.socket(family: AF_INET, type: stream)
                  try! sw.bind(fd, to: SocketAddress("127.0.0.1:0")!)
                  try! sw.listen(fd, backlog: 512)
                  return (fd, try! sw.getsockname(fd)!)
              },
              socket: { (try? sw.socket(family: AF_INET, type: stream)) ?? -1 },
              connect: { fd, a in try? sw.connect(fd, to: a) },
              accept: { (try? sw.accept($0).fd) ?? -1 },
              close: { try? sw.close($0) })
    }

    /// ns per iteration of `workload` made with `calls`, on `threads` threads sharing the work.
    static func time(_ workload: Workload, _ calls: Calls, iterations: Int, threads: Int = 1) -> Double {
        let (listener, address) = calls.listen()
        defer { calls.close(listener) }
        let perThread = iterations / threads
        let body: @Sendable () -> Void = {
            for _ in 0..<perThread {
                let fd = calls.socket()
                if workload == .w2 {
                    calls.connect(fd, address)
                    calls.close(calls.accept(listener))
                }
                calls.close(fd)
            }
        }
        let start = monotonicNs()
        if threads == 1 {
            body()
        } else {
            let group = DispatchGroup()
            for _ in 0..<threads {
                group.enter()
                Thread { body(); group.leave() }.start()
            }
            group.wait()
        }
        return (monotonicNs() - start) / Double(perThread * threads)
    }

    static func measure(_ workload: Workload, iterations: Int, repetitions: Int) throws -> [CaseResult] {
        let plain = Switch()
        let filtered = Switch()
        let filterHost = try LuaHost(switch: filtered)
        try filterHost.load(string: """
            for _, kind in ipairs(socktest.filter_types) do socktest.set(kind, function(so) end) end
            """, name: "noop-filters.lua")
        let after = Switch()
        let afterHost = try LuaHost(switch: after)
        try afterHost.load(string: """
            for _, kind in ipairs(socktest.filter_types) do
              socktest.set(kind, function(so) return function(a) end end)
            end
            """, name: "noop-after-filters.lua")
        let swiftFilter = Switch()
        for type in FilterType.allCases { swiftFilter.set(type) { _ throws(Errno) in nil } }
        let traced = try tracedSwitch(to: "/dev/null")
        let tracedHost = try LuaHost(switch: traced)
        try tracedHost.load(string: """
            for _, kind in ipairs(socktest.filter_types) do socktest.set(kind, function(so) end) end
            """, name: "noop-filters.lua")
        let floor = LuaFloor()
        let cases: [(String, Calls, Int)] = [
            ("raw", raw, 1), ("switch, no filter", switched(plain), 1),
            ("switch, no-op Swift filter on every call", switched(swiftFilter), 1),
            ("floor: raw + a bare Lua call per call", floor.bare, 1),
            ("floor: switch + a guarded, budgeted Lua call per call", switched(floor.guarded()), 1),
            ("switch, Lua filter on every call", switched(filtered), 1),
            ("switch, Lua after-filter on every call", switched(after), 1),
            ("switch, Lua filter on every call, --trace to /dev/null", switched(traced), 1),
            ("raw, 2 threads", raw, 2), ("switch, Lua filter, 2 threads", switched(filtered), 2),
        ]
        _ = time(workload, raw, iterations: iterations / 10)   // warm up
        defer { withExtendedLifetime((filterHost, afterHost, floor, tracedHost)) {} }
        let rawTwoThreads = cases.firstIndex { $0.0 == "raw, 2 threads" }!
        return interleaved(workload, cases.map(\.0), baseline: { cases[$0].2 == 2 ? rawTwoThreads : 0 },
                           repetitions: repetitions) { i in
            time(workload, cases[i].1, iterations: iterations, threads: cases[i].2)
        }
    }

    /// W0: the cost of the pipeline itself, on a call that fails in the kernel at once
    /// (counted as openfailed, so bookkeeping runs too).
    static func pipelineOverhead(iterations: Int, repetitions: Int, only: String? = nil) -> [CaseResult] {
        let sw = Switch()
        let filtered = Switch()
        let host = try! LuaHost(switch: filtered)
        try! host.load(string: #"socktest.set("socket", function(so) end)"#)
        // The same filter on a switch whose filtered calls are traced (the feature on, lines to
        // /dev/null); "switch, Lua filter" is the feature off: its cost is the nil check.
        let traced = try! tracedSwitch(to: "/dev/null")
        let tracedHost = try! LuaHost(switch: traced)
        try! tracedHost.load(string: #"socktest.set("socket", function(so) end)"#)
        let family: Int32 = 4000
        var cases: [(String, () -> Void)] = [
            ("raw", { _ = Glibc.socket(family, stream, 0) }),
            ("switch, no filter", { _ = try? sw.socket(family: family, type: stream) }),
            ("switch, Lua filter", { _ = try? filtered.socket(family: family, type: stream) }),
            ("switch, Lua filter, --trace to /dev/null", { _ = try? traced.socket(family: family, type: stream) }),
        ]
        if let only { cases = cases.filter { $0.0 == "raw" || $0.0 == only } }
        defer { withExtendedLifetime((host, tracedHost)) {} }
        return interleaved(.w0, cases.map(\.0), baseline: { _ in 0 }, repetitions: repetitions) { i in
            let start = monotonicNs()
            for _ in 0..<iterations { cases[i].1() }
            return (monotonicNs() - start) / Double(iterations)
        }
    }
}
