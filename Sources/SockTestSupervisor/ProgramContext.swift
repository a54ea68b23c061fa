import Glibc

/// Whether a call made by the supervisor would have the outcome the program's own call has: the
/// same credentials and capabilities, network namespace, root, working directory and umask.
/// The supervisor makes a call on a program's behalf (for an after-filter that needs the real
/// outcome) only when they are.
enum ProgramContext {
    /// What differs between process `pid`'s context and the tool's, or nil when nothing does.
    static func difference(_ pid: Int32) -> String? {
        var differs: [String] = []
        for field in ["Uid", "Gid", "Groups", "CapEff", "Umask"] {
            let theirs = ProcFile.field(field, of: "/proc/\(pid)/status")
            let ours = ProcFile.field(field, of: "/proc/self/status")
            if theirs != ours { differs.append(field == "CapEff" ? "capabilities" : field.lowercased()) }
        }
        if ProcFile.link("/proc/\(pid)/ns/net") != ProcFile.link("/proc/self/ns/net") {
            differs.append("network namespace")
        }
        if !sameFile("/proc/\(pid)/root", "/proc/self/root") { differs.append("root directory") }
        if !sameFile("/proc/\(pid)/cwd", "/proc/self/cwd") { differs.append("working directory") }
        return differs.isEmpty ? nil : differs.joined(separator: ", ")
    }

    private static func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat(), y = stat()
        return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }
}
