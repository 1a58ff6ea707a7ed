import Prometheus

extension ServiceMetrics {
    /// Exports a database's connection pool: `db_pool_connections_in_use` and `db_pool_connections_max` (gauges
    /// read at each scrape, so they are exact at that instant) and `db_pool_wait_seconds` (a histogram of each
    /// lease's wait for a connection; on SQLite, the wait for its single writer). The one label, `engine`, is
    /// `sqlite` or `postgres`. Call it once per database: each call adds another wait observer.
    public func exportPoolUsage(of database: any Database) {
        guard let pooled = database as? any PooledDatabase else { return }
        let labels = [("engine", database.engine.rawValue)]
        let inUse = makeGauge(
            "db_pool_connections_in_use", help: "Database connections leased to an operation now", labels: labels)
        let capacity = makeGauge(
            "db_pool_connections_max", help: "Database connections the pool may hold", labels: labels)
        let wait = registry.makeDurationHistogram(
            descriptor: .init(
                metricName: "db_pool_wait", unitName: "seconds",
                helpText: "Time an operation waited for a database connection (SQLite: for the write lock)"),
            labels: labels, buckets: ServiceMetrics.latencyBuckets)
        pooled.observeConnectionWaits { wait.record($0) }
        refreshBeforeEachScrape {
            let snapshot = pooled.connectionPoolSnapshot()
            inUse.set(Double(snapshot.inUse))
            capacity.set(Double(snapshot.capacity))
        }
    }
}
