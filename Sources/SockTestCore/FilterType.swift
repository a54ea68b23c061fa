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
}
