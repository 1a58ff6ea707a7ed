import ArgumentParser

/// The `meridian` command: turns flags, `MERIDIAN_*` variables and a JSON file into service settings and
/// runs the services. Business logic lives in the service modules, never here.
@main
struct Meridian: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meridian",
        abstract: "Meridian: five services behind one gateway.",
        discussion: """
            Every option can also come from the environment (MERIDIAN_ + the option's name in upper case with \
            underscores, e.g. MERIDIAN_DATABASE_URL, MERIDIAN_LISTEN, MERIDIAN_USERS_URL, MERIDIAN_DATA_DIR, \
            MERIDIAN_LOG_LEVEL, MERIDIAN_ISSUER, MERIDIAN_ADMIN_PASSWORD) or from a JSON file given with --config (nested keys: \
            {"database": {"url": "…"}, "users": {"url": "…", "timeout": "10"}}). Flags win over the environment, \
            which wins over the file.
            """,
        subcommands: [
            ServeCommand.self, GatewayCommand.self, UsersCommand.self, OrdersCommand.self,
            NotificationsCommand.self, AnalyticsCommand.self, MigrateCommand.self, AdminCommand.self,
            KeysCommand.self, LoginCommand.self,
            AuditCommand.self,
        ]
    )
}
