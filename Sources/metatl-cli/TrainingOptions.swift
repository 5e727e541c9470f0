import ArgumentParser
import Foundation
import MetaTL

/// The settings shared by every command that trains.
struct TrainingOptions: ParsableArguments {
    @Option(name: .customLong("K"), help: "Initial interactions per new user (K-1 support pairs).")
    var K = 3
    @Option(help: "Training steps (meta batches).")
    var steps = 1000
    @Option(help: "Evaluate on the validation users every N steps (0: only at the end).")
    var evalEvery = 100
    @Option(help: "Tasks per step.")
    var batchSize = 1024
    @Option(help: "Adam learning rate.")
    var lr: Float = 0.001
    @Option(help: "Inner-step size: r' = r - beta * dL_s/dr.")
    var beta: Float = 5
    @Option(help: "Margin of the ranking loss.")
    var margin: Float = 1
    @Option(help: "Dropout probability in the relation learner.")
    var dropout: Float = 0.5
    @Option(help: "Item embedding size.")
    var dim = 100
    @Option(help: "Relation learner hidden sizes, comma-separated.")
    var hidden = "500,200"
    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 1
    @Option(help: "Training task sampler: reference (the notebook's, slips included) or contiguous.")
    var sampler: SamplerMode = .reference
    @Option(help: "Inner-step scaling in training: reference (batch mean) or per_task.")
    var innerStep: InnerStepScaling = .reference
    @Option(help: "Worker threads (default: all cores). Results are reproducible for a given count.")
    var threads: Int?
    @Option(help: "Write every reported number to this JSON file.")
    var metricsJSON: String?
    @Option(help: "Save the trained model to this checkpoint (safetensors).")
    var out: String?

    func configuration() throws -> Configuration {
        var c = Configuration()
        c.K = K
        c.dim = dim
        let sizes = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard sizes.count == 2, let h1 = sizes[0], let h2 = sizes[1] else {
            throw ValidationError("--hidden expects two comma-separated sizes, e.g. 500,200 (got '\(hidden)')")
        }
        c.hidden1 = h1
        c.hidden2 = h2
        c.batchSize = batchSize
        c.learningRate = lr
        c.beta = beta
        c.margin = margin
        c.dropout = dropout
        c.seed = seed
        c.sampler = sampler
        c.innerStep = innerStep
        c.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        try c.validate()
        guard steps >= 0 else { throw ValidationError("--steps must be non-negative (got \(steps))") }
        guard evalEvery >= 0 else { throw ValidationError("--eval-every must be non-negative (got \(evalEvery))") }
        return c
    }
}

extension SamplerMode: ExpressibleByArgument {}
extension InnerStepScaling: ExpressibleByArgument {}
