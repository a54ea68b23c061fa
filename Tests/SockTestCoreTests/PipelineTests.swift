import Glibc
import SockTestCore

import TestSupport
import XCTest

/// Each rule of the switch's semantics (docs/semantics.md), separately, on real loopback sockets.
final class PipelineTests: XCTestCase {
    func testBeforeFilterCancelRunsNothingAndCountsNothing() throws {
        let sw = Switch()
        let before = openSockets()
        sw.set(.socket) { _ throws(Errno) in throw .tooManyOpenFiles }
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: Loopback.stream)) {
            XCTAssertEqual($0 as? Errno, .tooManyOpenFiles)
        }
        XCTAssertEqual(openSockets(), before, "the cancelled socket call must not run")
        XCTAssertEqual(sw.stats(), [])

        // A cancelled connect never reaches the listener.
        sw.set(.socket, nil)
        let (listener, address) = Loopback.rawListener()
        defer { Glibc.close(listener) }
        let fd = try sw.socket(family: AF_INET, type: Loopback.stream)
        sw.set(.connect) { _ throws(Errno) in throw .connectionRefused }
        XCTAssertThrowsError(try sw.connect(fd, to: address)) { XCTAssertEqual($0 as? Errno, .connectionRefused) }
        XCTAssertEqual(fcntl(listener, F_SETFL, O_NONBLOCK), 0)
        XCTAssertEqual(Glibc.accept(listener, nil, nil), -1, "nothing may have connected")
        XCTAssertEqual(errno, EAGAIN)
        XCTAssertEqual(sw.stat(tcp4)?[.connectFailed], 0)
        XCTAssertEqual(sw.stat(tcp4)?[.connected], 0)

        // A cancelled close leaves the socket open and in the table.
        sw.set(.close) { _ throws(Errno) in throw .ioError }
        XCTAssertThrowsError(try sw.close(fd))
        XCTAssertTrue(Loopback.isOpen(fd))
        XCTAssertNotNil(sw.sockets()[fd])
        XCTAssertEqual(sw.stat(tcp4)?[.closeFailed], 0)
        sw.set(.close, nil)
        try sw.close(fd)
    }

    func testAfterFilterErrorCountsNothingAndClosesCreatedDescriptors() throws {
        let sw = Switch()
        let before = openSockets()
        let seen = Locked<Int32>(-1)
        sw.set(.socket) { _ throws(Errno) in
            { call throws(Errno) in
                seen.withLock { $0 = call.status.err == nil ? 1 : 0 }
                throw .permissionDenied
            }
        }
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: Loopback.stream)) {
            XCTAssertEqual($0 as? Errno, .permissionDenied)
        }
        XCTAssertEqual(seen.withLock { $0 }, 1, "the after-filter sees the real (successful) outcome")
        XCTAssertEqual(openSockets(), before, "the socket the call created must be closed")
        XCTAssertEqual(sw.stats(), [])
        XCTAssertEqual(sw.sockets(), [:])

        // accept: the accepted connection is closed too, and not counted.
        sw.set(.socket, nil)
        let listener = try sw.socket(family: AF_INET, type: Loopback.stream)
        try sw.bind(listener, to: SocketAddress("127.0.0.1:0")!)
        try sw.listen(listener, backlog: 4)
        let address = try sw.getsockname(listener)!
        let client = Glibc.socket(AF_INET, Loopback.stream, 0)
        XCTAssertEqual(address.withSockaddr { Glibc.connect(client, $0, $1) }, 0)
        let withClient = openSockets()
        sw.set(.accept) { _ throws(Errno) in { _ throws(Errno) in throw .connectionAbort } }
        XCTAssertThrowsError(try sw.accept(listener)) { XCTAssertEqual($0 as? Errno, .connectionAbort) }
        XCTAssertEqual(openSockets(), withClient, "the accepted descriptor must be closed")
        XCTAssertEqual(sw.stat(tcp4)?[.accepted], 0)
        XCTAssertEqual(sw.stat(tcp4)?[.acceptFailed], 0)
        XCTAssertEqual(Set(sw.sockets().keys), [listener])
        Glibc.close(client)
        try sw.close(listener)
    }

    func testRealFailuresGrowTheirFailedCounters() throws {
        let sw = Switch()
        // socket: an unknown family.
        XCTAssertThrowsError(try sw.socket(family: 4000, type: Loopback.stream)) {
            XCTAssertEqual($0 as? Errno, .addressFamilyNotSupported)
        }
        XCTAssertEqual(sw.stat(Cookie(family: 4000, type: Loopback.stream, protocol: 0))?[.openFailed], 1)

        // connect: nothing listens.
        let fd = try sw.socket(family: AF_INET, type: Loopback.stream)
        XCTAssertThrowsError(try sw.connect(fd, to: Loopback.closedPort())) {
            XCTAssertEqual($0 as? Errno, .connectionRefused)
        }
        XCTAssertEqual(sw.stat(tcp4)?[.connectFailed], 1)
        XCTAssertEqual(sw.sockets()[fd]?.err, .connectionRefused, "the table keeps the last outcome")

        // accept: not a listening socket.
        XCTAssertThrowsError(try sw.accept(fd)) { XCTAssertEqual($0 as? Errno, .invalidArgument) }
        XCTAssertEqual(sw.stat(tcp4)?[.acceptFailed], 1)

        // listen: a UDP socket cannot listen.
        let udp = try sw.socket(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        XCTAssertThrowsError(try sw.listen(udp, backlog: 1)) { XCTAssertEqual($0 as? Errno, .notSupported) }
        let udp4 = Cookie(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue), protocol: 0)
        XCTAssertEqual(sw.stat(udp4)?[.listenFailed], 1)

        // close: the descriptor was closed behind the switch's back; the entry stays.
        Glibc.close(udp)
        XCTAssertThrowsError(try sw.close(udp)) { XCTAssertEqual($0 as? Errno, .badFileDescriptor) }
        XCTAssertEqual(sw.stat(udp4)?[.closeFailed], 1)
        XCTAssertNotNil(sw.sockets()[udp], "a failed close leaves the table entry")

        try sw.close(fd)
        XCTAssertEqual(sw.stat(tcp4)?[.opened], 1)
        XCTAssertEqual(sw.stat(tcp4)?[.closed], 1)
    }

    func testAcceptedSocketCarriesTheListenersCookieAndCloseRemovesIt() throws {
        let sw = Switch()
        let type = Loopback.stream | Loopback.cloexec
        let listener = try sw.socket(family: AF_INET, type: type, protocol: Int32(IPPROTO_TCP))
        try sw.bind(listener, to: SocketAddress("127.0.0.1:0")!)
        try sw.listen(listener, backlog: 4)
        let address = try sw.getsockname(listener)!
        let client = try sw.socket(family: AF_INET, type: Loopback.stream)
        try sw.connect(client, to: address)
        let (conn, peer) = try sw.accept4(listener, flags: Loopback.nonblock)
        XCTAssertEqual(peer, try sw.getsockname(client))
        let cookie = Cookie(family: AF_INET, type: type, protocol: Int32(IPPROTO_TCP))
        XCTAssertEqual(sw.sockets()[conn]?.cookie, cookie)
        XCTAssertEqual(sw.stat(cookie)?[.accepted], 1)
        XCTAssertEqual(sw.stat(cookie)?[.listened], 1)
        XCTAssertEqual(sw.stat(tcp4)?[.connected], 1)

        try sw.close(conn)
        XCTAssertNil(sw.sockets()[conn])
        XCTAssertFalse(Loopback.isOpen(conn))
        XCTAssertEqual(sw.stat(cookie)?[.closed], 1)
        try sw.close(client)
        try sw.close(listener)
        XCTAssertEqual(sw.sockets(), [:])
    }

    func testSoErrorZeroCountsAsConnectedAndTheRewrittenErrorIsReturned() throws {
        let (listener, address) = Loopback.rawListener()
        defer { Glibc.close(listener) }
        let sw = Switch()
        let type = Loopback.stream | Loopback.nonblock
        let nb = Cookie(family: AF_INET, type: type, protocol: 0)

        func nonblockingConnect() throws -> Int32 {
            let fd = try sw.socket(family: AF_INET, type: type)
            do { try sw.connect(fd, to: address) } catch { XCTAssertEqual(error, .nowInProgress) }
            Loopback.waitWritable(fd)
            return fd
        }

        let fd = try nonblockingConnect()
        XCTAssertEqual(try sw.getsockoptInt(fd, level: SOL_SOCKET, option: SO_ERROR), 0)
        XCTAssertEqual(sw.stat(nb)?[.connected], 1)
        XCTAssertEqual(sw.stat(nb)?[.connectFailed], 1, "EINPROGRESS is a failed connect call")

        // An after-filter makes the connect fail late: getsockopt returns the rewritten error.
        sw.set(.getsockopt) { _ throws(Errno) in { call throws(Errno) in call.status.socketErr = .connectionRefused } }
        let fd2 = try nonblockingConnect()
        XCTAssertEqual(try sw.getsockoptInt(fd2, level: SOL_SOCKET, option: SO_ERROR), ECONNREFUSED)
        XCTAssertEqual(sw.stat(nb)?[.connected], 1, "a refused connect is not counted as connected")
        XCTAssertEqual(sw.sockets()[fd2]?.socketErr, .connectionRefused)

        // Other options pass their value through.
        sw.set(.getsockopt, nil)
        XCTAssertEqual(try sw.getsockoptInt(fd2, level: SOL_SOCKET, option: SO_TYPE), Loopback.stream)
        try sw.close(fd)
        try sw.close(fd2)
    }

    func testDescriptorsNotInTheTableSeeNoFilter() throws {
        let (listener, address) = Loopback.rawListener()
        defer { Glibc.close(listener) }
        let sw = Switch()
        let calls = Locked(0)
        for type in FilterType.allCases {
            sw.set(type) { _ throws(Errno) in calls.withLock { $0 += 1 }; throw .permissionDenied }
        }
        let raw = Glibc.socket(AF_INET, Loopback.stream, 0)
        try sw.connect(raw, to: address)
        XCTAssertEqual(try sw.getsockoptInt(raw, level: SOL_SOCKET, option: SO_ERROR), 0)
        try sw.close(raw)
        XCTAssertEqual(calls.withLock { $0 }, 0)
        XCTAssertEqual(sw.stats(), [])
    }

    func testAfterFilterRewritesAreWhatTheCallerGetsAndWhatIsCounted() throws {
        let sw = Switch()
        let refused = Loopback.closedPort()
        // A real failure rewritten to success.
        sw.set(.connect) { _ throws(Errno) in { call throws(Errno) in
            if call.status.err == .connectionRefused { call.status.err = nil }
        } }
        let fd = try sw.socket(family: AF_INET, type: Loopback.stream)
        try sw.connect(fd, to: refused)
        XCTAssertEqual(sw.stat(tcp4)?[.connected], 1)
        XCTAssertEqual(sw.stat(tcp4)?[.connectFailed], 0)

        // A success rewritten to failure on socket: the caller gets the error, it counts as
        // openfailed, and the descriptor is closed.
        let before = openSockets()
        sw.set(.socket) { _ throws(Errno) in { call throws(Errno) in call.status.err = .tooManyOpenFiles } }
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: Loopback.stream)) {
            XCTAssertEqual($0 as? Errno, .tooManyOpenFiles)
        }
        XCTAssertEqual(openSockets(), before)
        XCTAssertEqual(sw.stat(tcp4)?[.openFailed], 1)

        // A failed socket cannot be made to succeed: no descriptor exists; the error stands.
        sw.set(.socket) { _ throws(Errno) in { call throws(Errno) in call.status.err = nil } }
        XCTAssertThrowsError(try sw.socket(family: 4000, type: Loopback.stream)) {
            XCTAssertEqual($0 as? Errno, .addressFamilyNotSupported)
        }
        try sw.close(fd)
    }

    func testCallsFromInsideAFilterRunUnfilteredAndCounted() throws {
        let sw = Switch()
        let filterRuns = Locked(0)
        sw.set(.socket) { call throws(Errno) in
            filterRuns.withLock { $0 += 1 }
            // Would recurse forever if the inner call were filtered.
            let inner = try sw.socket(family: AF_INET6, type: Loopback.stream)
            try sw.close(inner)
            return nil
        }
        let fd = try sw.socket(family: AF_INET, type: Loopback.stream)
        XCTAssertEqual(filterRuns.withLock { $0 }, 1)
        let tcp6 = Cookie(family: AF_INET6, type: Loopback.stream, protocol: 0)
        XCTAssertEqual(sw.stat(tcp6)?[.opened], 1)
        XCTAssertEqual(sw.stat(tcp6)?[.closed], 1)
        try sw.close(fd)
    }

    func testBindPassesThroughAndCanBeFiltered() throws {
        let sw = Switch()
        let fd = try sw.socket(family: AF_INET, type: Loopback.stream)
        let (listener, taken) = Loopback.rawListener()
        defer { Glibc.close(listener) }
        XCTAssertThrowsError(try sw.bind(fd, to: taken)) { XCTAssertEqual($0 as? Errno, .addressInUse) }
        let seen = Locked<String?>(nil)
        sw.set(.bind) { call throws(Errno) in seen.withLock { $0 = call.address?.description }; throw .addressInUse }
        XCTAssertThrowsError(try sw.bind(fd, to: SocketAddress("127.0.0.1:0")!))
        XCTAssertEqual(seen.withLock { $0 }, "127.0.0.1:0")
        try sw.close(fd)
    }

    func testARewrittenCloseFollowsTheSystemInTheTable() throws {
        let sw = Switch()
        // Linux semantics of EINTR on close: the descriptor is gone, the caller hears a failure.
        sw.set(.close) { _ throws(Errno) in { call throws(Errno) in call.status.err = .interrupted } }
        let fd = try sw.socket(family: AF_INET, type: Loopback.stream)
        XCTAssertThrowsError(try sw.close(fd)) { XCTAssertEqual($0 as? Errno, .interrupted) }
        XCTAssertFalse(Loopback.isOpen(fd), "the close really happened")
        XCTAssertNil(sw.sockets()[fd], "so the table lets the socket go")
        XCTAssertEqual(sw.stat(tcp4)?[.closeFailed], 1, "and the statistics count what the caller heard")
        XCTAssertEqual(sw.stat(tcp4)?[.closed], 0)
    }
}
