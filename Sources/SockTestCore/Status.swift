/// The status of a socket: its cookie and the outcome of the last call the switch made on it.
public struct Status: Sendable, Equatable, CustomStringConvertible {
    public var cookie: Cookie
    /// The error of the system call; nil when it succeeded (or has not run yet).
    public var err: Errno?
    /// The socket error read with getsockopt(SO_ERROR); nil for none.
    public var socketErr: Errno?

    public init(cookie: Cookie, err: Errno? = nil, socketErr: Errno? = nil) {
        self.cookie = cookie
        self.err = err
        self.socketErr = socketErr
    }

    /// "(inet6, stream|0x80800, default): syscallerr=<nil>, socketerr=connection refused"
    public var description: String {
        "\(cookie): syscallerr=\(Status.text(err)), socketerr=\(Status.text(socketErr))"
    }

    static func text(_ err: Errno?) -> String { err?.message ?? "<nil>" }
}

/// Socket descriptor → status of the sockets the switch opened or accepted.
public typealias Sockets = [Int32: Status]

/// A descriptor in a descriptor table: `space` 0 is this process, any other a supervised
/// program's process id (thread group).
public struct SocketKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let space: Int32
    public let fd: Int32

    public init(space: Int32, fd: Int32) {
        self.space = space
        self.fd = fd
    }

    public static func < (a: SocketKey, b: SocketKey) -> Bool { (a.space, a.fd) < (b.space, b.fd) }

    public var description: String { space == 0 ? "fd \(fd)" : "pid \(space) fd \(fd)" }

    /// One mixing of the pair as a single word: the supervisor looks a key up several times per
    /// trapped call, and a full `Hasher` run over two fields cost more than the rest of the
    /// look-up. (Keys are process and descriptor numbers, not input to defend against.)
    public func hash(into hasher: inout Hasher) { hasher.combine(packed) }

    public func _rawHashValue(seed: Int) -> Int { Self.mix(packed ^ UInt64(UInt(bitPattern: seed))) }

    private var packed: UInt64 { UInt64(UInt32(bitPattern: space)) << 32 | UInt64(UInt32(bitPattern: fd)) }

    /// splitmix64's finalizer: every input bit reaches the low bits a dictionary's buckets use.
    @inline(__always)
    static func mix(_ value: UInt64) -> Int {
        var x = value
        x = (x ^ (x >> 30)) &* 0xbf58476d1ce4e5b9
        x = (x ^ (x >> 27)) &* 0x94d049bb133111eb
        return Int(truncatingIfNeeded: x ^ (x >> 31))
    }
}
