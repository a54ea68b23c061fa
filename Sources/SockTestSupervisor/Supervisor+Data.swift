import CSupervisor
import Glibc
import SockTestCore

/// The data path (SPEC §7): read, readv, recvfrom, recvmsg, recvmmsg, write, writev, sendto,
/// sendmsg, sendmmsg and shutdown, trapped only while the script filters them.
///
/// A call on a descriptor that names no tracked socket (a file, a pipe, the terminal) goes on at
/// once. On a tracked socket its before-filter runs; the kernel then makes the call in the
/// program's context unless the filter answered short, eof, reset or drop, or returned an
/// after-filter, or the switch reset the socket before (a read then returns 0, as after a real
/// reset). Then the supervisor makes the call on the program's behalf on its copy of the socket,
/// moving the bytes between the program's memory and the socket itself, and the call is
/// counted (its bytes too: a call the kernel makes shows the supervisor no result).
extension Supervisor {
    func handleData(_ n: st_notification, _ op: st_op, _ lead: Lead) {
        let fd = Int32(truncatingIfNeeded: n.args.0)
        guard let space = processes.process(of: n.pid), !processes.isUntracked(SocketKey(space: space, fd: fd)) else {
            _ = st_notif_continue(listener, n.id)
            return
        }
        if resume(n, lead) { return }
        guard let key = books.trackedForData(space, fd) else {
            _ = st_notif_continue(listener, n.id)
            return
        }
        let type = Self.dataType(op)
        // A call a filter sees may be held (a delay): from now on a restart of it resumes it.
        if sw.hasFilter(type) { lead.heldEntry = heldCalls.hold(n) }
        let call = Notification(CallContext(supervisor: self, n: n, space: space, lead: lead))
        if type == .shutdown { call.shutdown(key) } else { call.transfer(op, type, key) }
    }

    static func isData(_ op: st_op) -> Bool {
        op == ST_OP_SHUTDOWN || dataOps.contains(op)
    }

    static func dataType(_ op: st_op) -> FilterType {
        switch op {
        case ST_OP_SHUTDOWN: .shutdown
        case ST_OP_READ, ST_OP_READV, ST_OP_RECVFROM, ST_OP_RECVMSG, ST_OP_RECVMMSG: .read
        default: .write
        }
    }
}

extension Notification {
    consuming func transfer(_ op: st_op, _ type: FilterType, _ key: SocketKey) {
        let sw = self.sw, c = self.c, space = self.space, tid = n.pid   // self is consumed by its answer
        guard let request = ProgramTransfer(op, n, c) else { return proceed() }   // the kernel's error
        let received = Received()
        let data = CallData { count in request.kind == .write ? request.gather(count, c) : received.prefix(count) }
        defer { data.invalidate() }
        var call = sw.programCall(type, space: space, fd: key.fd, address: request.destination,
                                  flags: request.flags, size: request.size, data: data)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        guard let admitted else { return proceed() }
        // eof, drop, reset, and a read after a reset: answered without moving a byte.
        let movesNothing = call.action.map { if case .short = $0 { false } else { true } } ?? (call.wasReset && type == .read)
        guard admitted.after != nil || call.action != nil || movesNothing,
              movesNothing || c.mayTransfer(request, "\(op.name)()") else {
            sw.continued(call, admitted)
            return proceed()
        }
        // Taken away by a signal while its filter ran (a delay): nothing has moved. An answer
        // that moves no byte (eof, drop, reset) is the outcome its restart gets; any other
        // restart is made by the kernel, its filter having run once (`HeldCalls`).
        if st_notif_valid(listener, n.id) == 0 {
            guard let entry = c.lead.heldEntry else { return }
            guard movesNothing else { return supervisor.heldCalls.abandoned(entry, .proceed) }
            let outcome = Result { () throws(Errno) -> Int32 in
                try c.withCopy { copy throws(Errno) in
                    Int32(clamping: try call.perform(reset: { Sys.resetStream(copy) }) { _ throws(Errno) in 0 })
                }
            }
            let result = Result { () throws(Errno) -> Int32 in request.answer(try sw.completeProgramCall(&call, outcome, admitted)) }
            return supervisor.heldCalls.abandoned(entry, .result(result))
        }
        var source: SocketAddress?
        var messageFlags: Int32 = 0
        let outcome = Result { () throws(Errno) -> Int32 in
            try c.withCopy { copy throws(Errno) in
                Int32(clamping: try call.perform(reset: { Sys.resetStream(copy) }) { limit throws(Errno) in
                    switch request.kind {
                    case .read: try c.receive(copy, request, limit, into: received, source: &source, flags: &messageFlags)
                    case .write: try c.send(copy, request, limit)
                    }
                })
            }
        }
        if case .failure(.interrupted) = outcome, st_notif_valid(listener, n.id) == 0 {
            // The same while it waited on behalf: nothing moved.
            if let entry = c.lead.heldEntry { supervisor.heldCalls.abandoned(entry, .proceed) }
            return
        }
        if let source { call.address = source }
        let result = Result { () throws(Errno) -> Int32 in
            let count = try sw.completeProgramCall(&call, outcome, admitted)
            switch request.kind {
            case .read:
                try request.scatter(received.prefix(Int(count))[...], c)
                try request.writeBack(name: source, flags: messageFlags, count: count, c)
            case .write:
                try request.writeSent(count, c)
            }
            return request.answer(count)
        }
        // The kernel signals a write to a broken connection (unless MSG_NOSIGNAL): so does the
        // supervisor, once the call is answered (a signal before would take the call away).
        let broken = Result<Int32, Errno>.failure(.brokenPipe)
        let signals = type == .write && outcome == broken && result == broken && request.flags & Int32(MSG_NOSIGNAL) == 0
        answer(result)
        if signals { _ = st_signal_thread(space, tid, SIGPIPE) }
    }

    consuming func shutdown(_ key: SocketKey) {
        let sw = self.sw, c = self.c   // for closures: self is consumed by its answer
        let how = Int32(truncatingIfNeeded: n.args.1)
        var call = sw.programCall(.shutdown, space: space, fd: key.fd, how: how)
        let admitted: Admitted?
        do throws(Errno) { admitted = try c.admit(&call) } catch { return answer(.failure(error)) }
        guard let admitted, admitted.after != nil else {
            if let admitted { sw.continued(call, admitted) }
            return proceed()
        }
        let outcome = Result { () throws(Errno) -> Int32 in
            try c.withCopy { copy throws(Errno) in try Sys.shutdown(copy, how) }
        }
        answer(Result { () throws(Errno) -> Int32 in try sw.completeProgramCall(&call, outcome, admitted) })
    }
}

/// The bytes a read made on behalf received, until they are in the program's memory (and for a
/// filter reading `so.data`).
final class Received: @unchecked Sendable {
    var bytes: [UInt8] = []
    var count = 0
    func prefix(_ n: Int) -> [UInt8] { Array(bytes.prefix(min(n, count))) }
}

extension CallContext {
    /// Whether the call can be made on the program's behalf as the kernel would make it (its
    /// bytes really moved: eof, drop and reset move none, nor a read after a reset). Not one
    /// with ancillary data (descriptors and credentials are the program's); not a send to a
    /// unix path when the program's root or working directory differ from the tool's.
    func mayTransfer(_ request: ProgramTransfer, _ what: String) -> Bool {
        if request.hasControl {
            supervisor.problem("\(what) with ancillary data in pid \(space): its after-filter or short answer did not run — the kernel made the call (calls carrying descriptors or credentials are not made on the program's behalf)")
            return false
        }
        if let destination = request.destination, destination.family == AF_UNIX {
            return mayActOnBehalf("\(what) to \(destination)")
        }
        return true
    }

    /// Whether a call on our copy would block: the socket (shared with the program) is blocking
    /// and the program did not pass MSG_DONTWAIT.
    private func blocks(_ copy: Int32, _ flags: Int32) -> Bool {
        flags & Int32(MSG_DONTWAIT) == 0 && fcntl(copy, F_GETFL) & O_NONBLOCK == 0
    }

    /// A receive made on behalf: at most `limit` bytes into `received`. Waits as the kernel would
    /// (a blocking socket, its SO_RCVTIMEO, MSG_WAITALL) without holding the other calls.
    func receive(_ copy: Int32, _ request: ProgramTransfer, _ limit: Int, into received: Received,
                 source: inout SocketAddress?, flags messageFlags: inout Int32) throws(Errno) -> Int {
        let blocking = blocks(copy, request.flags)
        let timeout = blocking ? Self.timeout(copy, SO_RCVTIMEO) : nil
        let waitAll = blocking && request.flags & Int32(MSG_WAITALL) != 0
            && (try? Sys.getsockoptInt(copy, SOL_SOCKET, SO_TYPE)) == Int32(SOCK_STREAM.rawValue)
        let flags = (request.flags | Int32(MSG_DONTWAIT)) & ~Int32(MSG_WAITALL)
        received.bytes = [UInt8](repeating: 0, count: min(limit, Self.readLimit))
        received.count = 0
        while true {
            let got = received.count
            let step = received.bytes.withUnsafeMutableBytes { raw in
                Result { () throws(Errno) -> (Int, SocketAddress?, Int32) in
                    try Sys.receiveMessage(copy, UnsafeMutableRawBufferPointer(rebasing: raw[got...]), flags)
                }
            }
            switch step {
            case .success(let (n, from, flags)):
                if got == 0 { (source, messageFlags) = (from, flags) }
                received.count += n
                if !waitAll || n == 0 || received.count >= received.bytes.count { return received.count }
            case .failure(let error):
                if let done = try ended(error, moved: got, copy, Int16(POLLIN), blocking: blocking, timeout: timeout) { return done }
            }
        }
    }

    /// A send made on behalf: at most `limit` of the bytes the program offers, read from its
    /// memory a chunk at a time. A blocking stream socket sends them all, as the kernel does,
    /// waiting without holding the other calls; MSG_NOSIGNAL always (the program's thread gets
    /// its SIGPIPE from the supervisor).
    func send(_ copy: Int32, _ request: ProgramTransfer, _ limit: Int) throws(Errno) -> Int {
        let blocking = blocks(copy, request.flags)
        let timeout = blocking ? Self.timeout(copy, SO_SNDTIMEO) : nil
        let flags = request.flags | Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)
        // A datagram goes whole; a stream's bytes a chunk at a time.
        let datagram = (try? Sys.getsockoptInt(copy, SOL_SOCKET, SO_TYPE)) != Int32(SOCK_STREAM.rawValue)
        let chunk = datagram ? limit : min(limit, Self.chunk)
        var sent = 0
        var bytes: [UInt8] = []
        var start = 0       // where `bytes` begins in the program's buffers
        repeat {
            if sent - start >= bytes.count {
                guard let next = request.gather(min(chunk, limit - sent), from: sent, self) else {
                    if sent > 0 { return sent }
                    throw .badAddress
                }
                (bytes, start) = (next, sent)
            }
            let from = sent - start
            let step = bytes.withUnsafeBytes { raw in
                Result { () throws(Errno) -> Int in
                    try Sys.send(copy, UnsafeRawBufferPointer(rebasing: raw[from...]), flags, to: request.destination)
                }
            }
            switch step {
            case .success(let n): sent += n
            case .failure(let error):
                if let done = try ended(error, moved: sent, copy, Int16(POLLOUT), blocking: blocking, timeout: timeout) { return done }
            }
        } while sent < limit && (blocking || sent - start == bytes.count)
        return sent
    }

    /// How much of a program's stream write the supervisor holds at a time, and the most one
    /// read made on behalf takes (the kernel may return less than asked too).
    static let chunk = 1 << 20
    static let readLimit = 8 << 20

    /// A step of a transfer failed with `error` after `moved` bytes. On a blocking socket that
    /// would have blocked: waits until it is ready (nil: try again). Otherwise the call ends as
    /// the kernel's does: with the bytes moved so far, or the error when none moved.
    private func ended(_ error: Errno, moved: Int, _ copy: Int32, _ events: Int16, blocking: Bool,
                       timeout: Double?) throws(Errno) -> Int? {
        var failure = error
        if error == .resourceTemporarilyUnavailable && blocking {
            do { try waitReady(copy, events, timeout: timeout); return nil } catch { failure = error }
        }
        if moved > 0 { return moved }
        throw failure
    }

    /// SO_RCVTIMEO or SO_SNDTIMEO in seconds; nil for none.
    private static func timeout(_ copy: Int32, _ option: Int32) -> Double? {
        var value = timeval()
        var length = socklen_t(MemoryLayout<timeval>.size)
        guard getsockopt(copy, SOL_SOCKET, option, &value, &length) == 0 else { return nil }
        let seconds = Double(value.tv_sec) + Double(value.tv_usec) / 1e6
        return seconds > 0 ? seconds : nil
    }
}


extension st_op {
    /// The system call's name, for messages.
    var name: String {
        switch self {
        case ST_OP_READ: "read"
        case ST_OP_READV: "readv"
        case ST_OP_RECVFROM: "recvfrom"
        case ST_OP_RECVMSG: "recvmsg"
        case ST_OP_RECVMMSG: "recvmmsg"
        case ST_OP_WRITE: "write"
        case ST_OP_WRITEV: "writev"
        case ST_OP_SENDTO: "sendto"
        case ST_OP_SENDMSG: "sendmsg"
        case ST_OP_SENDMMSG: "sendmmsg"
        case ST_OP_SHUTDOWN: "shutdown"
        default: "call \(rawValue)"
        }
    }
}
