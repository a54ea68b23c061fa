import Foundation
import SockTestCore
import SockTestLua
import XCTest

/// The LuaCATS annotations in scripts/annotations name exactly what the live module has: every
/// function and constant of `socktest`, `socktest.net` (and its listener's and connection's
/// methods), `socktest.recipe`, every filter type, every field of the status object, of a stat
/// and of a socket. Compared, never listed here, so a function added to the module without its
/// annotation (or one annotated that does not exist) fails this test.
final class AnnotationTests: XCTestCase {
    static let folder = Repo.root + "/scripts/annotations"

    /// What the annotation files declare, read from their text.
    struct Declared {
        var functions: [String: Set<String>] = [:]    // table or class-local name → functions
        var assigned: [String: [String: String]] = [:] // table → field → value text
        var classes: [String: Set<String>] = [:]       // class → its ---@field names
        var aliases: [String: [String]] = [:]          // alias → its ---| "value" lines

        init(files: [String]) throws {
            let function = try NSRegularExpression(pattern: #"^function (\w+)[.:](\w+)\("#)
            let assignment = try NSRegularExpression(pattern: #"^(\w+)\.(\w+) = (.+)$"#)
            for file in files {
                var currentClass: String?
                var currentAlias: String?
                for raw in try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n") {
                    let line = String(raw)
                    let range = NSRange(line.startIndex..., in: line)
                    func group(_ m: NSTextCheckingResult, _ i: Int) -> String { String(line[Range(m.range(at: i), in: line)!]) }
                    if let m = function.firstMatch(in: line, range: range) {
                        functions[group(m, 1), default: []].insert(group(m, 2))
                    } else if let m = assignment.firstMatch(in: line, range: range) {
                        assigned[group(m, 1), default: [:]][group(m, 2)] = group(m, 3)
                    }
                    if line.hasPrefix("---@class ") {
                        currentClass = String(line.dropFirst(10).split(separator: " ")[0])
                        classes[currentClass!, default: []] = classes[currentClass!] ?? []
                        continue
                    }
                    if let cls = currentClass, line.hasPrefix("---@field ") {
                        let name = line.dropFirst(10).split(separator: " ")[0]
                        if !name.hasPrefix("[") { classes[cls]!.insert(String(name.trimmingCharacters(in: ["?"]))) }
                        continue
                    }
                    if line.hasPrefix("---@alias ") {
                        currentAlias = String(line.dropFirst(10).split(separator: " ")[0])
                        continue
                    }
                    if let alias = currentAlias, line.hasPrefix("---| \"") {
                        aliases[alias, default: []].append(String(line.dropFirst(6).prefix { $0 != "\"" }))
                        continue
                    }
                    if !line.hasPrefix("---") { currentClass = nil; currentAlias = nil }
                }
            }
        }
    }

    func declared() throws -> Declared {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder).filter { $0.hasSuffix(".lua") }
        XCTAssertEqual(Set(files), ["socktest.lua", "socktest.net.lua", "socktest.recipe.lua"])
        return try Declared(files: files.map { Self.folder + "/" + $0 })
    }

    /// A Lua list literal of strings.
    static func lua(_ names: some Sequence<String>) -> String {
        "{" + names.sorted().map { "\"\($0)\"" }.joined(separator: ", ") + "}"
    }

    func testAnnotationsNameEverythingTheModuleHas() throws {
        let d = try declared()
        let socktest = (d.functions["socktest"] ?? []).union(d.assigned["socktest"].map { Array($0.keys) } ?? [])
        let constants = (d.assigned["socktest"] ?? [:]).filter { $0.key.first!.isUppercase }
        let (_, host) = try makeHost()
        defer { host.close() }
        // The module is enumerated live (pairs over its tables, the objects' metatables), and
        // each difference reported by name.
        let script = """
            local st = require("socktest")
            local problems = {}
            local function compare(what, live, declared)
              local want = {}
              for _, n in ipairs(declared) do want[n] = true end
              for n in pairs(live) do
                if not want[n] then problems[#problems + 1] = what .. "." .. n .. " is not annotated" end
              end
              for n in pairs(want) do
                if live[n] == nil then problems[#problems + 1] = what .. "." .. n .. " is annotated but does not exist" end
              end
            end
            local function members(object)
              local names = {}
              if type(object) == "table" then for k in pairs(object) do names[k] = true end end
              local mt = getmetatable(object)
              if mt and type(mt.__index) == "table" then
                for k in pairs(mt.__index) do if not k:find("^__") then names[k] = true end end
              end
              return names
            end
            compare("socktest", st, \(Self.lua(socktest)))
            for name, value in pairs(\(Self.luaTable(constants))) do
              if st[name] ~= value then problems[#problems + 1] = "socktest." .. name .. " is " .. tostring(st[name]) .. ", annotated " .. value end
            end
            local types = {}
            for _, t in ipairs(st.filter_types) do types[t] = true end
            compare("filter type", types, \(Self.lua(d.aliases["socktest.FilterType"] ?? [])))
            compare("socktest.net", require("socktest.net"), \(Self.lua(d.functions["net"] ?? [])))
            compare("socktest.recipe", require("socktest.recipe"), \(Self.lua((d.functions["recipe"] ?? []).union(d.classes["socktest.recipe"] ?? []))))
            local net = require("socktest.net")
            local ln = assert(net.listen("tcp", "127.0.0.1:0"))
            local conn = assert(net.dial("tcp", ln:addr()))
            local peer = assert(ln:accept())
            compare("listener", members(ln), \(Self.lua((d.functions["Listener"] ?? []).union(d.classes["socktest.net.Listener"] ?? []))))
            compare("connection", members(conn), \(Self.lua((d.functions["Conn"] ?? []).union(d.classes["socktest.net.Conn"] ?? []))))
            compare("stat", st.stats()[1], \(Self.lua(d.classes["socktest.stat"] ?? [])))
            local _, socket = next(st.sockets())
            local fields = {}
            for k in pairs(socket) do fields[k] = true end
            fields.err, fields.socket_err = true, true   -- set only when not nil
            compare("socket", fields, \(Self.lua(d.classes["socktest.socket"] ?? [])))
            conn:close(); peer:close(); ln:close()
            assert(#problems == 0, table.concat(problems, "; "))
            """
        do {
            try host.load(string: script, name: "annotations")
        } catch {
            XCTFail("the annotations differ from the live module: \(error)")
        }
    }

    /// The status object answers from `StatusObject.Field` (its `__index` switches over it), so
    /// that list is the live one; each field is also read in a filter, where it must exist.
    func testTheStatusClassNamesEveryField() throws {
        let d = try declared()
        let live = Set(StatusObject.Field.allCases.map(\.rawValue))
        XCTAssertEqual(d.classes["socktest.status"], live)
        XCTAssertEqual(Set(d.aliases["socktest.FilterType"] ?? []), Set(FilterType.allCases.map(\.name)))
        XCTAssertEqual(d.classes["socktest.stat"], Set(["family", "type", "protocol"] + Stat.Counter.allCases.map(\.name) + ["read_bytes", "written_bytes"]))
    }

    func testTheAnnotationsAreLuaThatCompiles() throws {
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.folder) where file.hasSuffix(".lua") {
            let (_, host) = try makeHost()
            defer { host.close() }
            XCTAssertNoThrow(try host.compile(file: Self.folder + "/" + file), file)
            let source = try String(contentsOfFile: Self.folder + "/" + file, encoding: .utf8)
            XCTAssertTrue(source.hasPrefix("---@meta "), "\(file) starts with ---@meta")
        }
    }

    static func luaTable(_ values: [String: String]) -> String {
        "{" + values.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + "}"
    }
}
