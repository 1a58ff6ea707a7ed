import Synchronization

/// A circuit breaker for one upstream. Closed, it counts outcomes in a rolling window; when at least
/// `minimumRequests` in the window failed at `failureRatio` or more, it opens and requests fail at once (503)
/// for `openDuration`. Then it lets one probe through (half-open): a success closes it, a failure opens it again.
public final class CircuitBreaker: Sendable {
    public struct Settings: Sendable, Equatable {
        public var failureRatio: Double
        public var minimumRequests: Int
        public var window: Duration
        public var openDuration: Duration

        public init(
            failureRatio: Double = 0.5, minimumRequests: Int = 20, window: Duration = .seconds(10),
            openDuration: Duration = .seconds(5)
        ) {
            self.failureRatio = failureRatio
            self.minimumRequests = minimumRequests
            self.window = window
            self.openDuration = openDuration
        }
    }

    public enum State: String, Sendable { case closed, open, halfOpen = "half_open" }

    /// Whether a request may go, and whether it is the half-open probe.
    public enum Permit: Sendable, Equatable { case allowed, probe, rejected }

    struct Counts {
        var state: State = .closed
        var windowStart: ContinuousClock.Instant
        var requests = 0
        var failures = 0
        var openedAt: ContinuousClock.Instant?
        var probeInFlight = false
    }

    public let settings: Settings
    private let counts: Mutex<Counts>
    private let onTransition: @Sendable (State) -> Void
    /// The time the window and the open period are measured in: the continuous clock, or a test's own clock, so
    /// a test decides when the open period is over rather than sleeping through it.
    let clock: @Sendable () -> ContinuousClock.Instant

    public convenience init(settings: Settings, onTransition: @escaping @Sendable (State) -> Void = { _ in }) {
        self.init(settings: settings, clock: { .now }, onTransition: onTransition)
    }

    init(
        settings: Settings, clock: @escaping @Sendable () -> ContinuousClock.Instant,
        onTransition: @escaping @Sendable (State) -> Void
    ) {
        self.settings = settings
        self.clock = clock
        self.counts = Mutex(Counts(windowStart: clock()))
        self.onTransition = onTransition
    }

    public var state: State { counts.withLock { $0.state } }

    /// Whether a request may go now, on the breaker's clock.
    public func permit() -> Permit { permit(now: clock()) }

    /// Reports, now on the breaker's clock, how a permitted request ended.
    public func record(success: Bool, probe: Bool) { record(success: success, probe: probe, now: clock()) }

    public func permit(now: ContinuousClock.Instant) -> Permit {
        let (permit, transition) = counts.withLock { counts -> (Permit, State?) in
            switch counts.state {
            case .closed:
                return (.allowed, nil)
            case .open:
                guard let openedAt = counts.openedAt, now - openedAt >= settings.openDuration else {
                    return (.rejected, nil)
                }
                counts.state = .halfOpen
                counts.probeInFlight = true
                return (.probe, .halfOpen)
            case .halfOpen:
                if counts.probeInFlight { return (.rejected, nil) }
                counts.probeInFlight = true
                return (.probe, nil)
            }
        }
        if let transition { onTransition(transition) }
        return permit
    }

    /// Reports how a permitted request ended.
    public func record(success: Bool, probe: Bool, now: ContinuousClock.Instant) {
        let transition = counts.withLock { counts -> State? in
            if probe || counts.state == .halfOpen {
                counts.probeInFlight = false
                if success {
                    counts = Counts(windowStart: now)
                    return .closed
                }
                counts.state = .open
                counts.openedAt = now
                return .open
            }
            guard counts.state == .closed else { return nil }
            if now - counts.windowStart >= settings.window {
                counts.windowStart = now
                counts.requests = 0
                counts.failures = 0
            }
            counts.requests += 1
            if !success { counts.failures += 1 }
            if counts.requests >= settings.minimumRequests,
                Double(counts.failures) >= settings.failureRatio * Double(counts.requests)
            {
                counts.state = .open
                counts.openedAt = now
                return .open
            }
            return nil
        }
        if let transition { onTransition(transition) }
    }
}
