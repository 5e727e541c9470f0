import ArgumentParser
import MetaTL

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job on built-in synthetic data: generate, train, compare with the baselines.",
        discussion: """
        Generates a seeded cold-start dataset whose users each follow one planted transition
        pattern (see SyntheticData), trains MetaTL on it and prints the comparison table.
        """
    )

    @Option(help: "Steps to train.")
    var steps = 400
    @Option(help: "Evaluate on the validation users every N steps (0: only at the end).")
    var evalEvery = 100
    @Option(help: "Seed of the data and of the run.")
    var seed: UInt64 = 1
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?
    @Option(help: "Write every reported number to this JSON file.")
    var metricsJSON: String?

    func run() throws {
        var generator = SyntheticData()
        generator.seed = seed
        let (train, test) = generator.generate()
        let data = try Dataset(train: train, test: test, K: 3, seed: seed, trainName: "synthetic training users",
                               testName: "synthetic new users")
        var options = try TrainingOptions.parse(["--steps", String(steps), "--seed", String(seed)]
                                                + (threads.map { ["--threads", String($0)] } ?? []))
        options.evalEvery = evalEvery
        options.metricsJSON = metricsJSON
        let c = try options.configuration()
        try TrainingRun(dataset: data, configuration: c, steps: steps, evalEvery: evalEvery, metricsJSON: metricsJSON).run()
    }
}
