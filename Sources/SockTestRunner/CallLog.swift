import Foundation
import SockTestCore

/// The switch's tap for `run --trace`, `--record` and `--replay`: names each filtered call's
/// site, writes its trace line as it completes, keeps the decisions that injected something,
/// and, replaying, decides calls from the schedule instead of the filters.
final class CallLog: CallTap, @unchecked Sendable {
    struct Options {
        /// Where trace lines go: nil for none, "-" for stderr, else a file.
        var trace: String?
        var json = false
        var record = false
        var replay: Schedule?
    }

    private let lock = PThreadMutex()
    private var sites = SiteBook()
    private var replayer: Replayer?
    private var recorded: [Schedule.Decision] = []
    private let record: Bool
    private let traceJSON: Bool
    private let traceFD: Int32?
    private let ownsTraceFD: Bool
    private let start = monotonicSeconds()
    private let toolPid = getpid()
    /// Set once, right after the switch is made (it holds this log).
    private weak var sw: Switch?

    init(_ options: Options) throws(UsageError) {
        record = options.record
        traceJSON = options.json
        replayer = options.replay.map(Replayer.init)
        switch options.trace {
        case nil: (traceFD, ownsTraceFD) = (nil, false)
        case "-": (traceFD, ownsTraceFD) = (2, false)
        case let path?:
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw UsageError("--trace=\(path): cannot write (\(Errno(rawValue: errno).message))") }
            (traceFD, ownsTraceFD) = (fd, true)
        }
    }

    deinit { if ownsTraceFD, let traceFD { close(traceFD) } }

    func attach(_ sw: Switch) { self.sw = sw }

    private final class Token: Sendable {
        let site: CallSite
        let shown: String
        init(site: CallSite, shown: String) {
            self.site = site
            self.shown = shown
        }
    }

    func decide(_ call: Call, serial: UInt64) -> (decision: TapDecision, token: AnyObject & Sendable) {
        let sw = self.sw
        lock.lock()
        defer { lock.unlock() }
        let (site, shown) = sites.site(of: call, serial: serial) {
            call.fd.flatMap { sw?.localAddress(of: SocketKey(space: call.space, fd: $0)) }
        }
        let decision = replayer?.decide(site) ?? .filter
        return (decision, Token(site: site, shown: shown))
    }

    func filtered(_ call: Call, token: AnyObject & Sendable, verdict: Verdict, result: Result<Int32, Errno>?) {
        let token = unsafeDowncast(token, to: Token.self)     // only `decide` makes tokens
        let line = traceFD == nil ? nil : self.line(call, token, verdict, result)
        lock.lock()
        if record, !verdict.isPass, !verdict.scriptError {
            recorded.append(Schedule.Decision(site: token.site, verdict: verdict))
        }
        if call.type == .accept, case .success(let fd)? = result {
            sites.accepted(SocketKey(space: call.space, fd: fd), from: token.site)
        }
        if let line, let traceFD {
            // One write per line, under the lock: lines never interleave.
            line.withCString { _ = write(traceFD, $0, strlen($0)) }
        }
        lock.unlock()
    }

    /// The decisions that injected something, in site order (what `--record` writes).
    var decisions: [Schedule.Decision] {
        lock.lock()
        defer { lock.unlock() }
        return recorded.sorted { $0.site < $1.site }
    }

    /// Replaying: the recorded decisions that met no call.
    var unmet: [Schedule.Decision] {
        lock.lock()
        defer { lock.unlock() }
        return replayer?.unmet ?? []
    }

    // MARK: - Trace lines

    private func line(_ call: Call, _ token: Token, _ verdict: Verdict, _ result: Result<Int32, Errno>?) -> String {
        let time = monotonicSeconds() - start
        let pid = call.space == 0 ? toolPid : call.space
        let outcome = Self.text(of: result, call)
        if traceJSON {
            let fd = call.fd.map(String.init) ?? "null"
            let s = token.site
            return "{\"time\":\(Self.seconds(time)),\"pid\":\(pid),\"call\":\"\(call.type.name)\",\"fd\":\(fd),"
                + "\"addr\":\(Self.quoted(token.shown)),\"verdict\":\(Self.quoted(verdict.description)),"
                + "\"result\":\(Self.quoted(outcome)),\"site\":{\"call\":\"\(s.call)\",\"kind\":\"\(s.kind)\","
                + "\"via\":\"\(s.via)\",\"addr\":\(Self.quoted(s.addr)),\"conn\":\(s.conn),\"nth\":\(s.nth)}}\n"
        }
        let fd = call.fd.map { "fd \($0)" } ?? "fd -"
        return Self.seconds(time) + " pid \(pid) \(call.type.name) \(fd) \(token.shown.isEmpty ? "-" : token.shown)"
            + " \(verdict) -> \(outcome)\n"
    }

    /// "0.020372": microseconds, without Foundation's format parser (a trace line is written
    /// on the caller's thread, so its cost is the call's).
    static func seconds(_ t: Double) -> String {
        let micros = Int64((max(0, t) * 1e6).rounded())
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// What the caller got: "ok", "fd 5" (socket, accept), "socket_err ECONNREFUSED"
    /// (getsockopt SO_ERROR), "ECONNREFUSED", or "continued" (the kernel made the call).
    static func text(of result: Result<Int32, Errno>?, _ call: Call) -> String {
        switch result {
        case nil: return "continued"
        case .failure(let err)?: return err.name
        case .success(let value)?:
            if call.type == .socket || call.type == .accept { return "fd \(value)" }
            if call.readsSocketError, let err = call.status.socketErr { return "socket_err \(err.name)" }
            return "ok"
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""

    }
}

/// For the benchmarks: a switch that traces its filtered calls to `path`, as `run --trace=PATH`.
package func tracedSwitch(to path: String, json: Bool = false) throws(UsageError) -> Switch {
    let log = try CallLog(.init(trace: path, json: json))
    let sw = Switch(tap: log)
    log.attach(sw)
    return sw
}
