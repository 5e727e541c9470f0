import ArgumentParser
import MetaTL

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job on built-in synthetic data: generate, train, compare with the baselines.",
        discussion: """
        Generates a seeded cold-start dataset whose users each follow one planted transition \
        pattern (a direction on a grid of items, see SyntheticData), trains MetaTL on it with the \
        given settings and prints the comparison table, with the generator's oracle (it knows each \
        user's direction) as the ceiling. The seed drives the data and the run.
        """
    )

    @OptionGroup var options: TrainingOptions

    func run() throws {
        var generator = SyntheticData()
        generator.seed = options.seed
        let (train, test, oracle) = generator.generateWithOracle()
        let c = try options.configuration()
        let data = try Dataset(train: train, test: test, K: c.K, seed: c.seed,
                               trainName: "synthetic training users", testName: "synthetic new users")
        try TrainingRun(dataset: data, configuration: c, options: options, oracle: oracle).run()
    }
}
