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
    /// A supervised program's is read from its memory when first asked for (`DeferredAddress`).
    public var address: SocketAddress? {
        get { givenAddress ?? deferredAddress?.address }
        set {
            givenAddress = newValue
            deferredAddress = nil
        }
    }
    private var givenAddress: SocketAddress?
    private var deferredAddress: DeferredAddress?
    /// listen: the backlog.
    public let backlog: Int32?
    /// getsockopt: the level and option.
    public let level: Int32?
    public let option: Int32?
    /// accept4: the flags (0 for accept); read, write: the flags of recv/send (0 for read, write).
    public let flags: Int32?
    /// read, write: the bytes the caller offered or asked for.
    public let size: Int?
    /// shutdown: how (SHUT_RD, SHUT_WR or SHUT_RDWR).
    public let how: Int32?
    /// read, write: the bytes transferred, once the call has succeeded. An after-filter may
    /// lower it (not raise it): the caller is told that many.
    public var transferred: Int?
    /// read, write: the bytes read and written on this socket before this call.
    public internal(set) var readTotal: UInt64 = 0
    public internal(set) var writtenTotal: UInt64 = 0
    /// read, write: what the before-filter answered beyond an errno or a delay (SPEC §7); nil
    /// when the call runs as asked. The supervisor acts it out for a program's call.
    public internal(set) var action: DataAction?
    /// read, write: the switch reset this socket earlier (`DataAction.reset`).
    public internal(set) var wasReset = false
    /// read, write: the call's bytes, for a filter that asks (write: those offered; read: those
    /// received, in an after-filter).
    public let data: CallData?

    init(
        _ type: FilterType, fd: Int32?, space: Int32 = 0, status: Status, address: SocketAddress? = nil,
        backlog: Int32? = nil, level: Int32? = nil, option: Int32? = nil, flags: Int32? = nil,
        size: Int? = nil, how: Int32? = nil, data: CallData? = nil
    ) {
        self.type = type
        self.fd = fd
        self.space = space
        self.status = status
        self.givenAddress = address
        self.backlog = backlog
        self.level = level
        self.option = option
        self.flags = flags
        self.size = size
        self.how = how
        self.data = data
    }

    /// The address, when no other is given, is `deferred`'s.
    mutating func deferAddress(to deferred: DeferredAddress?) {
        if givenAddress == nil { deferredAddress = deferred }
    }

    /// The bytes a filter sees as `so.data`: for a write those offered, for a read those received
    /// (nil before the read has run).
    public func bytes() -> [UInt8]? {
        switch type {
        case .write: data?.bytes(size ?? 0)
        case .read: transferred.flatMap { data?.bytes($0) }
        default: nil
        }
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
