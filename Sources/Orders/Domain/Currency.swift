/// An ISO 4217 currency an order can be priced and paid in.
///
/// The set is ISO 4217 "list one" as of 2026 (BGN withdrawn after Bulgaria joined the euro, ANG replaced by XCG,
/// ZWL by ZWG), limited to codes that are money: the fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW),
/// precious metals, bond-market units, SDR, XAD, XSU, XUA, and the testing and no-currency codes (XTS, XXX) name
/// units of account that no payment processor charges, so an order in them could never be paid.
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    public let code: String

    /// The currency for an upper-case ISO 4217 code, or nil when the code is not an active currency.
    public init?(code: String) {
        guard Currency.activeCodes.contains(code) else { return nil }
        self.code = code
    }

    /// A code read back from storage. It was active when stored; ISO may have withdrawn it since, and the order
    /// must stay readable.
    init(storedCode: String) {
        self.code = storedCode
    }

    public var description: String { code }

    public static let activeCodes: Set<String> = [
        "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD", "BIF", "BMD", "BND",
        "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE",
        "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD",
        "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
        "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD",
        "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO",
        "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF",
        "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
        "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED", "VES", "VND",
        "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
    ]
}
