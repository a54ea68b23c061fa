import Glibc

extension Switch {
    /// The one pipeline every wrapped call runs:
    /// look up → before-filter → system call → after-filter → bookkeeping.
    ///
    /// - A call on a descriptor not in the table goes straight to the system (no filter, no
    ///   statistics). socket has no descriptor yet: its filter runs for every call.
    /// - A before-filter that throws cancels the call: the system call does not run, no
    ///   statistic changes.
    /// - An after-filter that throws fails the call: no statistic changes, and a descriptor the
    ///   call created is closed again. One that returns may have rewritten `call.status`; the
    ///   rewritten outcome is returned and counted.
    /// - Filters run with `FilterScope` active, so switch calls they make run unfiltered.
    /// - `commit`, for calls made on behalf of another process, puts a descriptor the call
    ///   created into that process once the outcome is decided (so a failed call leaks nothing
    ///   there); it returns the descriptor's number in the target.
    ///
    /// The two halves, `admit` and `complete`, are also run apart by the supervisor, which lets
    /// the kernel make a program's call itself when no after-filter needs its outcome.
    @inline(__always)
    func run(
        _ call: inout Call, _ syscall: (inout Call) throws(Errno) -> Int32,
        commit: ((Int32) throws(Errno) -> Int32)? = nil
    ) throws(Errno) -> Int32 {
        guard let admitted = try admit(&call) else { return try syscall(&call) }
        var outcome: Result<Int32, Errno>
        do { outcome = .success(try syscall(&call)) } catch { outcome = .failure(error) }
        return try complete(&call, outcome, admitted, commit: commit)
    }

    /// The first half: looks the call's socket up and runs the before-filter. nil when the
    /// descriptor is not in the table (the call goes straight to the system); throws when the
    /// before-filter cancels the call.
    @inline(__always)
    func admit(_ call: inout Call) throws(Errno) -> Admitted? {
        var serial: UInt64 = 0
        if let key = call.key {
            guard let entry = book.withLock({ $0.table[key] }) else { return nil }
            call.status = Status(cookie: entry.status.cookie)
            serial = entry.serial
            if call.type.movesData {
                (call.readTotal, call.writtenTotal, call.wasReset) = (entry.readTotal, entry.writtenTotal, entry.wasReset)
            }
        }
        var after: AfterFilter?
        if hasFilter(call.type), !FilterScope.isActive, let box = filters.withLock({ $0[call.type.rawValue] }) {
            if let tap { return try admitTapped(&call, box, serial: serial, tap: tap) }
            defer { if call.type.movesData { call.takeAction() } }
            after = try FilterScope.run { () throws(Errno) in try box.filter(call) }
        }
        return Admitted(serial: serial, after: after)
    }

    /// The second half, once the system call has run: the after-filter, the commit, the books.
    @inline(__always)
    func complete(
        _ call: inout Call, _ real: Result<Int32, Errno>, _ admitted: Admitted,
        commit: ((Int32) throws(Errno) -> Int32)? = nil
    ) throws(Errno) -> Int32 {
        var outcome = real
        call.status.err = outcome.error
        let serial = admitted.serial
        if call.type.movesData, case .success(let n) = real { call.transferred = Int(n) }
        if let after = admitted.after {
            admitted.mark?.takeUnretainedValue().willRunAfterFilter(call.status)
            do {
                try FilterScope.run { () throws(Errno) in try after(&call) }
            } catch {
                if case .success(let fd) = outcome, call.type.createsDescriptor { _ = try? Sys.close(fd) }
                book.withLock { $0.record(&call, outcome, real: real, serial: serial, counted: false) }
                if let mark = admitted.mark { reportTapped(call, mark.takeRetainedValue(), afterFailed: error, result: .failure(error)) }
                throw error
            }
            admitted.mark?.takeUnretainedValue().ranAfterFilter()
            outcome = Switch.rewrite(outcome, as: &call)
            // A byte count may be lowered, never raised past what really moved.
            if call.type.movesData, case .success(let n) = outcome, let told = call.transferred, told != Int(n) {
                outcome = .success(Int32(clamping: min(max(told, 0), Int(n))))
            }
        }

        if let commit, call.type.createsDescriptor, case .success(let local) = outcome {
            do {
                outcome = .success(try commit(local))
            } catch {
                call.status.err = error
                outcome = .failure(error)
            }
            _ = try? Sys.close(local)
        }

        book.withLock { $0.record(&call, outcome, real: real, serial: serial, counted: true) }
        if let mark = admitted.mark { reportTapped(call, mark.takeRetainedValue(), result: outcome) }
        return try outcome.get()
    }

    /// The outcome an after-filter left in `call.status.err`. A descriptor-creating call that
    /// the filter turns into a failure has its descriptor closed; one that really failed cannot
    /// be turned into a success (there is no descriptor to return), so its error stands.
    private static func rewrite(_ outcome: Result<Int32, Errno>, as call: inout Call) -> Result<Int32, Errno> {
        switch (outcome, call.status.err) {
        case (.success, nil), (.failure, _?):
            return call.status.err.map { .failure($0) } ?? outcome
        case (.success(let value), let err?):
            if call.type.createsDescriptor { _ = try? Sys.close(value) }
            return .failure(err)
        case (.failure(let err), nil):
            if call.type.createsDescriptor {
                call.status.err = err
                return .failure(err)
            }
            return .success(0)
        }
    }
}

extension Call {
    /// Takes what the before-filter just answered beyond an errno, if it fits this call.
    mutating func takeAction() {
        action = DataAction.take().flatMap { $0.applies(to: type) ? $0 : nil }
    }
}

/// A call its before-filter let through: which table entry it found, and the after-filter the
/// before-filter returned, if any.
package struct Admitted: Sendable {
    let serial: UInt64
    /// nil when no after-filter needs the call's outcome.
    package let after: AfterFilter?
    /// A tapped call's verdict so far, reported (and released) by `complete` or
    /// `continued(_:_:)`; nil without a tap. Unmanaged: an untapped call pays no release for it.
    var mark: Unmanaged<TapMark>? = nil
}

extension Book {
    /// Books one call. Statistics count `outcome` (as an after-filter may have rewritten it);
    /// the table follows the system (`real`): a socket that was really closed leaves it even when
    /// the caller is told the close failed (as Linux does for EINTR). Uncounted calls (failed by
    /// an after-filter) only keep the table true. `call` is inout only so that it is not copied
    /// (a memcpy per call): it is not changed.
    mutating func record(_ call: inout Call, _ outcome: Result<Int32, Errno>, real: Result<Int32, Errno>,
                         serial: UInt64, counted: Bool) {
        let cookie = call.status.cookie
        switch (call.type, outcome) {
        case (.socket, .success(let fd)), (.accept, .success(let fd)):
            guard counted else { return }
            let key = SocketKey(space: call.space, fd: fd)
            if call.space == 0 {
                add(key, Status(cookie: cookie))
                count(cookie, call.type == .socket ? .opened : .accepted)
            }
            // A supervised program's new socket is learned by its identity (`learn`).
            return
        case (.close, _):
            if case .success = real {
                // Gone from the system: leave the table, unless the number already names a
                // socket another thread opened since (a newer serial).
                var last = true
                if let key = call.key, table[key]?.serial == serial { last = remove(key) }
                if counted && last { count(cookie, .closed, failed: outcome.error != nil) }
                return
            }
        default:
            break
        }
        // The socket stays open: remember the call's outcome in its entry.
        if let key = call.key, table[key]?.serial == serial {
            table[key]!.status.err = call.status.err
            if call.type == .getsockopt && call.readsSocketError {
                table[key]!.status.socketErr = call.status.socketErr
            }
            if call.space != 0, case .success = outcome { table[key]!.counted.formUnion(call.type.attempt) }
            if call.type.movesData {
                // Only a stream has a connection the reset ended (a datagram socket goes on).
                if call.action == .reset && cookie.type & 0xf == Int32(SOCK_STREAM.rawValue) { table[key]!.wasReset = true }
                if counted, case .success(let n) = outcome, n > 0 {
                    if call.type == .read { table[key]!.readTotal += UInt64(n) } else { table[key]!.writtenTotal += UInt64(n) }
                    countBytes(cookie, call.type, UInt64(n))
                }
                return
            }
            if call.type == .connect, case .success = outcome { table[key]!.wasReset = false }
        }
        guard counted else { return }
        switch (call.type, outcome) {
        case (.socket, .failure): count(cookie, .opened, failed: true)
        case (.accept, .failure): count(cookie, .accepted, failed: true)
        case (.close, .failure): count(cookie, .closed, failed: true)
        case (.connect, .success): count(cookie, .connected)
        case (.connect, .failure): count(cookie, .connected, failed: true)
        case (.listen, .success): count(cookie, .listened)
        case (.listen, .failure): count(cookie, .listened, failed: true)
        case (.getsockopt, .success):
            // A non-blocking connect completes when SO_ERROR reads 0 (or EISCONN).
            if call.readsSocketError && (call.status.socketErr == nil || call.status.socketErr == .socketIsConnected) {
                count(cookie, .connected)
            }
        default:
            break  // bind and failed getsockopt count nothing
        }
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
