import Glibc
import SockTestCore
import XCTest

/// Go's socktest text forms, to the letter.
final class TextFormTests: XCTestCase {
    func testStatText() throws {
        let sw = Switch()
        let fd = try sw.socket(family: AF_INET, type: Loopback.stream, protocol: Int32(IPPROTO_TCP))
        let (listener, address) = Loopback.rawListener()
        defer { Glibc.close(listener) }
        try sw.connect(fd, to: address)
        try sw.close(fd)
        XCTAssertEqual(
            sw.stats().map(\.description),
            ["(inet4, stream, tcp): opened=1, connected=1, listened=0, accepted=0, closed=1, openfailed=0, "
                + "connectfailed=0, listenfailed=0, acceptfailed=0, closefailed=0"])
    }

    func testStatusText() {
        let type = Loopback.stream | Loopback.nonblock | Loopback.cloexec
        let status = Status(cookie: Cookie(family: AF_INET6, type: type, protocol: 0), socketErr: .connectionRefused)
        XCTAssertEqual(status.description, "(inet6, stream|0x80800, default): syscallerr=<nil>, socketerr=connection refused")
        let udp = Status(cookie: Cookie(family: AF_UNIX, type: Int32(SOCK_DGRAM.rawValue), protocol: Int32(IPPROTO_UDP)),
                         err: .timedOut)
        XCTAssertEqual(udp.description, "(local, datagram, udp): syscallerr=connection timed out, socketerr=<nil>")
    }

    func testUnknownNumbersPrintAsNumbers() {
        XCTAssertEqual(Cookie(family: 42, type: 9, protocol: 77).description, "(42, 9, 77)")
        XCTAssertEqual(Cookie(family: AF_INET, type: Int32(SOCK_RAW.rawValue), protocol: 1).description, "(inet4, raw, 1)")
        XCTAssertEqual(Cookie(family: AF_INET, type: Int32(SOCK_SEQPACKET.rawValue), protocol: 0).description,
                       "(inet4, seqpacket, default)")
    }

    func testCookieLayout() {
        let type = Loopback.stream | Loopback.nonblock
        let cookie = Cookie(family: AF_INET6, type: type, protocol: Int32(IPPROTO_TCP))
        XCTAssertEqual(cookie.rawValue, UInt64(AF_INET6) << 48 | UInt64(type) << 16 | UInt64(IPPROTO_TCP))
        XCTAssertEqual(cookie.family, AF_INET6)
        XCTAssertEqual(cookie.type, type)
        XCTAssertEqual(cookie.protocol, Int32(IPPROTO_TCP))
    }

    func testErrnoNamesAndMessages() {
        XCTAssertEqual(Errno.connectionRefused.name, "ECONNREFUSED")
        XCTAssertEqual(Errno(name: "ECONNREFUSED"), .connectionRefused)
        XCTAssertEqual(Errno(name: "EWOULDBLOCK"), Errno(rawValue: EAGAIN))
        XCTAssertNil(Errno(name: "ENOSUCHTHING"))
        XCTAssertEqual(Errno.ioError.message, "input/output error")
        XCTAssertGreaterThan(Errno.byName.count, 120, "every errno the platform defines")
        for (name, value) in Errno.byName where !["EWOULDBLOCK", "EDEADLOCK", "ENOTSUP"].contains(name) {
            XCTAssertEqual(Errno(rawValue: value).name, name)
        }
    }

    func testSocketAddressForms() {
        for text in ["127.0.0.1:8080", "[::1]:443", "/tmp/socktest.sock", "@abstract"] {
            XCTAssertEqual(SocketAddress(text)?.description, text)
        }
        XCTAssertEqual(SocketAddress("localhost:80")?.description, "127.0.0.1:80")
        XCTAssertEqual(SocketAddress("[::1]:443")?.family, AF_INET6)
        XCTAssertEqual(SocketAddress("127.0.0.1:8080")?.port, 8080)
        for bad in ["", "127.0.0.1", "1.2.3.4:99999", "[::1:80", "example.com:80", "::1:80"] {
            XCTAssertNil(SocketAddress(bad), bad)
        }
    }

    /// Addresses as programs pass them (the supervisor reads their bytes): the longest unix path,
    /// and an IP address in a whole sockaddr_storage (the kernel takes up to 128 bytes).
    func testSocketAddressFromBytes() throws {
        let longest = "/" + String(repeating: "p", count: 106)     // 107 bytes + NUL fill sun_path
        let unix = try XCTUnwrap(SocketAddress(longest))
        XCTAssertEqual(unix.description, longest)
        XCTAssertEqual(SocketAddress(bytes: unix.bytes), unix)
        XCTAssertNil(SocketAddress(longest + "p"), "one byte more than sun_path holds")
        XCTAssertEqual(SocketAddress("@" + String(repeating: "a", count: 106))?.description.count, 107)

        let inet = try XCTUnwrap(SocketAddress("127.0.0.1:8080"))
        var storage = inet.bytes + Array(repeating: 0, count: MemoryLayout<sockaddr_storage>.size - inet.bytes.count)
        let padded = try XCTUnwrap(SocketAddress(bytes: storage), "an IPv4 address in a sockaddr_storage")
        XCTAssertEqual(padded.description, "127.0.0.1:8080")
        XCTAssertEqual(padded.withSockaddr { sa, _ in Int32(sa.pointee.sa_family) }, AF_INET)
        storage.append(0)
        XCTAssertNil(SocketAddress(bytes: storage), "longer than the kernel takes")
    }
}
