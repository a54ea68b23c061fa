/// The calls a filter can be set for.
public enum FilterType: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// socket(2); runs for every call, before any descriptor exists.
    case socket
    /// bind(2) on a socket in the table. Not counted in `Stat` (Go's socktest has no bind counters).
    case bind
    /// connect(2) on a socket in the table.
    case connect
    /// listen(2) on a socket in the table.
    case listen
    /// accept(2) and accept4(2) on a listening socket in the table.
    case accept
    /// getsockopt(2) for an integer option on a socket in the table.
    case getsockopt
    /// close(2) of a socket in the table.
    case close
    /// read, readv, recv, recvfrom, recvmsg (and recvmmsg) on a socket in the table (SPEC §7).
    case read
    /// write, writev, send, sendto, sendmsg (and sendmmsg) on a socket in the table.
    case write
    /// shutdown(2) of a socket in the table.
    case shutdown

    /// The lower-case name scripts use: "socket", "connect", ...
    public var name: String {
        switch self {
        case .socket: "socket"
        case .bind: "bind"
        case .connect: "connect"
        case .listen: "listen"
        case .accept: "accept"
        case .getsockopt: "getsockopt"
        case .close: "close"
        case .read: "read"
        case .write: "write"
        case .shutdown: "shutdown"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let type = FilterType.allCases.first(where: { $0.name == name }) else { return nil }
        self = type
    }

    /// Whether a successful call creates a descriptor (which the switch closes again when an
    /// after-filter fails the call).
    var createsDescriptor: Bool { self == .socket || self == .accept }

    /// Whether the call moves bytes (read, write): its value is a byte count, and a filter may
    /// answer it with a `DataAction`.
    public var movesData: Bool { self == .read || self == .write }

    /// The data-path filter types (SPEC §7): a supervisor traps their calls only when one is set.
    public static let dataPath: [FilterType] = [.read, .write, .shutdown]
}
