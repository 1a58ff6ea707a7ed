import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where `meridian login --save` keeps the token response: `$XDG_CONFIG_HOME/meridian/token.json`, by default
/// `~/.config/meridian/token.json`, readable by its owner only.
enum TokenFile {
    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let base: String
        if let configHome = environment["XDG_CONFIG_HOME"], configHome.hasPrefix("/") {
            base = configHome
        } else if let home = environment["HOME"], !home.isEmpty {
            base = (home as NSString).appendingPathComponent(".config")
        } else {
            throw LoginError(description: "cannot tell where to save the token: HOME is not set")
        }
        return ((base as NSString).appendingPathComponent("meridian") as NSString).appendingPathComponent("token.json")
    }

    /// Writes `contents` with mode 0600 from the first byte (never briefly readable by others), through a
    /// temporary file renamed into place, so a reader sees the old file or the whole new one.
    static func write(_ contents: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw LoginError(description: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try file.write(contentsOf: contents)
            try file.synchronize()
            try file.close()
        } catch {
            unlink(temporary)
            throw LoginError(description: "cannot write \(temporary): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw LoginError(description: "cannot write \(path): \(reason)")
        }
    }
}
