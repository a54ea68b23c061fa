import SockTestCore

/// The `auto` errno table of `socktest-lua sweep`: per call type, the errors the kernel can
/// really return there (docs/trace-and-sweep.md lists them with why). getsockopt's are socket errors:
/// the outcome SO_ERROR reports for a non-blocking connect, not a failed getsockopt. The data
/// path's ECONNRESET is the errno alone (the peer gets no RST): a sweep asks how the program
/// takes the error.
enum SweepErrnos {
    static let auto: [FilterType: [String]] = [
        .socket: ["EMFILE", "ENFILE", "ENOBUFS", "EAFNOSUPPORT"],
        .bind: ["EADDRINUSE", "EACCES", "EADDRNOTAVAIL"],
        .connect: ["ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL", "EAGAIN", "EINTR"],
        .listen: ["EADDRINUSE"],
        .accept: ["EMFILE", "ENFILE", "ECONNABORTED", "ENOBUFS", "EAGAIN", "EINTR"],
        .getsockopt: ["ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH", "EHOSTUNREACH"],
        .close: ["EINTR", "EIO"],
        .read: ["ECONNRESET", "ETIMEDOUT", "EAGAIN", "EINTR"],
        .write: ["EPIPE", "ECONNRESET", "ENOBUFS", "EAGAIN", "EINTR"],
        .shutdown: ["ENOTCONN"],
    ]

    /// Errors a correct program retries without end when they persist: not swept persistently.
    static let retried: Set<String> = ["EINTR", "EAGAIN"]

    /// What the sweep does to a call of `type` to make it return `name`.
    static func verdict(_ type: FilterType, _ err: Errno) -> Verdict {
        type == .getsockopt
            ? Verdict(rewrite: .init(field: "socket_err", from: nil, to: err))
            : Verdict(fail: err)
    }
}
