import CSupervisor
import Glibc
import SockTestCore

/// What /proc says about a supervised process.
enum ProcFile {
    /// The text of a small /proc file (at most 4 KiB), or nil.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// The value of "Name:\tvalue" in a status-like file.
    static func field(_ name: String, of path: String) -> Substring? {
        guard let text = read(path) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.dropFirst(name.count + 1).drop { $0 == " " || $0 == "\t" }
        }
        return nil
    }

    /// A symbolic link's target ("socket:[1234]", "net:[4026531840]", a path).
    static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The socket inode a descriptor of `pid` names ("socket:[INODE]"), or nil for anything else.
    static func socketIdentity(pid: Int32, fd: Int32) -> UInt64? {
        guard let target = link("/proc/\(pid)/fd/\(fd)"), target.hasPrefix("socket:[") else { return nil }
        return UInt64(target.dropFirst(8).dropLast())
    }

    /// The open descriptor numbers of `pid`.
    static func descriptors(of pid: Int32) -> [Int32] {
        guard let dir = opendir("/proc/\(pid)/fd") else { return [] }
        defer { closedir(dir) }
        var out: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name) { out.append(fd) }
        }
        return out
    }
}

/// What the supervisor can see of one of the program's sockets through its own copy of the
/// descriptor (pidfd_getfd: the same socket, not a new one).
struct SocketCopy: ~Copyable {
    let fd: Int32

    /// Owns `copy`, a descriptor of ours made with pidfd_getfd (closed when this goes).
    init(owning copy: Int32) { fd = copy }

    deinit { Glibc.close(fd) }

    /// The socket's inode; nil when the descriptor is not a socket.
    var identity: UInt64? { SocketIdentity.of(fd) }

    func option(_ name: Int32) -> Int32? { try? Sys.getsockoptInt(fd, SOL_SOCKET, name) }

    var family: Int32? { option(SO_DOMAIN) }
    /// The base type (SOCK_STREAM, ...), without flags.
    var type: Int32? { option(SO_TYPE) }
    var `protocol`: Int32? { option(SO_PROTOCOL) }
    var isListening: Bool { option(SO_ACCEPTCONN) == 1 }
    var isNonBlocking: Bool { fcntl(fd, F_GETFL) & O_NONBLOCK != 0 }
    /// Whether the socket has, or had, a peer: a TCP connection the peer reset since counts.
    var isConnected: Bool { (try? Sys.getpeername(fd)) != nil || st_tcp_was_established(fd) != 0 }
    var localAddress: SocketAddress? { (try? Sys.getsockname(fd)) ?? nil }
    var peerAddress: SocketAddress? { (try? Sys.getpeername(fd)) ?? nil }
}

/// A socket's identity: its inode, the same for every descriptor of it in any process.
enum SocketIdentity {
    /// The inode of our own descriptor `fd` when it is a socket.
    static func of(_ fd: Int32) -> UInt64? {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return UInt64(info.st_ino)
    }
}
