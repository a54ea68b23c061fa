import Glibc
@testable import SockTestCore
import XCTest

/// The table's side of a supervised program's sockets (`Switch+Supervised.swift`): sockets known
/// by identity, closes counted when the last descriptor goes, and a socket seen again after its
/// close (it was passed on before) no longer counted as closed.
final class ProgramTableTests: XCTestCase {
    let cookie = Cookie(family: AF_INET, type: Int32(SOCK_STREAM.rawValue), protocol: 0)

    func closed(_ sw: Switch) -> Int { Int(sw.stats().first { $0.cookie == cookie }?[.closed] ?? 0) }

    func testASocketSeenAgainAfterItsCloseIsNotCountedClosed() {
        let sw = Switch()
        let key = SocketKey(space: 100, fd: 3)
        sw.learn(key, identity: 7, cookie: cookie, origin: .opened)
        sw.forget(key)
        XCTAssertEqual(closed(sw), 1)
        sw.learn(SocketKey(space: 101, fd: 5), identity: 7, cookie: cookie, origin: .copy)
        XCTAssertEqual(closed(sw), 0, "the socket lives on in another process")
    }

    /// The newest `buriedKept` closes are remembered, however many sockets a program closes
    /// (socket inodes come in sequence: each of the newest has a slot of its own).
    func testTheNewestClosesAreRemembered() {
        let sw = Switch()
        let kept = Book.buriedKept, extra = 100
        for identity in 1...UInt64(kept + extra) {
            let key = SocketKey(space: 100, fd: 3)
            sw.learn(key, identity: identity, cookie: cookie, origin: .opened)
            sw.forget(key)
        }
        XCTAssertEqual(closed(sw), kept + extra)
        XCTAssertNil(sw.cookie(ofIdentity: 1), "the oldest is forgotten")
        XCTAssertNil(sw.cookie(ofIdentity: UInt64(extra)))
        XCTAssertEqual(sw.cookie(ofIdentity: UInt64(extra + 1)), cookie, "the oldest still kept")
        XCTAssertEqual(sw.cookie(ofIdentity: UInt64(kept + extra)), cookie, "the newest")
        let buried = sw.book.withLock { $0.buriedCount }
        XCTAssertEqual(buried, kept)
    }

    /// Socket inodes come from per-CPU batches of 1,024 numbers: sockets closed in turn on four
    /// CPUs can have inodes equal in their low twelve bits. All of them are remembered.
    func testClosesOnSeveralCPUsAreRemembered() {
        let sw = Switch()
        let batches: [UInt64] = [8192, 8192 + 4096, 8192 + 2 * 4096, 8192 + 3 * 4096]
        var identities: [UInt64] = []
        for k in 0..<UInt64(256) { for base in batches { identities.append(base + k) } }
        for (i, identity) in identities.enumerated() {
            let key = SocketKey(space: 100, fd: Int32(3 + i % 4))
            sw.learn(key, identity: identity, cookie: cookie, origin: .opened)
            sw.forget(key)
        }
        XCTAssertEqual(identities.filter { sw.cookie(ofIdentity: $0) == nil }.count, 0, "none forgotten")
        sw.learn(SocketKey(space: 101, fd: 5), identity: batches[0], cookie: cookie, origin: .copy)
        XCTAssertEqual(closed(sw), identities.count - 1, "the first of them was passed on, not closed")
    }

    /// A key's hash mixes both numbers into the low bits a dictionary's buckets use: a program's
    /// descriptors 0..<1024, or one descriptor in 1024 processes, spread over about as many
    /// buckets as random hashes would fill.
    func testKeysSpreadOverBuckets() {
        let buckets = Set((0..<1024).map { SocketKey(space: 4242, fd: Int32($0)).hashValue & 1023 })
        XCTAssertGreaterThan(buckets.count, 560, "random hashes fill about 647 of 1024")
        // The same descriptor in 1024 processes: only the high half of the pair differs.
        let processes = Set((0..<1024).map { SocketKey(space: Int32(3000 + $0), fd: 3).hashValue & 1023 })
        XCTAssertGreaterThan(processes.count, 560)
        XCTAssertNotEqual(SocketKey(space: 1, fd: 2).hashValue, SocketKey(space: 2, fd: 1).hashValue)
        var table: [SocketKey: Int] = [:]
        for space in Int32(1)...20 { for fd in Int32(0)..<500 { table[SocketKey(space: space, fd: fd)] = Int(space) * 1000 + Int(fd) } }
        XCTAssertEqual(table.count, 10_000)
        XCTAssertEqual(table[SocketKey(space: 17, fd: 321)], 17_321)
    }
}

