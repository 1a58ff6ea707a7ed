import Foundation
import Logging

/// Where the master key comes from: `MERIDIAN_MASTER_KEY` (base64), a key file (`--master-key-file`,
/// `MERIDIAN_MASTER_KEY_FILE`, for example a mounted Kubernetes secret), or, for `serve` on a laptop only, a key
/// generated into the data directory.
public enum MasterKeySource {
    /// The file name of the generated development key inside the data directory.
    public static let developmentFileName = "master.key"

    public struct Missing: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Resolves the key. `base64` wins over `file`; with neither, `developmentDirectory` (serve only) gets a
    /// generated `master.key` (mode 0600) on first use, with a warning logged; otherwise it is a configuration
    /// error naming the settings.
    public static func resolve(
        base64: String?, file: String?, developmentDirectory: String?, logger: Logger
    ) throws -> MasterKey {
        if let base64, !base64.isEmpty {
            do { return try MasterKey(base64: base64) } catch let error as MasterKey.Invalid {
                throw Missing(description: "MERIDIAN_MASTER_KEY is unusable: \(error.description)")
            }
        }
        if let file, !file.isEmpty { return try load(file: file) }
        guard let developmentDirectory else {
            throw Missing(
                description: "no master key: set MERIDIAN_MASTER_KEY (base64 of 32 random bytes) or "
                    + "MERIDIAN_MASTER_KEY_FILE / --master-key-file")
        }
        let path = (developmentDirectory as NSString).appendingPathComponent(developmentFileName)
        if FileManager.default.fileExists(atPath: path) { return try load(file: path) }
        let key = MasterKey.generate()
        try writeKeyFile(key, path: path)
        logger.warning(
            "generated a development master key; it sits beside the data it protects, so this is for development only: set MERIDIAN_MASTER_KEY or --master-key-file in production",
            metadata: ["key_file": .string(path)])
        return key
    }

    /// Reads a key file: base64 text, or the 32 raw bytes.
    public static func load(file path: String) throws -> MasterKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Missing(description: "cannot read the master key file \(path)")
        }
        if data.count == 32, let raw = try? MasterKey(bytes: data) {
            // Base64 text of a key is 44 characters, so 32 bytes can only be the raw key.
            return raw
        }
        do {
            return try MasterKey(base64: String(decoding: data, as: UTF8.self))
        } catch let error as MasterKey.Invalid {
            throw Missing(description: "the master key file \(path) is unusable: \(error.description)")
        }
    }

    /// Writes `key` as base64 to a new file readable only by its owner; never overwrites an existing file.
    public static func writeKeyFile(_ key: MasterKey, path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw Missing(description: "cannot create the master key file \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data((key.base64 + "\n").utf8))
        try handle.synchronize()
    }
}
