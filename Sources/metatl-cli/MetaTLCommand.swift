import ArgumentParser

@main
struct MetaTLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metatl",
        abstract: "MetaTL: sequential recommendation for cold-start users by meta transitional learning.",
        subcommands: [Train.self, Evaluate.self, Recommend.self, Demo.self]
    )
}
