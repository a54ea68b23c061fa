import Glibc
import SockTestCore

/// A write from a script to a socket whose peer is gone (closed or reset) fails EPIPE and
/// raises SIGPIPE, whose default kills the whole tool. Ignoring SIGPIPE process-wide would
/// pass the ignored disposition on to a supervised program across exec; so instead the signal
/// is blocked in this thread for the call, and one the call raised is taken before the mask is
/// restored — whatever the call returned, as an after-filter may have rewritten its EPIPE. The
/// script gets what the filters left, from a failed call nil, "EPIPE", 32.
enum QuietPipe {
    static func run<R>(_ body: () throws(Errno) -> R) throws(Errno) -> R {
        var pipe = sigset_t(), old = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipe, &old)
        // Blocked already: the caller's mask says what happens to it, not us.
        let wasBlocked = sigismember(&old, SIGPIPE) == 1
        defer {
            if !wasBlocked {
                var pending = sigset_t(), zero = timespec()
                if sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1 {
                    while sigtimedwait(&pipe, nil, &zero) < 0 && errno == EINTR {}
                }
            }
            pthread_sigmask(SIG_SETMASK, &old, nil)
        }
        return try body()
    }
}
