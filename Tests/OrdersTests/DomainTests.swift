import Foundation
import Testing

@testable import Orders

@Suite struct MoneyTests {
    let eur = Currency(code: "EUR")!

    @Test func totalIsTheSumOfQuantityTimesUnitPrice() throws {
        let items = [
            OrderItem(sku: "A", name: "A", quantity: 2, unitPrice: 1250),
            OrderItem(sku: "B", name: "B", quantity: 3, unitPrice: 999),
        ]
        #expect(try Money.total(of: items, in: eur) == Money(minorUnits: 5497, currency: eur))
        #expect(try Money.total(of: [], in: eur).minorUnits == 0)
    }

    @Test func largestAllowedOrderIsExact() throws {
        let items = Array(
            repeating: OrderItem(sku: "A", name: "A", quantity: 10_000, unitPrice: 100_000_000), count: 100)
        #expect(try Money.total(of: items, in: eur).minorUnits == 100_000_000_000_000)
    }

    @Test func lineOverflowIsRefusedNotWrapped() {
        let item = OrderItem(sku: "A", name: "A", quantity: Int64.max / 2 + 1, unitPrice: 2)
        #expect(throws: MoneyOverflow.self) { try item.lineTotal() }
        #expect(throws: MoneyOverflow.self) { try Money.total(of: [item], in: eur) }
    }

    @Test func sumOverflowIsRefusedNotWrapped() {
        let half = OrderItem(sku: "A", name: "A", quantity: 1, unitPrice: Int64.max / 2 + 1)
        #expect(throws: MoneyOverflow.self) { try Money.total(of: [half, half], in: eur) }
    }

    @Test func replacingItemsRecomputesTheTotal() throws {
        var order = try Order.place(
            id: "ord_x", userID: "usr_x", currency: eur,
            items: [OrderItem(sku: "A", name: "A", quantity: 1, unitPrice: 100)],
            shippingAddress: ShippingAddress(
                name: "N", line1: "L", city: "C", postalCode: "P", country: Country(code: "GB")!),
            now: Date())
        #expect(order.total.minorUnits == 100)
        try order.replaceItems([OrderItem(sku: "A", name: "A", quantity: 7, unitPrice: 100)])
        #expect(order.total == Money(minorUnits: 700, currency: eur))
    }
}

@Suite struct CurrencyAndCountryTests {
    @Test(arguments: ["EUR", "USD", "JPY", "GBP", "CHF", "XOF", "XCG", "ZWG", "VED", "SLE"])
    func activeCurrenciesAreAccepted(_ code: String) {
        #expect(Currency(code: code)?.code == code)
    }

    /// Lower case, unknown, withdrawn (HRK, BGN, ANG, ZWL, SLL), and codes that are not money (XTS test, XXX
    /// none, XAU gold, CHE/CLF funds, XDR).
    @Test(arguments: [
        "eur", "Eur", "EURO", "", "ABC", "HRK", "BGN", "ANG", "ZWL", "SLL", "XTS", "XXX", "XAU", "CHE", "CLF", "XDR",
    ])
    func otherCodesAreRefused(_ code: String) {
        #expect(Currency(code: code) == nil)
    }

    @Test func everyCurrencyCodeIsThreeUpperCaseLetters() {
        for code in Currency.activeCodes {
            #expect(code.count == 3 && code.allSatisfy { $0.isASCII && $0.isUppercase }, "\(code)")
        }
    }

    @Test func allAssignedCountriesAndNothingElse() {
        #expect(Country.codes.count == 249)
        for code in Country.codes {
            #expect(code.count == 2 && code.allSatisfy { $0.isASCII && $0.isUppercase }, "\(code)")
        }
        for code in ["GB", "US", "DE", "JP", "BR", "AQ", "SS"] { #expect(Country(code: code) != nil, "\(code)") }
        // Lower case, reserved (UK, EU), unassigned (XX), alpha-3 (GBR), empty.
        for code in ["gb", "Gb", "UK", "EU", "XX", "GBR", ""] { #expect(Country(code: code) == nil, "\(code)") }
    }

    @Test func storedCodesStayReadableAfterWithdrawal() throws {
        // An address stored in a country code ISO later withdrew must still decode.
        let json = #"{"name":"N","line1":"L","line2":null,"city":"C","region":null,"postal_code":"P","country":"AN"}"#
        let address = try JSONDecoder().decode(ShippingAddress.self, from: Data(json.utf8))
        #expect(address.country.code == "AN")
        #expect(address.line2 == nil)
    }
}

@Suite struct TestPaymentProviderTests {
    let eur = Currency(code: "EUR")!

    func charge(_ provider: TestPaymentProvider, _ method: String, key: String = UUID().uuidString) async throws
        -> PaymentResult
    {
        try await provider.charge(
            ChargeRequest(amount: Money(minorUnits: 2500, currency: eur), paymentMethod: method, idempotencyKey: key))
    }

    @Test func testTokensBehaveLikeACardProcessorInTestMode() async throws {
        let provider = TestPaymentProvider()
        let visa = try await charge(provider, "tok_visa")
        #expect(visa.outcome == .succeeded)
        #expect(visa.providerReference?.hasPrefix("ch_") == true)
        #expect(try await charge(provider, "tok_chargeDeclined").outcome == .declined(reason: "card_declined"))
        let error = try await charge(provider, "tok_processingError")
        #expect(error.outcome == .failed(reason: "processing_error"))
        #expect(error.providerReference == nil)
        #expect(provider.chargeCount == 1)
    }

    @Test func onlyTestTokensAreAccepted() {
        let provider = TestPaymentProvider()
        for method in ["tok_visa", "tok_chargeDeclined", "tok_processingError"] {
            #expect(provider.problem(withPaymentMethod: method) == nil)
        }
        for method in ["4242424242424242", "tok_mastercard", "TOK_VISA", ""] {
            #expect(provider.problem(withPaymentMethod: method) != nil)
        }
    }

    @Test func sameIdempotencyKeyNeverChargesTwice() async throws {
        let provider = TestPaymentProvider()
        let first = try await charge(provider, "tok_visa", key: "pay_1")
        let again = try await charge(provider, "tok_visa", key: "pay_1")
        #expect(again == first)
        #expect(provider.chargeCount == 1)
        // The same key for a different request is an error, not a charge.
        let other = try await provider.charge(
            ChargeRequest(
                amount: Money(minorUnits: 1, currency: eur), paymentMethod: "tok_visa", idempotencyKey: "pay_1"))
        #expect(other.outcome == .failed(reason: "idempotency_key_in_use"))
        #expect(provider.chargeCount == 1)
    }

    @Test func refundsOfItsOwnChargesSucceedOnce() async throws {
        let provider = TestPaymentProvider()
        let reference = try #require(try await charge(provider, "tok_visa").providerReference)
        let amount = Money(minorUnits: 2500, currency: eur)
        let refund = try await provider.refund(
            RefundRequest(chargeReference: reference, amount: amount, idempotencyKey: "r1"))
        #expect(refund.outcome == .succeeded)
        #expect(refund.providerReference?.hasPrefix("re_") == true)
        // Replaying the key returns the same refund; a new key for the same charge is refused.
        #expect(
            try await provider.refund(RefundRequest(chargeReference: reference, amount: amount, idempotencyKey: "r1"))
                == refund)
        let twice = try await provider.refund(
            RefundRequest(chargeReference: reference, amount: amount, idempotencyKey: "r2"))
        #expect(twice.outcome == .declined(reason: "charge_already_refunded"))
        #expect(provider.refundCount == 1)
    }

    @Test func refundsOfAnythingElseAreDeclined() async throws {
        let provider = TestPaymentProvider()
        let unknown = try await provider.refund(
            RefundRequest(
                chargeReference: "ch_unknown", amount: Money(minorUnits: 1, currency: eur), idempotencyKey: "r"))
        #expect(unknown.outcome == .declined(reason: "no_such_charge"))
        let reference = try #require(try await charge(provider, "tok_visa").providerReference)
        let tooMuch = try await provider.refund(
            RefundRequest(
                chargeReference: reference, amount: Money(minorUnits: 2501, currency: eur), idempotencyKey: "r2"))
        #expect(tooMuch.outcome == .declined(reason: "amount_too_large"))
        #expect(provider.refundCount == 0)
    }
}
