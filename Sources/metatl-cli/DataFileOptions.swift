import ArgumentParser
import MetaTL

/// The settings of every command that reads interaction files.
struct DataFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The most bytes each data file may hold: a larger file is refused, and a pipe that gives more (one that never ends) stops there. A number, optionally with K, M, G or T (powers of 1024).",
                               valueName: "bytes"))
    var maxFileBytes = ByteCount(Dataset.defaultMaxFileBytes)
}

/// A byte count on the command line: `4294967296`, `4G`, `512M`, `64KiB`.
struct ByteCount: ExpressibleByArgument, Equatable {
    let value: Int

    init(_ value: Int) { self.value = value }

    init?(argument: String) {
        var text = Substring(argument.uppercased())
        if text.hasSuffix("IB") { text = text.dropLast(2) } else if text.hasSuffix("B") { text = text.dropLast() }
        var scale = 1
        if let unit = text.last, let power = ["K": 1, "M": 2, "G": 3, "T": 4][String(unit)] {
            scale = 1 << (10 * power)
            text = text.dropLast()
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text) else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: scale)
        guard !overflow, v >= 1 else { return nil }
        value = v
    }

    var defaultValueDescription: String {
        for (unit, power) in [("T", 4), ("G", 3), ("M", 2), ("K", 1)] where value % (1 << (10 * power)) == 0 {
            return "\(value >> (10 * power))\(unit)"
        }
        return String(value)
    }
}
