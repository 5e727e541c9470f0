import ArgumentParser

@main
struct MetaTLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metatl",
        abstract: "MetaTL: sequential recommendation for cold-start users by meta transitional learning.",
        subcommands: [Train.self, Demo.self]
    )
}
