import Glibc
import SockTestCore

/// Reads a Lua source file the way every path into the host does (the script given to `run`
/// or `check`, `loadfile`, `dofile`, `require`): only a regular file, opened without blocking,
/// so a FIFO or a device given as a script is an error instead of a wait for a writer.
enum SourceFile {
    /// Larger sources are refused: a script is text a person wrote.
    static let maxBytes = 16 << 20

    struct Failure: Error {
        let message: String
        let err: Errno
    }

    /// The file's bytes; a first line starting with "#" (a #! line) is made a Lua comment, as
    /// `luaL_loadfile` skips it, keeping the line numbers.
    static func read(_ path: String) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw failure("cannot open \(path)", Errno(rawValue: errno)) }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot read \(path)", Errno(rawValue: errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw Failure(message: "cannot read \(path): it is a directory, not a Lua file", err: .isDirectory)
        default: throw Failure(message: "cannot read \(path): not a regular file (a FIFO or a device is not read)", err: .invalidArgument)
        }
        guard info.st_size <= maxBytes else {
            throw Failure(message: "cannot read \(path): larger than \(maxBytes >> 20) MiB", err: .fileTooLarge)
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 { break }         // the file shrank meanwhile
                throw failure("cannot read \(path)", Errno(rawValue: errno))
            }
            filled += n
        }
        bytes.removeSubrange(filled...)
        if bytes.first == UInt8(ascii: "#") { bytes.insert(contentsOf: Array("--".utf8), at: 0) }
        return bytes
    }

    private static func failure(_ what: String, _ err: Errno) -> Failure {
        Failure(message: "\(what): \(err.message)", err: err)
    }
}
