import CSysShims

/// What the filters did to one call, as a trace line and a recorded schedule say it: nothing
/// (`pass`), or any of a delay, a failure, a rewritten outcome, a script error. Each part is a
/// word of the text form, so the data path's verdicts (short N, eof, reset, drop) extend it
/// with parts of their own without changing the others.
public struct Verdict: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Seconds the call was held before it ran (or failed).
    public var delay: Double?
    /// The error the filter failed the call with (before or after it ran).
    public var fail: Errno?
    /// An after-filter changed the outcome: which field, from what, to what.
    public var rewrite: Rewrite?
    /// The filter raised a script error (the call failed with ECANCELED).
    public var scriptError = false
    /// A data-path filter's answer: short N, eof, reset, drop.
    public var action: DataAction?

    public struct Rewrite: Sendable, Equatable, Codable {
        /// "err" (the call's error) or "socket_err" (getsockopt's SO_ERROR value).
        public var field: String
        public var from: Errno?
        public var to: Errno?

        public init(field: String, from: Errno?, to: Errno?) {
            self.field = field
            self.from = from
            self.to = to
        }

        enum CodingKeys: String, CodingKey { case field, from, to }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            field = try c.decode(String.self, forKey: .field)
            from = try c.decodeIfPresent(String.self, forKey: .from).flatMap(Errno.init(name:))
            to = try c.decodeIfPresent(String.self, forKey: .to).flatMap(Errno.init(name:))
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(field, forKey: .field)
            try c.encodeIfPresent(from?.name, forKey: .from)
            try c.encodeIfPresent(to?.name, forKey: .to)
        }
    }

    public init(delay: Double? = nil, fail: Errno? = nil, rewrite: Rewrite? = nil, scriptError: Bool = false,
                action: DataAction? = nil) {
        self.delay = delay
        self.fail = fail
        self.rewrite = rewrite
        self.scriptError = scriptError
        self.action = action
    }

    /// Whether the filters injected nothing.
    public var isPass: Bool { delay == nil && fail == nil && rewrite == nil && !scriptError && action == nil }

    /// "pass", "fail ECONNREFUSED", "delay 0.2", "delay 0.2, fail ETIMEDOUT",
    /// "rewrite ETIMEDOUT->nil", "rewrite socket_err nil->ECONNREFUSED", "error", "short 100",
    /// "eof", "reset", "drop".
    public var description: String {
        var parts: [String] = []
        if let delay { parts.append("delay \(Verdict.seconds(delay))") }
        if scriptError { parts.append("error") }
        else if let fail { parts.append("fail \(fail.name)") }
        if let action { parts.append(action.description) }
        if let r = rewrite {
            let field = r.field == "err" ? "" : r.field + " "
            parts.append("rewrite \(field)\(r.from?.name ?? "nil")->\(r.to?.name ?? "nil")")
        }
        return parts.isEmpty ? "pass" : parts.joined(separator: ", ")
    }

    /// 0.2, not 0.20000000000000001.
    static func seconds(_ s: Double) -> String {
        let micros = Int64((s * 1e6).rounded())
        var fraction = String(micros % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(micros / 1_000_000)" + (fraction.isEmpty ? "" : "." + fraction)
    }

    enum CodingKeys: String, CodingKey { case delay, fail, rewrite, scriptError = "error", action }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        delay = try c.decodeIfPresent(Double.self, forKey: .delay)
        if let name = try c.decodeIfPresent(String.self, forKey: .fail) {
            guard let err = Errno(name: name) else {
                throw DecodingError.dataCorruptedError(forKey: .fail, in: c, debugDescription: "unknown errno \(name)")
            }
            fail = err
        }
        rewrite = try c.decodeIfPresent(Rewrite.self, forKey: .rewrite)
        scriptError = try c.decodeIfPresent(Bool.self, forKey: .scriptError) ?? false
        action = try c.decodeIfPresent(DataAction.self, forKey: .action)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(delay, forKey: .delay)
        try c.encodeIfPresent(fail?.name, forKey: .fail)
        try c.encodeIfPresent(rewrite, forKey: .rewrite)
        if scriptError { try c.encode(true, forKey: .scriptError) }
        try c.encodeIfPresent(action, forKey: .action)
    }
}

/// What a filter says it did that the pipeline cannot see from its return value: a delay
/// waited out, a script error. Thread-local: a filter runs on the thread of its call. Filters
/// write it only on those paths (a store each); the switch reads it only while a tap watches.
public enum FilterNote {
    /// The filter held the call `seconds` before letting it run (or failing it).
    public static func delayed(_ seconds: Double) { st_note_set_delay(seconds) }
    /// The filter failed with a script error.
    public static func scriptError() { st_note_set_flags(1) }

    static func reset() { st_note_reset() }

    /// Adds what was noted since `reset` to `verdict`.
    static func take(into verdict: inout Verdict) {
        let delay = st_note_get_delay()
        if delay >= 0 { verdict.delay = (verdict.delay ?? 0) + delay }
        if st_note_get_flags() & 1 != 0 { verdict.scriptError = true }
        st_note_reset()
    }
}
