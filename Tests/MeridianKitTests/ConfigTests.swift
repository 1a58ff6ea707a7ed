import Configuration
import Foundation
import MeridianKit
import Testing

@Suite struct ConfigTests {
    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() async throws {
        let file = TestFiles.path("config.json")
        try #"{"listen": "file:1", "database": {"url": "file-db"}, "users": {"url": "http://file"}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let reader = try await ConfigLoader.reader(
            flags: ["listen": "flag:1", "config": file],
            defaults: ["listen": "default:1", "database.url": "default-db", "users.url": "d", "log.level": "info"],
            environment: ["MERIDIAN_LISTEN": "env:1", "MERIDIAN_DATABASE_URL": "env-db"])
        #expect(reader.string(forKey: "listen") == "flag:1")
        #expect(reader.string(forKey: "database.url") == "env-db")
        #expect(reader.string(forKey: "users.url") == "http://file")
        #expect(reader.string(forKey: "log.level") == "info")
    }

    @Test func listenAddressesParse() {
        #expect(ListenAddress("127.0.0.1:8080") == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(ListenAddress("[::1]:9") == ListenAddress(host: "::1", port: 9))
        #expect(ListenAddress(":80") == ListenAddress(host: "127.0.0.1", port: 80))
        #expect(ListenAddress("nohost") == nil)
        #expect(ListenAddress("h:99999") == nil)
    }

    @Test func missingServiceURLNamesTheFlagAndVariable() {
        let settings = ServiceSettings(name: "orders", listen: .init(host: "127.0.0.1", port: 0), databaseURL: "x")
        #expect(throws: ServiceSettings.Missing.self) { try settings.url(of: "users") }
        do {
            _ = try settings.url(of: "users")
        } catch {
            #expect("\(error)".contains("--users-url"))
            #expect("\(error)".contains("MERIDIAN_USERS_URL"))
        }
    }
}

enum TestFiles {
    static func path(_ name: String) -> String {
        let directory = NSTemporaryDirectory() + "meridiankit-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/" + name
    }
}
