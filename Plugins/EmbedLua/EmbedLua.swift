import Foundation
import PackagePlugin

/// Embeds a target's `lua/*.lua` files into it as Swift string literals (`LuaSources`), built
/// anew whenever one changes: the Lua parts of the module are real .lua files (highlighted,
/// checked by `luac -p`), and a binary copied out of the checkout needs no files beside it.
@main
struct EmbedLua: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let folder = target.directoryURL.appending(path: "lua")
        let sources = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let script = context.package.directoryURL.appending(path: "scripts/gen-lua-sources")
        let output = context.pluginWorkDirectoryURL.appending(path: "LuaSources.swift")
        return [.buildCommand(
            displayName: "Embedding \(sources.count) Lua files into \(target.name)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [script.path, output.path] + sources.map(\.path),
            inputFiles: sources + [script],
            outputFiles: [output])]
    }
}
