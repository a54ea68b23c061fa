import Glibc
@testable import SockTestCore
import XCTest

/// The data path (SPEC §7) through the one pipeline, on real loopback connections.
final class DataPathTests: XCTestCase {
    /// A connected pair: the switch's client socket and the raw peer the listener accepted.
    private func pair(_ sw: Switch) throws -> (client: Int32, peer: Int32) {
        let (listener, address) = Loopback.rawListener()
        defer { Glibc.close(listener) }
        let client = try sw.socket(family: AF_INET, type: Loopback.stream)
        try sw.connect(client, to: address)
        let peer = Glibc.accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(peer, 0)
        return (client, peer)
    }

    private func write(_ sw: Switch, _ fd: Int32, _ bytes: [UInt8]) throws -> Int {
        try bytes.withUnsafeBytes { buffer throws(Errno) in try sw.write(fd, from: buffer) }
    }

    private func read(_ sw: Switch, _ fd: Int32, _ size: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: size)
        let n = try buffer.withUnsafeMutableBytes { buffer throws(Errno) in try sw.read(fd, into: buffer) }
        return Array(buffer[..<n])
    }

    private func peerRead(_ fd: Int32, _ size: Int) -> (Int, Int32) {
        var buffer = [UInt8](repeating: 0, count: size)
        let n = Glibc.read(fd, &buffer, size)
        return (n, n < 0 ? errno : 0)
    }

    func testBytesAreCountedPerSocketAndPerCookie() throws {
        let sw = Switch()
        let (client, peer) = try pair(sw)
        defer { Glibc.close(peer) }
        let seen = Locked<[(UInt64, UInt64, Int?)]>([])
        sw.set(.write) { call throws(Errno) in
            seen.withLock { $0.append((call.readTotal, call.writtenTotal, call.size)) }
            return nil
        }
        XCTAssertEqual(try write(sw, client, Array(repeating: 7, count: 100)), 100)
        XCTAssertEqual(try write(sw, client, Array(repeating: 7, count: 50)), 50)
        XCTAssertEqual(Glibc.write(peer, "hello", 5), 5)
        XCTAssertEqual(try read(sw, client, 64), Array("hello".utf8))
        XCTAssertEqual(sw.stat(tcp4)?.writtenBytes, 150)
        XCTAssertEqual(sw.stat(tcp4)?.readBytes, 5)
        XCTAssertEqual(seen.withLock { $0.map { $0.1 } }, [0, 100])
        XCTAssertEqual(seen.withLock { $0.map { $0.2 } }, [100, 50])
        try sw.close(client)
    }

    func testShortWriteAndShortReadMoveAtMostN() throws {
        let sw = Switch()
        let (client, peer) = try pair(sw)
        defer { Glibc.close(peer) }
        sw.set(.write) { _ throws(Errno) in DataAction.request(.short(100)); return nil }
        XCTAssertEqual(try write(sw, client, Array(repeating: 1, count: 65536)), 100)
        XCTAssertEqual(peerRead(peer, 65536).0, 100, "only 100 bytes may reach the peer")
        sw.set(.read) { _ throws(Errno) in DataAction.request(.short(3)); return nil }
        XCTAssertEqual(Glibc.write(peer, "abcdef", 6), 6)
        XCTAssertEqual(try read(sw, client, 64), Array("abc".utf8))
        XCTAssertEqual(try read(sw, client, 64), Array("def".utf8), "the rest stays for the next read")
        XCTAssertEqual(sw.stat(tcp4)?.writtenBytes, 100)
        try sw.close(client)
    }

    func testEofConsumesNothingAndDropSendsNothing() throws {
        let sw = Switch()
        let (client, peer) = try pair(sw)
        defer { Glibc.close(peer) }
        XCTAssertEqual(Glibc.write(peer, "xyz", 3), 3)
        sw.set(.read) { _ throws(Errno) in DataAction.request(.eof); return nil }
        XCTAssertEqual(try read(sw, client, 64), [])
        sw.set(.read, nil)
        XCTAssertEqual(try read(sw, client, 64), Array("xyz".utf8))
        sw.set(.write) { _ throws(Errno) in DataAction.request(.drop); return nil }
        XCTAssertEqual(try write(sw, client, Array(repeating: 1, count: 10)), 10)
        XCTAssertEqual(fcntl(peer, F_SETFL, O_NONBLOCK), 0)
        XCTAssertEqual(peerRead(peer, 64).1, EAGAIN, "a dropped write sends nothing")
        try sw.close(client)
    }

    func testResetReachesThePeerAsARealRST() throws {
        let sw = Switch()
        let (client, peer) = try pair(sw)
        defer { Glibc.close(peer) }
        sw.set(.write) { _ throws(Errno) in DataAction.request(.reset); return nil }
        XCTAssertThrowsError(try write(sw, client, [1])) { XCTAssertEqual($0 as? Errno, .connectionReset) }
        sw.set(.write, nil)
        XCTAssertEqual(peerRead(peer, 64).1, ECONNRESET, "the peer must see the reset")
        XCTAssertEqual(try read(sw, client, 64), [], "a later read sees the end, as after a peer's RST")
        signal(SIGPIPE, SIG_IGN)
        XCTAssertThrowsError(try write(sw, client, [1])) { XCTAssertEqual($0 as? Errno, .brokenPipe) }
        XCTAssertTrue(sw.sockets()[client] != nil, "the program still holds the socket")
        try sw.close(client)
    }

    func testAnAfterFilterMayLowerTheCountAndSeesTheData() throws {
        let sw = Switch()
        let (client, peer) = try pair(sw)
        defer { Glibc.close(peer) }
        let seen = Locked<[UInt8]?>(nil)
        sw.set(.read) { _ throws(Errno) in
            return { call throws(Errno) in
                seen.withLock { $0 = call.bytes() }
                call.transferred = 2
            }
        }
        XCTAssertEqual(Glibc.write(peer, "hello", 5), 5)
        XCTAssertEqual(try read(sw, client, 64), Array("he".utf8))
        XCTAssertEqual(seen.withLock { $0 }, Array("hello".utf8))
        XCTAssertEqual(sw.stat(tcp4)?.readBytes, 2, "the count the caller was told")
        try sw.close(client)
    }

    func testShutdownIsFilteredAndAnUntrackedDescriptorIsNot() throws {
        let sw = Switch()
        let (client, peer) = try pair(sw)
        defer { Glibc.close(peer) }
        sw.set(.shutdown) { call throws(Errno) in
            XCTAssertEqual(call.how, Int32(SHUT_WR))
            throw .socketNotConnected
        }
        XCTAssertThrowsError(try sw.shutdown(client, how: Int32(SHUT_WR))) { XCTAssertEqual($0 as? Errno, .socketNotConnected) }
        sw.set(.write) { _ throws(Errno) in throw .ioError }
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { Glibc.close(fds[0]); Glibc.close(fds[1]) }
        XCTAssertEqual(try write(sw, fds[1], [1, 2]), 2, "a pipe is no tracked socket: no filter")
        try sw.close(client)
    }
}
