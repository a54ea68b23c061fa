import CSupervisor
import Glibc
import SockTestCore

/// One handler per trapped call. Each answers the notification exactly once: with the
/// switch's result, or "continue" (let the kernel run it) for calls the switch does not track.
extension Supervisor {
    func handle(_ n: st_notification, _ op: st_op, _ lead: Lead) {
        guard let space = processes.process(of: n.pid) else {
            _ = st_notif_continue(listener, n.id)
            return
        }
        let call = Notification(supervisor: self, n: n, space: space, lead: lead)
        switch op {
        case ST_OP_SOCKET: call.socket()
        case ST_OP_BIND: call.address(.bind)
        case ST_OP_CONNECT: call.address(.connect)
        case ST_OP_LISTEN: call.listen()
        case ST_OP_ACCEPT: call.accept(flags: 0)
        case ST_OP_ACCEPT4: call.accept(flags: Int32(truncatingIfNeeded: n.args.3))
        case ST_OP_GETSOCKOPT: call.getsockopt()
        case ST_OP_CLOSE: call.close()
        default: call.proceed()
        }
    }
}

/// One trapped call of the program and the ways to answer it.
struct Notification {
    let supervisor: Supervisor
    let n: st_notification
    let space: Int32
    let lead: Lead

    var sw: Switch { supervisor.sw }
    var listener: Int32 { supervisor.listener }
    var fd: Int32 { Int32(truncatingIfNeeded: n.args.0) }
    var key: SocketKey { SocketKey(space: space, fd: fd) }

    // MARK: Answers

    func proceed() { _ = st_notif_continue(listener, n.id) }

    func answer(_ result: Result<Int32, Errno>) {
        switch result {
        case .success(let value): _ = st_notif_respond(listener, n.id, Int64(value), 0)
        case .failure(let err): _ = st_notif_respond(listener, n.id, 0, err.rawValue)
        }
    }

    func answer(_ body: () throws(Errno) -> Int32) { answer(Result(catching: body)) }

    // MARK: The program's memory and descriptors

    /// Bytes at `address` in the program; nil when it cannot be read, or when the call is gone
    /// meanwhile (the id check makes what was read trustworthy).
    func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        guard address != 0, count > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        guard st_vm_read(n.pid, address, &bytes, count) == count, st_notif_valid(listener, n.id) != 0 else { return nil }
        return bytes
    }

    func write(_ address: UInt64, _ bytes: [UInt8]) throws(Errno) {
        guard st_vm_write(n.pid, address, bytes, bytes.count) == bytes.count else { throw .badAddress }
    }

    func readInt32(_ address: UInt64) -> Int32? {
        read(address, 4).map { $0.withUnsafeBytes { $0.load(as: Int32.self) } }
    }

    /// Runs `body` with the supervisor's own copy of the program's descriptor (the same socket).
    func withCopy(_ body: (Int32) throws(Errno) -> Int32) throws(Errno) -> Int32 {
        guard let pidfd = supervisor.processes.pidfd(space) else { throw .noSuchProcess }
        let copy = st_pidfd_getfd(pidfd, fd)
        guard copy >= 0 else { throw Errno(rawValue: errno) }
        defer { Glibc.close(copy) }
        return try body(copy)
    }

    /// Puts our descriptor into the program and answers the call with its number there, in one
    /// step; the number.
    func installAndAnswer(_ local: Int32, cloexec: Bool) throws(Errno) -> Int32 {
        let target = st_notif_addfd(listener, n.id, local, cloexec ? 1 : 0, 1)
        guard target >= 0 else { throw Errno(rawValue: errno) }
        return target
    }

    /// A call that creates a descriptor: `body` commits with `installAndAnswer`, which answers;
    /// only a failure is left to answer here.
    func creating(_ body: () throws(Errno) -> Int32) {
        supervisor.processes.creating(in: space) {
            do throws(Errno) { _ = try body() } catch { answer(.failure(error)) }
        }
    }

    // MARK: The calls

    func socket() {
        let family = Int32(truncatingIfNeeded: n.args.0)
        let type = Int32(truncatingIfNeeded: n.args.1)
        let proto = Int32(truncatingIfNeeded: n.args.2)
        let cloexec = Int32(SOCK_CLOEXEC.rawValue)
        creating { () throws(Errno) -> Int32 in
            try sw.intercept(
                .socket, space: space, fd: nil, cookie: Cookie(family: family, type: type, protocol: proto),
                perform: { _ throws(Errno) in try Sys.socket(family, type | cloexec, proto) },
                commit: { local throws(Errno) in try installAndAnswer(local, cloexec: type & cloexec != 0) }
            ).value
        }
    }

    /// bind and connect: the address comes from the program's memory.
    func address(_ type: FilterType) {
        let length = Int(min(n.args.2, UInt64(MemoryLayout<sockaddr_storage>.size)))
        guard supervisor.processes.isTracked(key), let bytes = read(n.args.1, length), let address = SocketAddress(bytes: bytes),
              !Self.isRelativeUnixPath(address) else {
            return proceed()    // untracked, unreadable, or a path relative to the program's cwd
        }
        answer { () throws(Errno) -> Int32 in
            try sw.intercept(type, space: space, fd: fd, address: address, perform: { _ throws(Errno) in
                try withCopy { copy throws(Errno) in
                    if type == .bind { return try Sys.bind(copy, address) }
                    return try connect(copy, address)
                }
            }).value
        }
    }

    /// A blocking connect usually ends at once (loopback: microseconds), so it is tried on this
    /// thread, cut short after 50 ms. One that really waits then waits after the lead has passed
    /// on: a second connect waits for the attempt in progress (TCP) or starts it afresh (unix),
    /// and returns its outcome. (Not 1 ms: arming an alarm due that soon reprograms the timer
    /// device each time on this virtual machine; W2 under `run` measured 5.5× native with it,
    /// 3.5× with 50 ms.)
    private func connect(_ copy: Int32, _ address: SocketAddress) throws(Errno) -> Int32 {
        guard fcntl(copy, F_GETFL) & O_NONBLOCK == 0 else { return try Sys.connect(copy, address) }
        do {
            return try lead.briefly(0.05) { () throws(Errno) in try Sys.connect(copy, address) }
        } catch where error == .interrupted {
            lead.pass()
            return try Sys.connect(copy, address)
        }
    }

    func listen() {
        guard supervisor.processes.isTracked(key) else { return proceed() }
        let backlog = Int32(truncatingIfNeeded: n.args.1)
        answer { () throws(Errno) -> Int32 in
            try sw.intercept(.listen, space: space, fd: fd, backlog: backlog, perform: { _ throws(Errno) in
                try withCopy { copy throws(Errno) in try Sys.listen(copy, backlog) }
            }).value
        }
    }

    func accept(flags: Int32) {
        guard supervisor.processes.isTracked(key) else { return proceed() }
        let cloexec = Int32(SOCK_CLOEXEC.rawValue)
        let addressOut = n.args.1, lengthOut = n.args.2
        creating { () throws(Errno) -> Int32 in
            try sw.intercept(.accept, space: space, fd: fd, flags: flags, perform: { call throws(Errno) in
                try withCopy { copy throws(Errno) in
                    try waitReadable(copy)
                    let (local, peer) = try Sys.accept(copy, flags | cloexec)
                    call.address = peer
                    return local
                }
            }, commit: { local throws(Errno) in
                if addressOut != 0, lengthOut != 0 {
                    try writePeer(supervisorPeer(local), to: addressOut, length: lengthOut)
                }
                return try installAndAnswer(local, cloexec: flags & cloexec != 0)
            }).value
        }
    }

    /// A blocking listener: wait for a connection (letting another thread take the next calls
    /// when none is queued), giving up when the program's call is gone (it was interrupted, or
    /// the program exited).
    private func waitReadable(_ copy: Int32) throws(Errno) {
        guard fcntl(copy, F_GETFL) & O_NONBLOCK == 0 else { return }
        var p = pollfd(fd: copy, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 0) > 0 { return }
        lead.pass()
        while true {
            p.revents = 0
            if poll(&p, 1, 200) > 0 { return }
            if st_notif_valid(listener, n.id) == 0 { throw .interrupted }
        }
    }

    private func supervisorPeer(_ local: Int32) -> SocketAddress? { (try? Sys.getpeername(local)) ?? nil }

    /// accept's address out-parameters: as many bytes as the program's buffer holds, and the
    /// address's full length.
    private func writePeer(_ peer: SocketAddress?, to address: UInt64, length lengthAddress: UInt64) throws(Errno) {
        guard let capacity = readInt32(lengthAddress) else { throw .badAddress }
        let bytes = peer?.bytes ?? []
        if capacity > 0 && !bytes.isEmpty { try write(address, Array(bytes.prefix(Int(capacity)))) }
        try write(lengthAddress, withUnsafeBytes(of: Int32(bytes.count)) { Array($0) })
    }

    func getsockopt() {
        let level = Int32(truncatingIfNeeded: n.args.1), option = Int32(truncatingIfNeeded: n.args.2)
        let valueOut = n.args.3, lengthOut = n.args.4
        // Only integer options of tracked sockets; anything else the kernel answers itself.
        guard supervisor.processes.isTracked(key), readInt32(lengthOut) == 4 else { return proceed() }
        answer { () throws(Errno) -> Int32 in
            let (value, call) = try sw.intercept(.getsockopt, space: space, fd: fd, level: level, option: option,
                                                 perform: { call throws(Errno) in
                let value = try withCopy { copy throws(Errno) in try Sys.getsockoptInt(copy, level, option) }
                call.observe(optionValue: value)
                return value
            })
            try write(valueOut, withUnsafeBytes(of: call.optionResult(value)) { Array($0) })
            return 0
        }
    }

    /// close: the kernel closes the descriptor itself ("continue") once the filters let it;
    /// a filter that fails the close answers with its error and the descriptor stays open.
    func close() {
        guard supervisor.processes.isTracked(key) else { return proceed() }
        do {
            _ = try sw.intercept(.close, space: space, fd: fd, perform: { _ throws(Errno) in 0 })
            proceed()
        } catch {
            answer(.failure(error))
        }
    }

    private static func isRelativeUnixPath(_ address: SocketAddress) -> Bool {
        address.family == AF_UNIX && !address.description.hasPrefix("/") && !address.description.hasPrefix("@")
    }
}
