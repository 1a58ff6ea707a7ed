import ArgumentParser

/// The listener's certificate. Without `--tls-cert`/`--tls-key`, a development CA under `<data-dir>/tls`
/// issues one (and renews it); the CA's path is printed at start-up.
struct TLSOptions: ParsableArguments {
    @Option(
        name: .customLong("tls-cert"),
        help: "PEM certificate chain of the listener, leaf first (MERIDIAN_TLS_CERT_FILE). Re-read hourly.")
    var certificate: String?

    @Option(
        name: .customLong("tls-key"), help: "PEM private key of --tls-cert (MERIDIAN_TLS_KEY_FILE).")
    var privateKey: String?

    @Option(
        name: .customLong("tls-ca"),
        help: """
            PEM certificate of the CA the services trust when they call each other (MERIDIAN_TLS_CA_FILE). \
            Default: the development CA, or the system's roots with --tls-cert.
            """)
    var ca: String?

    @Option(
        name: .customLong("tls-hosts"),
        help: """
            Comma-separated host names and addresses the development certificate is also valid for, besides \
            localhost, 127.0.0.1, ::1 and the issuer's host (MERIDIAN_TLS_HOSTS).
            """)
    var hosts: String?

    var flags: [String: String?] {
        ["tls.cert.file": certificate, "tls.key.file": privateKey, "tls.ca.file": ca, "tls.hosts": hosts]
    }
}
