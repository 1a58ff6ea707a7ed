import Foundation

/// Writes files only their owner may read (0600) in a directory only its owner may enter (0700): private keys
/// and the certificates next to them. A file is written under a temporary name and renamed into place, so a
/// reader (or a crash) never sees half of it, and it is never readable by others, not even for an instant.
enum PrivateFile {
    struct WriteError: Error, CustomStringConvertible {
        let description: String
    }

    static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw WriteError(description: "cannot create the directory \(path): \(error.localizedDescription)")
        }
    }

    static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp-\(UUID().uuidString)"
        // O_EXCL: never reuse a file someone else prepared; the mode applies from creation.
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw WriteError(description: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        var written = 0
        var failure: Int32 = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            written += result
        }
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        close(descriptor)
        guard failure == 0, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(failure == 0 ? errno : failure))
            unlink(temporary)
            throw WriteError(description: "cannot write \(path): \(reason)")
        }
    }

    static func read(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw WriteError(description: "cannot read \(path): \(error.localizedDescription)")
        }
    }
}
