import CSupervisor
import Glibc
import SockTestCore

/// One handler per trapped call. Each answers the notification exactly once (`Notification`
/// is consumed by its answer).
///
/// The rule (SPEC §5): the kernel makes the call in the program's own context ("continue")
/// whenever no after-filter needs its outcome. The supervisor runs the before-filter, books what
/// it can see, and continues; only for an after-filter does it make the call on the program's
/// behalf — and only when the program's context is the tool's, so the outcome is the one the
/// program would have had. Otherwise it says so (a problem naming the call) and continues.
extension Supervisor {
    func handle(_ n: st_notification, _ op: st_op, _ lead: Lead) {
        if Self.isData(op) { return handleData(n, op, lead) }
        if resume(n, lead) { return }
        // A call a filter sees may be held (a delay): from now on a restart of it resumes it.
        if let type = Self.filterType(op), sw.hasFilter(type) { lead.heldEntry = heldCalls.hold(n) }
        guard let space = processes.process(of: n.pid) else {
            _ = st_notif_continue(listener, n.id)
            if let entry = lead.heldEntry { heldCalls.answered(entry) }
            return
        }
        let call = Notification(CallContext(supervisor: self, n: n, space: space, lead: lead))
        switch op {
        case ST_OP_SOCKET: call.socket()
        case ST_OP_BIND: call.address(.bind)
        case ST_OP_CONNECT: call.address(.connect)
        case ST_OP_LISTEN: call.listen()
        case ST_OP_ACCEPT: call.accept(flags: 0)
        case ST_OP_ACCEPT4: call.accept(flags: Int32(truncatingIfNeeded: n.args.3))
        case ST_OP_GETSOCKOPT: call.getsockopt()
        case ST_OP_CLOSE: call.close()
        case ST_OP_CLOSE_RANGE, ST_OP_DUP2, ST_OP_DUP3, ST_OP_EXECVE, ST_OP_EXECVEAT:
            processes.doubt(space)
            call.proceed()
        case ST_OP_EXIT_GROUP:
            books.scan(space, exiting: true)
            call.proceed()
        default: call.proceed()
        }
    }
}

extension Supervisor {
    static func filterType(_ op: st_op) -> FilterType? {
        switch op {
        case ST_OP_SOCKET: .socket
        case ST_OP_BIND: .bind
        case ST_OP_CONNECT: .connect
        case ST_OP_LISTEN: .listen
        case ST_OP_ACCEPT, ST_OP_ACCEPT4: .accept
        case ST_OP_GETSOCKOPT: .getsockopt
        case ST_OP_CLOSE: .close
        default: nil
        }
    }

    /// A call the program makes again after a signal interrupted it while it was held: it gets
    /// the held call's outcome, without running its filter again. False for any other call.
    func resume(_ n: st_notification, _ lead: Lead) -> Bool {
        let resumption = heldCalls.resume(n, while: { st_notif_valid(listener, n.id) != 0 }, willWait: {
            lead.pass(holding: false)
        })
        guard case .resume(let entry, let outcome) = resumption else {
            if case .gone = resumption { return true }
            return false
        }
        let sent: Int32
        switch outcome {
        case .proceed: sent = st_notif_continue(listener, n.id)
        case .result(.success(let value)): sent = st_notif_respond(listener, n.id, Int64(value), 0)
        case .result(.failure(let err)): sent = st_notif_respond(listener, n.id, 0, err.rawValue)
        }
        if sent == 0 { heldCalls.answered(entry) }     // else interrupted again: kept for the next restart
        return true
    }
}

/// One trapped call of the program: answered exactly once, by one of the consuming answers.
struct Notification: ~Copyable {
    let c: CallContext
    init(_ context: CallContext) { c = context }

    var sw: Switch { c.supervisor.sw }
    var listener: Int32 { c.supervisor.listener }
    var books: ProgramBooks { c.supervisor.books }
    var supervisor: Supervisor { c.supervisor }
    var n: st_notification { c.n }
    var space: Int32 { c.space }
    var fd: Int32 { Int32(truncatingIfNeeded: c.n.args.0) }

    // MARK: Answers (each consumes the call: one answer per notification)

    consuming func proceed() { delivered(st_notif_continue(listener, n.id), .proceed) }

    consuming func answer(_ result: Result<Int32, Errno>) {
        switch result {
        case .success(let value): delivered(st_notif_respond(listener, n.id, Int64(value), 0), .result(result))
        case .failure(let err): delivered(st_notif_respond(listener, n.id, 0, err.rawValue), .result(result))
        }
    }

    /// After an answer: a held call whose notification a signal took away keeps its outcome
    /// for the call's restart (`HeldCalls`).
    private func delivered(_ sent: Int32, _ outcome: HeldCalls.Outcome) {
        guard let entry = c.lead.heldEntry else { return }
        // Gone before its filter ran: its restart is a call of its own.
        if sent != 0 && errno == ENOENT && entry.filtered {
            supervisor.heldCalls.abandoned(entry, outcome)
        } else {
            supervisor.heldCalls.answered(entry)
        }
    }

    /// A descriptor-creating call made on the program's behalf was answered by ADDFD already
    /// (or must still be answered with its failure).
    consuming func answered(_ result: Result<Int32, Errno>, byAddfd: Bool) {
        if byAddfd, case .success = result {
            if let entry = c.lead.heldEntry { supervisor.heldCalls.answered(entry) }
            return
        }
        if case .failure = result, c.lead.addfdFoundCallGone {
            // The descriptor could not be handed over (the call was interrupted): it was closed,
            // and the restart makes the call afresh. (Not an ENOENT a filter chose: that one is
            // answered.)
            if let entry = c.lead.heldEntry { supervisor.heldCalls.answered(entry) }
            return
        }
        answer(result)
    }

    // MARK: The calls

    consuming func socket() {
        let sw = self.sw, c = self.c   // for closures: self is consumed by its answer
        let family = Int32(truncatingIfNeeded: n.args.0)
        let type = Int32(truncatingIfNeeded: n.args.1)
        let proto = Int32(truncatingIfNeeded: n.args.2)
        let cookie = Cookie(family: family, type: type, protocol: proto)
        let creation = ProcessTable.Creation(kind: .socket, cookie: cookie)
        var call = sw.programCall(.socket, space: space, fd: nil, cookie: cookie)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        guard let admitted, admitted.after != nil, c.mayActOnBehalf("socket()") else {
            if let admitted { sw.continued(call, admitted) }
            supervisor.processes.creating(creation, in: space, by: n.pid)
            return proceed()
        }
        let cloexec = Int32(SOCK_CLOEXEC.rawValue)
        let outcome = Result { () throws(Errno) -> Int32 in try Sys.socket(family, type | cloexec, proto) }
        if case .success(let local) = outcome, let identity = SocketIdentity.of(local) {
            var made = creation
            made.identity = identity
            supervisor.processes.creating(made, in: space, by: n.pid)
        }
        let result = Result { () throws(Errno) -> Int32 in
            try sw.completeProgramCall(&call, outcome, admitted,
                                       commit: { local throws(Errno) in try c.installAndAnswer(local, cloexec: type & cloexec != 0) })
        }
        if case .success(let target) = result { books.learnNow(SocketKey(space: space, fd: target)) }
        answered(result, byAddfd: true)
    }

    /// bind and connect: the address comes from the program's memory, read only when the filter
    /// (or a trace) asks for it. One the kernel would refuse (a length of more than
    /// sockaddr_storage or less than 0, a NULL pointer) is left to the kernel, so the program
    /// gets the kernel's own error; so is a call the filter would have the tool make or answer
    /// when its address cannot be read.
    consuming func address(_ type: FilterType) {
        let sw = self.sw, c = self.c   // for closures: self is consumed by its answer
        let length = Int32(truncatingIfNeeded: n.args.2), pointer = n.args.1
        guard let key = books.tracked(space, fd) else { return proceed() }
        guard sw.hasFilter(type), (0...Int32(MemoryLayout<sockaddr_storage>.size)).contains(length), pointer != 0 else {
            sw.continued(sw.programCall(type, space: space, fd: key.fd))
            return proceed()
        }
        let deferred = DeferredAddress { c.read(pointer, Int(length)).flatMap(SocketAddress.init(bytes:)) }
        defer { deferred.invalidate() }      // answered: the memory is no longer the call's
        var call = sw.programCall(type, space: space, fd: key.fd, deferredAddress: deferred)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        let unanswered = type == .connect ? Unanswered.take() : 0
        // The address is read here only when the tool must make or answer the call itself.
        let needsAddress = admitted != nil && (unanswered > 0 || admitted?.after != nil)
        let address = needsAddress ? call.address : nil
        if needsAddress && address == nil {
            supervisor.problem("\(type)() in pid \(space): the address could not be read from the program or is of no family the tool shows, so its filter's after-filter or unanswered connect did not happen and the kernel made the call")
        }
        if let admitted, unanswered > 0, let address {
            return answer(Result { () throws(Errno) -> Int32 in
                try sw.completeProgramCall(&call, c.unanswered(address, unanswered), admitted)
            })
        }
        guard let admitted, admitted.after != nil, let address, c.mayActOnBehalf("\(type)() to \(address)") else {
            if let admitted { sw.continued(call, admitted) } else { sw.continued(call) }
            return proceed()
        }
        let outcome = Result { () throws(Errno) -> Int32 in
            try c.withCopy { copy throws(Errno) in
                if type == .bind { return try Sys.bind(copy, address) }
                return try c.connect(copy, address)
            }
        }
        answer(Result { () throws(Errno) -> Int32 in try sw.completeProgramCall(&call, outcome, admitted) })
    }

    consuming func listen() {
        let sw = self.sw, c = self.c   // for closures: self is consumed by its answer
        let backlog = Int32(truncatingIfNeeded: n.args.1)
        guard let key = books.tracked(space, fd) else { return proceed() }
        guard sw.hasFilter(.listen) else {
            sw.continued(sw.programCall(.listen, space: space, fd: key.fd))
            return proceed()
        }
        var call = sw.programCall(.listen, space: space, fd: key.fd, backlog: backlog)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        guard let admitted, admitted.after != nil, c.mayActOnBehalf("listen()") else {
            if let admitted { sw.continued(call, admitted) } else { sw.continued(call) }
            return proceed()
        }
        let outcome = Result { () throws(Errno) -> Int32 in
            try c.withCopy { copy throws(Errno) in try Sys.listen(copy, backlog) }
        }
        answer(Result { () throws(Errno) -> Int32 in try sw.completeProgramCall(&call, outcome, admitted) })
    }

    consuming func accept(flags: Int32) {
        let sw = self.sw, c = self.c   // for closures: self is consumed by its answer
        guard let key = books.tracked(space, fd), let listenerIdentity = sw.identity(of: key) else { return proceed() }
        let cookie = sw.cookie(ofIdentity: listenerIdentity) ?? Cookie(rawValue: 0)
        let creation = ProcessTable.Creation(kind: .accept(listener: listenerIdentity, fd: key.fd), cookie: cookie)
        var call = sw.programCall(.accept, space: space, fd: key.fd, flags: flags)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        guard let admitted, admitted.after != nil else {
            if let admitted { sw.continued(call, admitted) }
            supervisor.processes.creating(creation, in: space, by: n.pid)
            return proceed()
        }
        // On the program's behalf, for the after-filter: the kernel's argument checks first.
        let addressOut = n.args.1, lengthOut = n.args.2
        if addressOut != 0 {
            guard lengthOut != 0, let capacity = c.readInt32(lengthOut) else { return answer(.failure(.badAddress)) }
            guard capacity >= 0 else { return answer(.failure(.invalidArgument)) }
        }
        let cloexec = Int32(SOCK_CLOEXEC.rawValue)
        let outcome = Result { () throws(Errno) -> Int32 in
            try c.withCopy { copy throws(Errno) in
                try c.waitReadable(copy)
                let (local, peer) = try Sys.accept(copy, flags | cloexec)
                call.address = peer
                return local
            }
        }
        if case .failure(.interrupted) = outcome, st_notif_valid(listener, n.id) == 0 {
            // A signal took the program's call away while it waited: nothing was accepted. Its
            // restart makes the call in the kernel, its filter having run once (`HeldCalls`).
            if let entry = c.lead.heldEntry { supervisor.heldCalls.abandoned(entry, .proceed) }
            supervisor.processes.creating(creation, in: space, by: n.pid)
            return
        }
        if case .success(let local) = outcome, let identity = SocketIdentity.of(local) {
            var made = creation
            made.identity = identity
            supervisor.processes.creating(made, in: space, by: n.pid)
        }
        let result = Result { () throws(Errno) -> Int32 in
            try sw.completeProgramCall(&call, outcome, admitted, commit: { local throws(Errno) in
                if addressOut != 0 {
                    try c.writePeer((try? Sys.getpeername(local)) ?? nil, to: addressOut, length: lengthOut)
                }
                return try c.installAndAnswer(local, cloexec: flags & cloexec != 0)
            })
        }
        if case .success(let target) = result { books.learnNow(SocketKey(space: space, fd: target)) }
        answered(result, byAddfd: true)
    }

    consuming func getsockopt() {
        let sw = self.sw, c = self.c   // for closures: self is consumed by its answer
        let level = Int32(truncatingIfNeeded: n.args.1), option = Int32(truncatingIfNeeded: n.args.2)
        let valueOut = n.args.3, lengthOut = n.args.4
        // Only integer options of tracked sockets; anything else the kernel answers itself.
        guard sw.hasFilter(.getsockopt), c.readInt32(lengthOut) == 4, let key = books.tracked(space, fd) else { return proceed() }
        var call = sw.programCall(.getsockopt, space: space, fd: key.fd, level: level, option: option)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        guard let admitted, admitted.after != nil, c.mayActOnBehalf("getsockopt()") else {
            if let admitted { sw.continued(call, admitted) }
            return proceed()
        }
        let outcome = Result { () throws(Errno) -> Int32 in
            let value = try c.withCopy { copy throws(Errno) in try Sys.getsockoptInt(copy, level, option) }
            call.observe(optionValue: value)
            return value
        }
        answer(Result { () throws(Errno) -> Int32 in
            let value = try sw.completeProgramCall(&call, outcome, admitted)
            try c.write(valueOut, withUnsafeBytes(of: call.optionResult(value)) { Array($0) })
            return 0
        })
    }

    /// close: the kernel closes the descriptor itself ("continue") once the filters let it, and
    /// the books let go of it first (so a number the program reuses at once is learned anew); a
    /// filter that fails the close answers with its error and the descriptor stays open. An
    /// after-filter sees the close as succeeded: Linux releases the descriptor even when close
    /// reports an error.
    consuming func close() {
        supervisor.processes.closing(SocketKey(space: space, fd: fd), by: n.pid)
        // A number the table does not know, in a process that owes no creation: not a socket of
        // the switch's (at most another descriptor of one, whose close changes no count), so
        // unless a close filter wants to see it, it goes at once (a server's file closes).
        if !sw.hasFilter(.close), sw.identity(of: SocketKey(space: space, fd: fd)) == nil,
           !supervisor.processes.hasCreations(in: space) {
            return proceed()
        }
        guard let key = books.tracked(space, fd) else {
            let processes = supervisor.processes, books = self.books, space = self.space, tid = n.pid
            let before = processes.lastSerial
            proceed()
            // Creations owed by sockets no trapped call has shown yet (a keep-alive server's
            // connections) would have every file close checked: match them now and then.
            if processes.hasCreations(in: space), processes.checkedInVain(in: space), books.scan(space, exiting: false) {
                processes.dropCreations(in: space, by: tid, upTo: before)
            }
            return
        }
        guard sw.hasFilter(.close) else {        // no filter to run: the books only
            books.settle(key)
            sw.forget(key)
            return proceed()
        }
        var call = sw.programCall(.close, space: space, fd: key.fd)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        books.settle(key)
        guard let admitted, admitted.after != nil else {
            if let admitted { sw.continued(call, admitted) }
            sw.forget(key)
            return proceed()
        }
        let identity = sw.identity(of: key), cookie = call.status.cookie
        do throws(Errno) {
            _ = try sw.completeProgramCall(&call, .success(0), admitted)
            proceed()
        } catch {
            // The program is told the close failed and keeps its descriptor: so do the books.
            if let identity { sw.learn(key, identity: identity, cookie: cookie, origin: .copy) }
            answer(.failure(error))
        }
    }
}

/// What answering a call needs besides the answer: the program's memory and descriptors, and
/// the calls made on its behalf.
struct CallContext {
    let supervisor: Supervisor
    let n: st_notification
    let space: Int32
    let lead: Lead

    var sw: Switch { supervisor.sw }
    var listener: Int32 { supervisor.listener }
    var books: ProgramBooks { supervisor.books }
    var fd: Int32 { Int32(truncatingIfNeeded: n.args.0) }

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
        guard let copy = books.copy(space, fd) else { throw .badFileDescriptor }
        return try body(copy.fd)
    }

    /// Puts our descriptor into the program and answers the call with its number there, in one
    /// step; the number.
    func installAndAnswer(_ local: Int32, cloexec: Bool) throws(Errno) -> Int32 {
        let target = st_notif_addfd(listener, n.id, local, cloexec ? 1 : 0, 1)
        guard target >= 0 else {
            let err = Errno(rawValue: errno)
            if err == .noSuchFileOrDirectory { lead.addfdFoundCallGone = true }
            throw err
        }
        return target
    }

    /// Runs the call's before-filter. From then on, a restart of the call (after a signal)
    /// resumes it: what the filter decided holds for the restarted call too.
    func admit(_ call: inout Call) throws(Errno) -> Admitted? {
        defer { lead.heldEntry?.filtered = true }
        return try sw.admitProgramCall(&call)
    }

    /// Whether the supervisor may make this call for the program: its context is the tool's.
    /// When not, the problem is reported and the kernel makes the call without the after-filter.
    func mayActOnBehalf(_ what: String) -> Bool {
        guard let difference = ProgramContext.difference(space) else { return true }
        supervisor.problem("\(what) in pid \(space): its after-filter did not run — the call needs the program's own \(difference), so the kernel made it (after-filters are run only where the tool can make the call as the program would)")
        return false
    }

    /// A connect no peer answers (`Unanswered`), made on the program's socket: it is in the
    /// tool's network namespace (where the black hole is) when the program is; elsewhere the
    /// call waits here and times out.
    func unanswered(_ address: SocketAddress, _ seconds: Double) -> Result<Int32, Errno> {
        guard ProcFile.link("/proc/\(space)/ns/net") == ProcFile.link("/proc/self/ns/net") else {
            Waiting.willWait()
            Waiting.sleep(seconds)
            return .failure(.timedOut)
        }
        return Result { () throws(Errno) -> Int32 in
            try withCopy { copy throws(Errno) in
                if fcntl(copy, F_GETFL) & O_NONBLOCK == 0 { lead.pass() }   // it blocks until it times out
                return try Unanswered.connect(copy, family: address.family, seconds: seconds)
            }
        }
    }

    /// A blocking connect usually ends at once (loopback: microseconds), so it is tried on this
    /// thread, cut short after 50 ms. One that really waits then waits after the lead has passed
    /// on: a second connect waits for the attempt in progress (TCP) or starts it afresh (unix),
    /// and returns its outcome. (Not 1 ms: arming an alarm due that soon reprograms the timer
    /// device each time on this virtual machine.)
    func connect(_ copy: Int32, _ address: SocketAddress) throws(Errno) -> Int32 {
        guard fcntl(copy, F_GETFL) & O_NONBLOCK == 0 else { return try Sys.connect(copy, address) }
        do {
            return try lead.briefly(0.05) { () throws(Errno) in try Sys.connect(copy, address) }
        } catch where error == .interrupted {
            lead.pass()
            return try Sys.connect(copy, address)
        }
    }

    /// A blocking listener: wait for a connection (letting another thread take the next calls
    /// when none is queued), giving up when the program's call is gone (it was interrupted, or
    /// the program exited).
    func waitReadable(_ copy: Int32) throws(Errno) {
        guard fcntl(copy, F_GETFL) & O_NONBLOCK == 0 else { return }
        try waitReady(copy, Int16(POLLIN), timeout: nil)
    }

    /// Waits until our copy of the program's socket is ready for `events`, letting another
    /// thread take the next calls when it is not ready now: EINTR when the program's call is
    /// gone meanwhile (interrupted, or the program exited), EAGAIN after `timeout` seconds (a
    /// socket's SO_RCVTIMEO or SO_SNDTIMEO).
    func waitReady(_ copy: Int32, _ events: Int16, timeout: Double?) throws(Errno) {
        var p = pollfd(fd: copy, events: events, revents: 0)
        if poll(&p, 1, 0) > 0 { return }
        lead.pass()
        let deadline = timeout.map { monotonicSeconds() + $0 }
        while true {
            // Clamped as a Double: a timeout of weeks is more milliseconds than an Int32 holds.
            let slice = deadline.map { Int32(max(0, min(200, ($0 - monotonicSeconds()) * 1000)) + 1) } ?? 200
            p.revents = 0
            if poll(&p, 1, slice) > 0 { return }
            if st_notif_valid(listener, n.id) == 0 { throw .interrupted }
            if let deadline, monotonicSeconds() >= deadline { throw .resourceTemporarilyUnavailable }
        }
    }

    /// accept's address out-parameters: as many bytes as the program's buffer holds, and the
    /// address's full length.
    func writePeer(_ peer: SocketAddress?, to address: UInt64, length lengthAddress: UInt64) throws(Errno) {
        guard let capacity = readInt32(lengthAddress) else { throw .badAddress }
        let bytes = peer?.bytes ?? []
        if capacity > 0 && !bytes.isEmpty { try write(address, Array(bytes.prefix(Int(capacity)))) }
        try write(lengthAddress, withUnsafeBytes(of: Int32(bytes.count)) { Array($0) })
    }

}
