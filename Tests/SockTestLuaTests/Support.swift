import Glibc
import SockTestCore
import SockTestLua
import XCTest

/// Paths of the repository, found from this file.
enum Repo {
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/SockTestLuaTests/Support.swift
        return parts.joined(separator: "/")
    }()
    static let luaTests = root + "/Tests/lua"
}

/// A host over a fresh switch, with the Lua test library on its module path.
func makeHost(seed: UInt64 = 1, limits: LuaHost.Limits = LuaHost.Limits()) throws -> (Switch, LuaHost) {
    let sw = Switch()
    return (sw, try LuaHost(switch: sw, seed: seed, limits: limits, modulePaths: [Repo.luaTests + "/lib", Repo.root + "/scripts"]))
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Runs `body(i)` for i in 0..<n, each on a thread of its own, and waits for all.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var handles: [pthread_t] = []
    for i in 0..<n {
        var handle = pthread_t()
        let box = Unmanaged.passRetained(Box { body(i) }).toOpaque()
        precondition(pthread_create(&handle, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box) == 0)
        handles.append(handle)
    }
    for handle in handles { pthread_join(handle, nil) }
}

let stream = Int32(SOCK_STREAM.rawValue)
