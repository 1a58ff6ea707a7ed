import MeridianKit

/// The orders service's schema, in order. Times are microseconds, money is minor units, items and the address
/// are JSON documents (they are always read and written whole with their order), stored as FieldCipher
/// ciphertext like every other value the customer or the payment provider supplied.
enum OrdersMigrations {
    static let all: [Migration] = [
        IdempotencyMiddleware.migration,
        Migration(
            "create_orders",
            ciphertextStatements: { ciphertext in [
                """
                CREATE TABLE orders (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    status TEXT NOT NULL
                        CHECK (status IN ('pending', 'paid', 'fulfilled', 'completed', 'cancelled', 'refunded')),
                    currency TEXT NOT NULL,
                    total BIGINT NOT NULL CHECK (total >= 0),
                    items \(ciphertext) NOT NULL,
                    shipping_address \(ciphertext) NOT NULL,
                    version BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX orders_by_user ON orders (user_id, id)",
                "CREATE INDEX orders_by_status ON orders (status, id)",
            ] }),
        Migration(
            "create_payment_attempts",
            ciphertextStatements: { ciphertext in [
                """
                CREATE TABLE payment_attempts (
                    id TEXT PRIMARY KEY,
                    order_id TEXT NOT NULL REFERENCES orders (id),
                    kind TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
                    status TEXT NOT NULL CHECK (status IN ('processing', 'succeeded', 'declined', 'failed')),
                    amount BIGINT NOT NULL,
                    currency TEXT NOT NULL,
                    payment_method \(ciphertext) NOT NULL,
                    provider_reference \(ciphertext),
                    failure_reason \(ciphertext),
                    lease_expires_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX payment_attempts_by_order ON payment_attempts (order_id, created_at)",
                // The last line of defence against a double charge: at most one processing attempt per order,
                // whatever happens to the checks made in the reserving transaction.
                """
                CREATE UNIQUE INDEX payment_attempts_one_processing ON payment_attempts (order_id)
                    WHERE status = 'processing'
                """,
            ] }),
    ]
}
