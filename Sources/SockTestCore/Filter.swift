import Glibc

/// What a filter sees of one call: the socket's status and the call's arguments.
public struct Call: Sendable {
    /// Which call this is.
    public let type: FilterType
    /// The descriptor the call operates on; nil for socket.
    public let fd: Int32?
    /// Whose descriptor it is: 0 for this process, else the process id (thread group) of a
    /// supervised program (see `Switch.intercept`).
    public let space: Int32
    /// The socket's cookie and, once the call has run, its outcome. An after-filter may rewrite
    /// `status.err` and `status.socketErr`; the rewritten outcome is what the caller gets and what
    /// the statistics count.
    public var status: Status
    /// connect and bind: the address given; accept: the peer, once the call has succeeded.
    public var address: SocketAddress?
    /// listen: the backlog.
    public let backlog: Int32?
    /// getsockopt: the level and option.
    public let level: Int32?
    public let option: Int32?
    /// accept4: the flags (0 for accept).
    public let flags: Int32?

    init(
        _ type: FilterType, fd: Int32?, space: Int32 = 0, status: Status, address: SocketAddress? = nil,
        backlog: Int32? = nil, level: Int32? = nil, option: Int32? = nil, flags: Int32? = nil
    ) {
        self.type = type
        self.fd = fd
        self.space = space
        self.status = status
        self.address = address
        self.backlog = backlog
        self.level = level
        self.option = option
        self.flags = flags
    }

    /// The table key of the descriptor the call operates on.
    var key: SocketKey? { fd.map { SocketKey(space: space, fd: $0) } }

    /// Whether this is getsockopt(SOL_SOCKET, SO_ERROR), whose value is the socket error.
    public var readsSocketError: Bool { level == Int32(SOL_SOCKET) && option == Int32(SO_ERROR) }

    /// getsockopt: notes the value the system returned (for SO_ERROR, as the socket error).
    package mutating func observe(optionValue value: Int32) {
        if readsSocketError { status.socketErr = value == 0 ? nil : Errno(rawValue: value) }
    }

    /// getsockopt: the value the caller gets — for SO_ERROR the socket error as the filters
    /// left it, so a filter can fail a non-blocking connect late.
    package func optionResult(_ value: Int32) -> Int32 {
        readsSocketError ? (status.socketErr?.rawValue ?? 0) : value
    }
}

/// Runs before a call on a socket in the table (socket: before every call). Throwing cancels the
/// call: the system call does not run, the caller gets the error, no statistic changes. It may
/// return an `AfterFilter` to run after the system call. It may block (to delay the call).
public typealias Filter = @Sendable (Call) throws(Errno) -> AfterFilter?

/// Runs after the system call, seeing its outcome in `call.status`. Throwing fails the call: the
/// caller gets the error, no statistic changes, and a descriptor the call created is closed.
/// Returning normally keeps the outcome, as rewritten in `call.status`.
public typealias AfterFilter = @Sendable (inout Call) throws(Errno) -> Void
