// swift-tools-version:6.1
// Linux only: the switch wraps Glibc socket calls, and external programs are supervised with
// seccomp user notification, pidfd_getfd and /proc.
import PackageDescription

let package = Package(
    name: "socktest-lua",
    products: [
        .library(name: "SockTestCore", targets: ["SockTestCore"]),
        .library(name: "SockTestLua", targets: ["SockTestLua"]),
        .executable(name: "socktest-lua", targets: ["socktest-lua"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The system Lua 5.4 plus header-only shims for the macros Swift cannot import.
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // C for what Glibc's Swift overlay does not reach (errno names, ...).
        .target(name: "CSysShims"),
        .target(
            name: "SockTestCore",
            dependencies: [
                "CSysShims",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // lua/: the module's Lua parts, embedded into the binary at build time (LuaSources).
        .target(name: "SockTestLua", dependencies: ["CLua", "SockTestCore"], exclude: ["lua"],
                plugins: ["EmbedLua"]),
        .plugin(name: "EmbedLua", capability: .buildTool()),
        // Starting a program under a seccomp filter, and the notification ioctls.
        .target(name: "CSupervisor"),
        // Runs an unmodified program with its socket calls going through a Switch.
        .target(name: "SockTestSupervisor", dependencies: ["CSupervisor", "SockTestCore"]),
        // Workloads, the report, recipe lookup: everything `run` does, without the argument parsing.
        .target(name: "SockTestRunner", dependencies: ["SockTestCore", "SockTestLua", "SockTestSupervisor"]),
        .executableTarget(
            name: "socktest-lua",
            dependencies: [
                "SockTestRunner",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmarks: `scripts/bench`.
        .executableTarget(
            name: "socktest-bench",
            dependencies: [
                "CLua",
                "SockTestLua",
                "SockTestRunner",     // the trace's tap (CallLog), for the trace-on case
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What more than one test target uses.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SockTestCoreTests", dependencies: ["SockTestCore", "TestSupport"]),
        .testTarget(name: "SockTestLuaTests", dependencies: ["SockTestLua", "TestSupport"]),
        .testTarget(name: "SockTestSupervisorTests", dependencies: ["SockTestSupervisor"]),
        .testTarget(name: "CommandLineTests", dependencies: ["socktest-lua", "socktest-bench"]),
    ],
    swiftLanguageModes: [.v6]
)
