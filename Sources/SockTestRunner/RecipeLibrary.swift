import Foundation

/// Where recipes live, found from any working directory. A root is a folder holding `recipes/`
/// (so `require("recipes.NAME")` finds `root/recipes/NAME.lua`). Searched in order:
/// each folder of $SOCKTEST_LUA_PATH (colon-separated); `PREFIX/share/socktest-lua` next to an
/// installed `PREFIX/bin/socktest-lua`; and, for a build in a checkout, the `scripts/` folder
/// of the checkout the executable sits in (up to six folders above it).
package struct RecipeLibrary: Sendable {
    package struct Recipe: Sendable {
        package let name: String
        package let description: String
        package let path: String
    }

    /// The folders that hold `recipes/`, in search order.
    package let roots: [String]
    /// Every folder looked in, found or not (for the error when none was).
    package let searched: [String]

    package init(roots: [String], searched: [String]? = nil) {
        self.roots = roots
        self.searched = searched ?? roots
    }

    package static func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                              executable: String = CommandLine.executablePath) -> RecipeLibrary {
        var roots: [String] = []
        if let path = environment["SOCKTEST_LUA_PATH"] {
            roots += path.split(separator: ":").map(String.init)
        }
        let bin = (executable as NSString).deletingLastPathComponent
        roots.append(((bin as NSString).appendingPathComponent("../share/socktest-lua") as NSString).standardizingPath)
        var dir = bin
        for _ in 0..<6 {
            let candidate = (dir as NSString).appendingPathComponent("scripts")
            if FileManager.default.fileExists(atPath: candidate + "/recipes") {
                roots.append(candidate)
                break
            }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return RecipeLibrary(roots: roots.filter { FileManager.default.fileExists(atPath: $0 + "/recipes") },
                             searched: roots)
    }

    /// Why there is no recipe called `name`: the names there are, or where none was found.
    package func unknown(_ name: String) -> String {
        let known = recipes().map(\.name)
        guard !known.isEmpty else { return "unknown recipe '\(name)': \(noneFound)" }
        return "unknown recipe '\(name)' (known: \(known.joined(separator: ", ")))"
    }

    /// No recipes anywhere: where they were looked for, and how to point at them.
    package var noneFound: String {
        "no recipes found (looked in \(searched.map { $0 + "/recipes" }.joined(separator: ", "))); "
            + "set SOCKTEST_LUA_PATH to a folder holding recipes/"
    }

    /// Every recipe, by name; the first root that has a name wins.
    package func recipes() -> [Recipe] {
        var seen: [String: Recipe] = [:]
        for root in roots {
            let folder = root + "/recipes"
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where file.hasSuffix(".lua") {
                let name = String(file.dropLast(4))
                guard seen[name] == nil else { continue }
                let path = folder + "/" + file
                seen[name] = Recipe(name: name, description: Self.header(of: path).first ?? "", path: path)
            }
        }
        return seen.values.sorted { $0.name < $1.name }
    }

    package func recipe(named name: String) -> Recipe? { recipes().first { $0.name == name } }

    /// A recipe's documentation: its leading comment block, without the comment marks.
    package func documentation(of name: String) -> String? {
        recipe(named: name).map { Self.header(of: $0.path).joined(separator: "\n") }
    }

    private static func header(of path: String) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("--") else { break }
            var body = line.dropFirst(2)
            if body.first == " " { body = body.dropFirst() }
            lines.append(String(body))
        }
        return lines
    }
}

extension CommandLine {
    /// This executable's real path (/proc/self/exe), whatever the working directory.
    package static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}
