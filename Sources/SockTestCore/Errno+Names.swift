import CSysShims
import Glibc
@_exported import SystemPackage

/// Names and messages for `Errno`, the typed errno every switch call throws.
///
/// `name` is the symbolic name ("ECONNREFUSED"), `message` the lower-case text Go's socktest prints
/// ("connection refused"). `Errno(name:)` accepts every name the platform defines, aliases too.
extension Errno {
    /// The symbolic name, e.g. "ECONNREFUSED"; "errno N" when the platform defines none.
    public var name: String {
        guard let cName = st_errno_name(rawValue) else { return "errno \(rawValue)" }
        return String(cString: cName)
    }

    /// The message as Go prints it: glibc's strerror text with its first letter lower-cased.
    public var message: String {
        var buffer = [CChar](repeating: 0, count: 256)
        let text: String = buffer.withUnsafeMutableBufferPointer { buf in
            // The GNU strerror_r returns a pointer that may or may not be `buf`.
            String(cString: st_errno_message(rawValue, buf.baseAddress!, UInt(buf.count)))
        }
        guard let first = text.first else { return text }
        return first.lowercased() + text.dropFirst()
    }

    /// The errno with this symbolic name, or nil when the platform defines none.
    public init?(name: String) {
        guard let value = Errno.byName[name] else { return nil }
        self.init(rawValue: value)
    }

    /// Every errno the platform defines, by name, aliases (EWOULDBLOCK, ...) included.
    public static let byName: [String: Int32] = {
        var table: [String: Int32] = [:]
        for value in Int32(1)..<4096 {
            if let cName = st_errno_name(value) { table[String(cString: cName)] = value }
        }
        // glibc names each number once; these aliases name numbers already in the table.
        for (alias, value) in [("EWOULDBLOCK", Glibc.EWOULDBLOCK), ("EDEADLOCK", Glibc.EDEADLOCK), ("ENOTSUP", Glibc.ENOTSUP)] {
            table[alias] = value
        }
        return table
    }()
}
