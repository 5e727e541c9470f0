import ArgumentParser
import Foundation
@_spi(Diagnostics) import MetaTL

@main
struct MetaTLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metatl",
        abstract: "MetaTL: sequential recommendation for cold-start users by meta transitional learning.",
        version: MetaTLVersion.string,
        subcommands: [Train.self, Evaluate.self, Split.self, Recommend.self, Demo.self, Bench.self, BLASInfo.self]
    )

    static func main() {
        // OpenBLAS chooses its kernels when it loads; restart once with a faster one when it
        // fell back to a generic kernel on a CPU it did not recognise (see BLASKernel).
        if CommandLine.arguments.dropFirst().first != "blas" {
            BLASKernel.restartWithBetterKernelIfNeeded()
        }
        main(nil)
    }
}

struct BLASInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Print the OpenBLAS kernel in use and the one this CPU could use."
    )

    @Flag(help: "Print only the recommended kernel (empty when none).")
    var recommended = false

    func run() {
        if recommended {
            print(BLASKernel.recommended() ?? "")
        } else {
            print("current: \(BLASKernel.current)\nrecommended: \(BLASKernel.recommended() ?? "(keep current)")")
        }
    }
}
