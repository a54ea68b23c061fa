import ArgumentParser
import Foundation
import Glibc
import SockTestCore

/// A real server under load: nginx serving a 4 KiB file on 127.0.0.1, driven by wrk from this
/// machine, with a new connection per request ("Connection: close") and with keep-alive. The
/// same server natively, under `socktest-lua run` with a no-op connect filter, under the
/// trap-and-continue floor (notify-floor.c), and under `strace --seccomp-bpf` with a no-op
/// injection rule; ns per request and the ratio to native, measured in the same rounds.
/// Skipped, with a message, where nginx or wrk is missing (`apt-get install nginx-light wrk`).
enum Servers {
    static func measure(seconds: Double, repetitions: Int) throws -> [CaseResult] {
        guard let nginx = External.which("nginx") ?? ["/usr/sbin/nginx"].first(where: FileManager.default.isExecutableFile),
              let wrk = External.which("wrk") else {
            FileHandle.standardError.write(Data("bench: nginx or wrk not installed: real-server cases skipped\n".utf8))
            return []
        }
        let scratch = try External.makeScratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let floor = try External.buildProgram("notify-floor", into: scratch)
        let script = scratch + "/noop.lua"
        try #"socktest.set("connect", function(so) end)"#.write(toFile: script, atomically: true, encoding: .utf8)
        try String(repeating: "x", count: 4096).write(toFile: scratch + "/index.html", atomically: true, encoding: .utf8)
        let server = [nginx, "-c", try config(in: scratch), "-p", scratch]
        var wrappers: [(String, [String])] = [
            ("nginx, native", []),
            ("nginx, socktest-lua run (no-op connect filter)", [External.here + "/socktest-lua", "run", script, "--"]),
            ("nginx, floor: trap + continue", [floor]),
        ]
        if let strace = External.which("strace") {
            wrappers.append(("nginx, strace --seccomp-bpf (no-op inject)", [
                strace, "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf",
                "-e", "trace=socket,connect,accept,accept4,close",
                "-e", "inject=connect:error=ECONNREFUSED:when=65535"]))
        }
        var results: [CaseResult] = []
        for (workload, keepAlive) in [(Workload.nginxConnectionPerRequest, false), (.nginxKeepAlive, true)] {
            results += try interleaved(workload, wrappers.map(\.0), baseline: { _ in 0 }, repetitions: repetitions) { i in
                try serve(wrappers[i].1 + server, port: port(in: scratch)) {
                    try load(wrk, port: $0, keepAlive: keepAlive, seconds: seconds)
                }
            }.withRatios(toFloor: "nginx, floor: trap + continue")
        }
        return results
    }

    /// An nginx configuration in `folder`: one worker, in the foreground, files from `folder`.
    static func config(in folder: String) throws -> String {
        let port = try freePort()
        try "\(port)".write(toFile: folder + "/port", atomically: true, encoding: .utf8)
        let path = folder + "/nginx.conf"
        try """
            worker_processes 1;
            daemon off;
            \(getuid() == 0 ? "user root;" : "")
            error_log stderr crit;
            pid \(folder)/nginx.pid;
            events { worker_connections 512; }
            http {
                access_log off;
                client_body_temp_path \(folder); proxy_temp_path \(folder); fastcgi_temp_path \(folder);
                uwsgi_temp_path \(folder); scgi_temp_path \(folder);
                server { listen 127.0.0.1:\(port); root \(folder); location / {} }
            }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func port(in folder: String) throws -> Int {
        guard let port = Int(try String(contentsOfFile: folder + "/port", encoding: .utf8)) else {
            throw ValidationError("no port in \(folder)/port")
        }
        return port
    }

    /// Runs `argv` (a server, under whatever wraps it) in a session of its own, waits (at most
    /// 10 s) until it accepts on `port`, runs `body`, then stops the session's process group and
    /// waits for it (at most 10 s, then SIGKILL). Spawned and reaped here, not with Foundation's
    /// Process, whose exit monitoring hung in these runs.
    static func serve(_ argv: [String], port: Int, _ body: (Int) throws -> Double) throws -> Double {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(0x80))    // POSIX_SPAWN_SETSID, which Swift does not import
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, environ) == 0 else {
            throw ValidationError("cannot start \(argv[0])")
        }
        var status: Int32 = 0
        defer {
            kill(-pid, SIGTERM)                   // the session's group: the server and what wraps it
            let deadline = monotonicSeconds() + 10
            while waitpid(pid, &status, WNOHANG) == 0 && monotonicSeconds() < deadline { usleep(10_000) }
            kill(-pid, SIGKILL)
            waitpid(pid, &status, WNOHANG)
        }
        let deadline = monotonicSeconds() + 10
        while !accepts(port) {
            guard monotonicSeconds() < deadline, waitpid(pid, &status, WNOHANG) == 0 else {
                throw ValidationError("\(argv.joined(separator: " ")) did not listen on 127.0.0.1:\(port)")
            }
            usleep(20_000)
        }
        return try body(port)
    }

    /// wrk on one thread with four connections for `seconds`: ns per request.
    static func load(_ wrk: String, port: Int, keepAlive: Bool, seconds: Double) throws -> Double {
        let command = "\(wrk) -t1 -c4 -d\(Int(max(1, seconds.rounded())))s "
            + (keepAlive ? "" : "-H 'Connection: close' ") + "http://127.0.0.1:\(port)/index.html 2>/dev/null"
        guard let pipe = popen(command, "r") else { throw ValidationError("cannot run wrk") }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil {
            text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        pclose(pipe)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }),
              let rate = Double(line.dropFirst("Requests/sec:".count).trimmingCharacters(in: .whitespaces)), rate > 0,
              !text.contains("Non-2xx") else {
            throw ValidationError("wrk measured nothing: \(text)")
        }
        return 1e9 / rate
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sin = loopback(port)
        return withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sin = loopback(0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw ValidationError("cannot bind 127.0.0.1") }
        return Int(UInt16(bigEndian: sin.sin_port))
    }

    static func loopback(_ port: Int) -> sockaddr_in {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(port).bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        return sin
    }
}
