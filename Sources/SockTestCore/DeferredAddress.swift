/// The address of a supervised program's connect or bind, read from its memory the first time
/// something asks (a filter's `so.addr`, a trace): a filter that never looks costs no read. The
/// supervisor invalidates it once the call is answered, when the memory is no longer the call's.
public final class DeferredAddress: Sendable {
    private struct State {
        var fetch: (() -> SocketAddress?)?
        var value: SocketAddress?
    }
    private let state: Locked<State>

    package init(_ fetch: @escaping () -> SocketAddress?) {
        state = Locked(State(fetch: fetch))
    }

    /// The address (read once); nil when the memory cannot be read, holds no address the tool
    /// knows, or the call is done and it was never asked for.
    public var address: SocketAddress? {
        state.withLock { s in
            if let fetch = s.fetch {
                s.value = fetch()
                s.fetch = nil
            }
            return s.value
        }
    }

    package func invalidate() {
        state.withLock { $0.fetch = nil }
    }
}
