import Dispatch

/// Wall time per phase of a training step, accumulated while profiling is on (benchmarks).
final class PhaseTimer: @unchecked Sendable {
    private(set) var totals: [String: Double] = [:]
    private(set) var order: [String] = []
    private var last = DispatchTime.now().uptimeNanoseconds

    func start() { last = DispatchTime.now().uptimeNanoseconds }

    /// Charges the time since the previous mark to `phase`.
    func mark(_ phase: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        if totals[phase] == nil { order.append(phase) }
        totals[phase, default: 0] += Double(now - last) / 1e9
        last = now
    }
}

extension MetaTLModel {
    /// Trains `steps` steps while timing each phase of the step (sampling, forward, losses,
    /// backward, optimiser); returns milliseconds per step for each phase, in step order.
    /// The training itself is the same as ``train(on:steps:progress:)``.
    /// It is a training call: `.busy` at once while another one runs.
    ///
    /// Benchmarks only: `@_spi(Diagnostics) import MetaTL` (the `metatl bench` command).
    @_spi(Diagnostics) public func profileTraining(on dataset: Dataset, steps: Int) throws(MetaTLError) -> [(phase: String, ms: Double)] {
        try requireOptimizerState("train")   // fixed at load: no lock needed
        return try access.training("profile training") { () throws(MetaTLError) -> [(phase: String, ms: Double)] in
            let timer = PhaseTimer()
            phaseTimer = timer
            defer { phaseTimer = nil }
            _ = try trainSteps(on: dataset, steps: steps, progress: nil)
            return timer.order.map { ($0, (timer.totals[$0] ?? 0) * 1000 / Double(max(steps, 1))) }
        }
    }
}
