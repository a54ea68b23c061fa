import Glibc

/// The report must start on a line of its own: a supervised program shares the tool's stdout,
/// and its output may not end with a newline (`200{"command":...` is no JSON line, and readers
/// take the report's JSON from the last line).
package enum OwnLine {
    /// Flushes stdout and writes a newline unless what stdout holds already ends a line. Only a
    /// regular file can be read back; into a pipe or a terminal the newline is written whenever
    /// unsure (an empty line at worst).
    package static func begin() {
        fflush(nil)
        if !endsALine(STDOUT_FILENO) { _ = write(STDOUT_FILENO, "\n", 1) }
    }

    /// Whether the last byte written to `fd` was a newline, or nothing has been written to it.
    static func endsALine(_ fd: Int32) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
        var end = lseek(fd, 0, SEEK_CUR)
        if end <= 0, fcntl(fd, F_GETFL) & O_APPEND != 0 { end = off_t(info.st_size) }   // >>: writes go to the end
        guard end > 0 else { return true }
        // stdout is usually open write-only: read the same file through another descriptor.
        let reader = open("/proc/self/fd/\(fd)", O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return false }
        defer { close(reader) }
        var last: UInt8 = 0
        return pread(reader, &last, 1, end - 1) == 1 && last == UInt8(ascii: "\n")
    }
}
