import CSysShims

/// Marks the threads that are running a filter. A switch call made from inside a filter (a
/// filter that itself calls socket or close) runs without filters: no recursion, no deadlock on
/// whatever the filter holds. It is counted like any other call.
enum FilterScope {
    static var isActive: Bool { st_filter_scope_active() != 0 }

    static func run<R>(_ body: () throws(Errno) -> R) throws(Errno) -> R {
        st_filter_scope_enter()
        defer { st_filter_scope_leave() }
        return try body()
    }
}
