import Foundation
import Hummingbird
import MeridianKit

/// `/api/notifications`: send, list (a customer's in-app inbox, or everything for support), read with every
/// attempt, mark read, re-send dead letters.
struct NotificationRoutes: Sendable {
    let database: any Database
    let store: NotificationStore
    let templates: TemplateStore
    let composer: NotificationComposer
    let audit: AuditLog

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/api/notifications") { request, context in try await send(request, context) }
        router.get("/api/notifications") { request, context in try await list(request, context) }
        router.get("/api/notifications/dead-letters") { request, context in try await deadLetters(request, context) }
        router.get("/api/notifications/:id") { _, context in try await show(context) }
        router.post("/api/notifications/:id/read") { _, context in try await markRead(context) }
        router.post("/api/notifications/:id/retry") { _, context in try await retry(context) }
    }

    func send(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var body = try await request.fieldReader(context: context)
        let input = try SendInput.read(&body, maySendToAddresses: principal.has(.notificationsManage))
        var content: RenderedMessage
        var category: String
        if let templateID = input.templateID {
            guard let stored = try await templates.template(id: templateID) else {
                throw Problem.validation([FieldError(field: "template_id", message: "does not name a template")])
            }
            do {
                content = try stored.template.render(input.data)
            } catch let missing as MessageTemplate.MissingData {
                throw Problem.validation(missing.names.map { FieldError(field: "data.\($0)", message: "is required by the template") })
            }
            category = input.category ?? stored.category
        } else {
            content = input.direct!
            category = input.category!
        }
        let composed = try await database.transaction { sql in
            try await composer.compose(
                .init(
                    recipients: input.recipients, channels: input.channels, category: category,
                    templateID: input.templateID, content: content, sender: principal.subject, sourceEventID: nil),
                actor: AuditActor(context: context), now: Date(), on: sql)
        }
        context.logger.info(
            "notifications accepted",
            metadata: ["count": "\(composed.count)", "category": .string(category),
                       "deliveries": "\(composed.reduce(0) { $0 + $1.notification.deliveries.count })"])
        let resources = composed.map { NotificationResource($0.notification, withAttempts: false, skipped: $0.skipped) }
        return try Response.json(Page(data: resources, nextCursor: nil), status: .accepted)
    }

    func list(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let access = try NotificationAccess(context)
        var query = QueryReader(request, known: PageRequest.parameters.union(["read", "category", "status", "channel", "user_id"]))
        var filter = NotificationStore.Filter()
        if let read = query.oneOf("read", ["true", "false"]) { filter.read = read == "true" }
        filter.category = query.string("category", maxLength: 40)
        filter.status = query.oneOf("status", DeliveryStatus.names).flatMap(DeliveryStatus.init(rawValue:))
        filter.channel = query.oneOf("channel", Channel.names).flatMap(Channel.init(rawValue:))
        let userID = query.string("user_id", maxLength: 64)
        let page = PageRequest(reading: &query)
        try query.finish()
        switch access.read {
        case .all:
            filter.userID = userID
        case .own(let subject):
            // A customer's inbox: their own in-app messages.
            if let userID, userID != subject { return try Response.json(Page<NotificationResource>(data: [], nextCursor: nil)) }
            filter.userID = subject
            filter.inAppOnly = true
        case .none:
            throw Problem(.forbidden, detail: "The access token does not allow reading notifications.")
        }
        let found = try await store.notifications(filter, page: page)
        return try Response.json(page.page(found.map { NotificationResource($0, withAttempts: false) }, id: \.id))
    }

    func deadLetters(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters)
        let page = PageRequest(reading: &query)
        try query.finish()
        let dead = try await store.deadLetters(page: page)
        return try Response.json(page.page(dead.map { DeliveryResource($0, withAttempts: false) }, id: \.id))
    }

    func show(_ context: MeridianRequestContext) async throws -> Response {
        let access = try NotificationAccess(context)
        let notification = try await existing(context, scope: access.read)
        return try Response.json(NotificationResource(notification, withAttempts: true))
    }

    func markRead(_ context: MeridianRequestContext) async throws -> Response {
        let access = try NotificationAccess(context)
        let notification = try await existing(context, scope: access.write)
        let now = Date()
        let updated = try await database.transaction { sql -> Notification? in
            if try await store.markRead(id: notification.id, now: now, on: sql) {
                try await audit.append(
                    AuditEvent(action: "notification.read", resourceType: "notification", resourceID: notification.id),
                    actor: AuditActor(context: context), on: sql)
            }
            return try await store.notification(id: notification.id, on: sql)
        }
        guard let updated else { throw Self.notFound }
        return try Response.json(NotificationResource(updated, withAttempts: false))
    }

    func retry(_ context: MeridianRequestContext) async throws -> Response {
        let notification = try await existing(context, scope: .all)
        let updated = try await database.transaction { sql -> Notification? in
            let requeued = try await store.requeueDead(notificationID: notification.id, now: Date(), on: sql)
            guard !requeued.isEmpty else {
                throw Problem.conflict("The notification has no dead delivery to re-send.")
            }
            try await audit.append(
                AuditEvent(
                    action: "notification.retry", resourceType: "notification", resourceID: notification.id,
                    changes: .object(["deliveries": .array(requeued.map(JSONValue.string))])),
                actor: AuditActor(context: context), on: sql)
            return try await store.notification(id: notification.id, on: sql)
        }
        guard let updated else { throw Self.notFound }
        return try Response.json(NotificationResource(updated, withAttempts: true), status: .accepted)
    }

    static let notFound = Problem.notFound("The notification")

    /// The notification of the path, or 404 when it does not exist or is someone else's under an `:own` scope.
    private func existing(_ context: MeridianRequestContext, scope: OwnershipScope) async throws -> Notification {
        guard let id = context.parameters.get("id"), Identifier.isWellFormed(id, prefix: "ntf"),
            let notification = try await store.notification(id: id)
        else { throw Self.notFound }
        try scope.authorize(owner: notification.userID ?? "", notFound: Self.notFound)
        return notification
    }
}
