/// Per-cookie statistics of the calls that reached the system.
public struct Stat: Sendable, Equatable, CustomStringConvertible {
    public var family: Int32
    public var type: Int32
    public var `protocol`: Int32

    public var opened: UInt64 = 0
    public var connected: UInt64 = 0
    public var listened: UInt64 = 0
    public var accepted: UInt64 = 0
    public var closed: UInt64 = 0

    public var openFailed: UInt64 = 0
    public var connectFailed: UInt64 = 0
    public var listenFailed: UInt64 = 0
    public var acceptFailed: UInt64 = 0
    public var closeFailed: UInt64 = 0

    public init(cookie: Cookie) {
        family = cookie.family
        type = cookie.type
        self.protocol = cookie.protocol
    }

    public var cookie: Cookie { Cookie(family: family, type: type, protocol: self.protocol) }

    /// The seed's text form: "(inet4, stream, tcp): opened=1, connected=1, ..., closefailed=0".
    public var description: String {
        "\(cookie): opened=\(opened), connected=\(connected), listened=\(listened), "
            + "accepted=\(accepted), closed=\(closed), openfailed=\(openFailed), "
            + "connectfailed=\(connectFailed), listenfailed=\(listenFailed), "
            + "acceptfailed=\(acceptFailed), closefailed=\(closeFailed)"
    }
}
