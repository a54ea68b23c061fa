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

func now() -> Double { monotonicSeconds() }

/// Runs `body(i)` for i in 0..<n, each on a thread of its own, and waits for all.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let threads = (0..<n).map { i in WorkerThread { body(i) } }
    threads.forEach { $0.join() }
}

let stream = Int32(SOCK_STREAM.rawValue)
