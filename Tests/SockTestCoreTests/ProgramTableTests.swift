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

    /// The newest `buriedKept` closes are remembered, in order, however many sockets a program
    /// closes (the order is a ring: a program closing in a loop once moved it all each time).
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
        let buried = sw.book.withLock { $0.buried.count }
        XCTAssertEqual(buried, kept)
    }
}
