import ArgumentParser
import Foundation
@_spi(Diagnostics) import MetaTL

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training step time against the GEMM floor, evaluation throughput and peak memory (JSON).",
        discussion: """
        Generates an Electronics-sized dataset (21,000 training users drawing from 22,000 items \
        with Zipf-like popularity; 8,000 new users; --items/--users for catalogue scale, where \
        every item is then given a training interaction, see --every-item-trained), then measures in one process: training steps \
        (B = 1024, K = 3, d = 100 unless changed) timed inside one training call, and after every \
        five steps the same step's matrix products alone (the GEMM floor, as the engine splits \
        them; scaled down if OpenBLAS's own threading is faster); the step/floor ratio of each \
        round and their median; \
        per-phase step times, and the optimiser's share (Adam, lazy catch-up); evaluation users/s \
        for the sampled and the full-catalogue protocols; checkpoint save and load time and file \
        size; recommend latency (p50, p99, one call at a time) and batched recommend users/s; \
        the peak resident memory; the OpenBLAS kernel and the vector-kernel variant in use \
        (METATL_SIMD=avx512|avx2|generic picks another). Each preset's numbers are under its \
        name in "presets" (both by default; --preset picks one); each preset's floor counts its \
        own products (the softmax loss's against the shared negatives too).
        """
    )

    @Option(help: "Training steps to time (after the warm-up steps).")
    var steps = 60
    @Option(help: "Untimed training steps before timing.")
    var warmUp = 200
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?
    @Option(help: "Training users of the generated data.")
    var users = 21_000
    @Option(help: "Items of the generated data (default 22,000).")
    var items: Int?
    @Option(help: ArgumentHelp("Give every item at least one training interaction: each item the Zipf draws left out is appended to a training user's sequence (round robin over the users). Default: on when --items is given, off otherwise (the default numbers stay comparable).",
                               valueName: "on|off"))
    var everyItemTrained: Switch?
    @Option(help: ArgumentHelp("Item tables' optimiser for every preset measured (default: the preset's, adam).", valueName: "adam|sparse-adam"))
    var optimizer: Optimizer?
    @Option(help: "Histories for the recommend latency (single calls) and the batched recommend.")
    var recommendUsers = 1000
    @Option(help: "The approximate index's lists (0: automatic, √items), for its serving numbers.")
    var indexLists = IndexSettings().lists
    @Option(help: ArgumentHelp("The approximate index's lists searched per user: one value, or several (comma-separated) measured one after the other on the same index.", valueName: "n[,n...]"))
    var indexProbes = "\(IndexSettings().probes)"
    @Option(help: "New users of the generated data.")
    var newUsers = 8_000
    @Option(help: "Tasks per step.")
    var batchSize = 1024
    @Option(help: "Seed of the data and the run.")
    var seed: UInt64 = 1
    @Option(help: ArgumentHelp("The presets to measure, one after the other on the same data.",
                               valueName: "both|recommended|reference"))
    var preset: BenchPresets = .both

    func validate() throws { _ = try probeList() }

    /// The probes of ``indexProbes``.
    func probeList() throws -> [Int] {
        let values = indexProbes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--index-probes: expected positive integers separated by commas, got \(indexProbes)")
        }
        return values.compactMap { $0 }
    }

    /// Items of the generated catalogue.
    var itemCount: Int { items ?? 22_000 }
    /// Whether the generator covers the catalogue (see ``everyItemTrained``).
    var coverCatalogue: Bool { everyItemTrained.map { $0 == .on } ?? (items != nil) }

    func run() throws {
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let t0 = Date()
        let (train, test, covering) = electronicsLike()
        let data = try Dataset(train: train, test: test, K: 3, seed: seed, trainName: "bench training users", testName: "bench new users")
        let loadSeconds = Date().timeIntervalSince(t0)
        var presets: [String: Any] = [:]
        for name in preset.names {
            guard var c = Configuration.preset(named: name) else { throw ValidationError("unknown preset '\(name)'") }
            c.threads = threadCount
            c.batchSize = batchSize
            c.seed = seed
            if let optimizer { c.optimizer = optimizer }
            presets[name] = try measure(c, on: data)
        }

        let json: [String: Any] = [
            "threads": threadCount,
            "blas_kernel": BLASKernel.current,
            "vector_kernels": VectorKernels.selected,
            "batch_size": batchSize,
            "data": ["train_users": data.trainUserCount, "train_interactions": data.trainInteractionCount,
                     "items": data.itemCount, "items_not_in_training": data.itemsNotInTraining,
                     "every_item_trained": coverCatalogue, "covering_interactions": covering,
                     "test_users": data.test.count, "load_seconds": round3(loadSeconds)],
            "presets": presets,
            "peak_rss_mb": round3(processPeakRSS()),
        ]
        let out = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: out, as: UTF8.self))
    }

    /// One preset's training step times against the GEMM floor, its step phases and its
    /// evaluation throughput, for a fresh model of configuration `c`.
    func measure(_ c: Configuration, on data: Dataset) throws -> [String: Any] {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("metatl-bench-\(ProcessInfo.processInfo.processIdentifier).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        resetPeakRSS()
        var out = try measureTraining(c, on: data, checkpoint: path)
        // The trained model is released by now: loading builds a second one.
        let (loadSeconds, step) = try measureLoad(path)
        var checkpoint = out["checkpoint"] as? [String: Any] ?? [:]
        checkpoint["load_s"] = round3(loadSeconds)
        checkpoint["loaded_step"] = step
        checkpoint["peak_rss_mb_load"] = round3(peakRSS())
        // Loading for serving only (no Adam state), after the full model is released.
        resetPeakRSS()
        let (servingSeconds, _) = try measureLoad(path, servingOnly: true)
        checkpoint["load_serving_only_s"] = round3(servingSeconds)
        checkpoint["peak_rss_mb_load_serving_only"] = round3(peakRSS())
        out["checkpoint"] = checkpoint
        return out
    }

    /// Everything but loading the checkpoint, for a fresh model of configuration `c`; the model
    /// is saved to `path` last.
    func measureTraining(_ c: Configuration, on data: Dataset, checkpoint path: String) throws -> [String: Any] {
        let model = try MetaTLModel(configuration: c, dataset: data)

        // Warm-up: buffers, thread pools, caches, and a model past its first steps. Deferred Adam
        // updates of idle embedding rows cost more once rows have been idle for a while, so
        // steps are timed in that regime rather than right after initialisation.
        try model.train(on: data, steps: warmUp)
        // Steps and the GEMM floor alternate in rounds: five training steps, then the floor five
        // times, so that both see the same machine (on these shared machines the speed of both
        // drifts by 1.5x within seconds). The floor's operands are allocated once; the steps run
        // inside one training call, so idle embedding rows' deferred Adam updates are paid inside
        // them as in real training. Each round's ratio is median(steps) / median(floors); the
        // reported ratio is the median over rounds. The floor is the engine's split
        // (single-threaded sgemm per worker), as training runs the products; OpenBLAS's own
        // threading is measured against it separately, and if it is faster the floor is scaled
        // down by that factor.
        let gemm = GEMMFloor(configuration: c, catalogue: data.itemCount)
        let openblasOverSplit = openBLASOverSplit(gemm)
        var stepTimes: [Double] = [], splitFloor: [Double] = [], ratios: [Double] = []
        var round: [Double] = []
        var resume = DispatchTime.now().uptimeNanoseconds
        try model.train(on: data, steps: max(5, steps / 5 * 5)) { p in
            let now = DispatchTime.now().uptimeNanoseconds
            round.append(Double(now - resume) / 1e9)
            if round.count == 5 {
                let floor = gemm.measure(repetitions: 5, split: true)
                ratios.append(median(round) / (median(floor) * min(1, openblasOverSplit)))
                stepTimes += round; splitFloor += floor
                round = []
            }
            resume = DispatchTime.now().uptimeNanoseconds
            return true
        }
        let phases = try model.profileTraining(on: data, steps: max(5, steps))
        let splitMs = median(splitFloor) * 1000
        let stepMs = median(stepTimes) * 1000, floorMs = splitMs * min(1, openblasOverSplit)

        func usersPerSecond(_ method: EvaluationProtocol) throws -> (Double, Double) {
            let start = Date()
            let m = try model.evaluate(on: data, split: .test, protocol: method)
            return (Double(m.users) / Date().timeIntervalSince(start), m.mrr)
        }
        _ = try model.evaluate(on: data, split: .valid, protocol: .sampled)   // warm-up
        let (sampledRate, _) = try usersPerSecond(.sampled)
        let (fullRate, _) = try usersPerSecond(.full)
        let serving = try measureServing(model, on: data)
        let trainingPeak = peakRSS()
        resetPeakRSS()
        let checkpoint = try measureSave(model, to: path)
        func phase(_ name: String) -> Double { phases.first { $0.phase == name }?.ms ?? 0 }
        return [
            "K": c.K, "dim": c.dim, "hidden": [c.hidden1, c.hidden2], "loss": c.loss.rawValue,
            "optimizer": c.optimizer.rawValue,
            // The optimiser's share of a step (from the phases): the update of the touched rows and
            // the dense block, and the lazy catch-up of the rows the batch reads; the catch-up of
            // every row at the end of a training call is per call (the phase is per step).
            "adam_ms_per_step": round3(phase("adam")),
            "catch_up_ms_per_step": round3(phase("catch up rows")),
            "adam_and_catch_up_ms_per_step": round3(phase("adam") + phase("catch up rows")),
            // The same as a share of the profiled step (its phases but the end-of-call catch-up),
            // measured within one training call: robust to the machine's speed changing.
            "adam_and_catch_up_share_of_step": round3((phase("adam") + phase("catch up rows"))
                / max(1e-9, phases.filter { $0.phase != "catch up all rows" }.reduce(0) { $0 + $1.ms })),
            "catch_up_all_rows_end_of_call_ms": round3(phase("catch up all rows") * Double(max(5, steps))),
            "checkpoint": checkpoint,
            "recommend": serving,
            // Linux: the peak resident memory of this preset's training, evaluation and serving
            // (from the model's creation), then of the save and of the load, each alone (the peak
            // is reset in between); -1 where it cannot be measured that way.
            "peak_rss_mb_training_eval_serving": round3(trainingPeak),
            "step_ms_median": round3(stepMs),
            "step_ms_min": round3((stepTimes.min() ?? 0) * 1000),
            "gemm_floor_ms_median": round3(floorMs),
            "gemm_split_ms_median": round3(splitMs),
            "gemm_openblas_threads_over_split": round3(openblasOverSplit),
            "step_over_gemm_floor": round3(median(ratios)),
            "step_over_gemm_floor_per_round": ratios.map(round3),
            "steps_timed": stepTimes.count,
            "step_ms_all": stepTimes.map { round3($0 * 1000) },
            "step_phases_ms": Dictionary(uniqueKeysWithValues: phases.map { ($0.phase, round3($0.ms)) }),
            "eval_sampled_users_per_s": Int(sampledRate),
            "eval_full_users_per_s": Int(fullRate),
        ]
    }

    /// `recommend` on `recommendUsers` random histories of K training items each (the same ones
    /// for every measurement): one call at a time from one thread (latency percentiles; the call
    /// itself is single-threaded), and all of them in one ``MetaTLModel/recommend(histories:options:)``
    /// call over the model's threads (users/s). Top 10, history excluded. Exact ranking first, then
    /// with the default approximate index attached (``MetaTLModel/attachIndex(_:)``): its build
    /// time and size, the same latencies, and its recall@10 against the exact lists.
    func measureServing(_ model: MetaTLModel, on data: Dataset) throws -> [String: Any] {
        var rng = SeededGenerator(seed: seed &+ 17)
        let ids = data.itemIDs
        let histories = (0..<recommendUsers).map { _ in (0..<3).map { _ in ids[Int.random(in: 0..<ids.count, using: &rng)] } }
        func latencies(exact: Bool) throws -> (numbers: [String: Any], lists: [[Int64]]) {
            _ = try model.recommend(history: histories[0], topN: 10, exact: exact)   // warm-up
            var times: [Double] = [], lists: [[Int64]] = []
            for h in histories {
                let start = DispatchTime.now().uptimeNanoseconds
                let best = try model.recommend(history: h, topN: 10, exact: exact)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                lists.append(best.map(\.item))
            }
            times.sort()
            func percentile(_ q: Double) -> Double {
                times.isEmpty ? 0 : times[min(times.count - 1, Int((q * Double(times.count)).rounded(.up)) - 1)]
            }
            var options = RecommendOptions()
            options.topN = 10
            options.exact = exact
            let start = Date()
            _ = try model.recommend(histories: histories, options: options)
            let batchSeconds = Date().timeIntervalSince(start)
            return ([
                "single_ms_p50": round3(percentile(0.5)), "single_ms_p99": round3(percentile(0.99)),
                "single_ms_mean": round3(times.reduce(0, +) / Double(max(1, times.count))),
                "batched_users_per_s": Int(Double(histories.count) / max(batchSeconds, 1e-9)),
            ], lists)
        }
        var out: [String: Any] = ["histories": histories.count, "top_n": 10, "batched_threads": model.configuration.threads]
        let (exact, exactLists) = try latencies(exact: true)
        out.merge(exact) { $1 }
        var index: [[String: Any]] = []
        for probes in try probeList() {
            var settings = IndexSettings()
            settings.lists = indexLists; settings.probes = probes
            let info = try model.attachIndex(settings)
            let (approximate, approximateLists) = try latencies(exact: false)
            var found = 0, total = 0
            for (a, e) in zip(approximateLists, exactLists) { found += Set(a).intersection(e).count; total += e.count }
            var entry = approximate
            entry["settings"] = ["lists": info.lists, "probes": info.settings.probes]
            entry["items"] = info.items
            entry["build_s"] = round3(info.buildSeconds)
            entry["mb"] = round3(Double(info.bytes) / 1_048_576)
            entry["imbalance"] = round3(info.imbalance)
            entry["recall_at_10"] = round3(Double(found) / Double(max(1, total)))
            index.append(entry)
        }
        out["approximate_index"] = index
        try model.detachIndex()
        return out
    }

    /// Saving the model to a checkpoint file at `path`: seconds, the file's size and the peak
    /// resident memory of the save alone.
    func measureSave(_ model: MetaTLModel, to path: String) throws -> [String: Any] {
        let t0 = Date()
        try model.save(to: path)
        let saveSeconds = Date().timeIntervalSince(t0)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let peak = peakRSS()
        resetPeakRSS()
        return ["save_s": round3(saveSeconds), "file_mb": round3(Double(bytes) / 1_048_576), "peak_rss_mb_save": round3(peak)]
    }

    /// Loading the checkpoint at `path` (in full, or for serving only): seconds, and the step it holds.
    func measureLoad(_ path: String, servingOnly: Bool = false) throws -> (Double, Int) {
        let t0 = Date()
        let loaded = try MetaTLModel.load(from: path, servingOnly: servingOnly)
        return (Date().timeIntervalSince(t0), loaded.step)
    }

    /// How OpenBLAS's own threading compares with the engine's split on the step's products:
    /// the median over 10 rounds of (threaded time / split time), each round measuring both.
    func openBLASOverSplit(_ gemm: GEMMFloor) -> Double {
        var ratios: [Double] = []
        for _ in 0..<10 {
            let threaded = gemm.measure(repetitions: 3, split: false)
            // OpenBLAS's own workers keep spinning (sched_yield) for about 0.1 s after their
            // last product before they sleep; on 2 cores that would take a core from whatever
            // is measured next. Training never wakes them (it runs OpenBLAS single-threaded),
            // so let them go idle first. (Busy-wait, not sleep: an idle virtual CPU comes back
            // slower.)
            let until = DispatchTime.now().uptimeNanoseconds + 250_000_000
            while DispatchTime.now().uptimeNanoseconds < until {}
            let split = gemm.measure(repetitions: 3, split: true)
            ratios.append(median(threaded) / median(split))
        }
        return median(ratios)
    }

    /// Electronics-sized interactions: user lengths 2..40 (mean ≈ 8), items drawn from a Zipf-like
    /// popularity with some per-user locality, increasing timestamps. With ``coverCatalogue``,
    /// every item the draws left out of training is then appended once to a training user's
    /// sequence, after its last interaction (round robin over the users, so each gets at most
    /// ⌈left out / users⌉ more); the Zipf draws themselves are unchanged. Also returns the
    /// number of interactions so appended.
    func electronicsLike() -> (Interactions, Interactions, Int) {
        let items = itemCount
        var rng = SeededGenerator(seed: seed)
        // Zipf(1) popularity via a cumulative table.
        var cumulative = [Double](repeating: 0, count: items)
        var total = 0.0
        for i in 0..<items { total += 1 / Double(i + 10); cumulative[i] = total }
        func popular() -> Int64 {
            let u = Double.random(in: 0..<total, using: &rng)
            var lo = 0, hi = items - 1
            while lo < hi { let m = (lo + hi) / 2; if cumulative[m] < u { lo = m + 1 } else { hi = m } }
            return Int64(lo + 1)
        }
        func users(_ n: Int, first: Int64, lengths: ClosedRange<Int>) -> Interactions {
            var out = Interactions()
            for u in 0..<n {
                let length = Int.random(in: lengths, using: &rng)
                var item = popular()
                for t in 0..<length {
                    out.users.append(first + Int64(u)); out.items.append(item); out.timestamps.append(Double(t))
                    item = Double.random(in: 0..<1, using: &rng) < 0.3 ? (item % Int64(items)) + 1 : popular()
                }
            }
            return out
        }
        let drawn = users(self.users, first: 1, lengths: 2...14)
        let test = users(newUsers, first: Int64(self.users) + 1, lengths: 4...10)
        guard coverCatalogue, self.users > 0 else { return (drawn, test, 0) }
        var seen = [Bool](repeating: false, count: items + 1)
        for item in drawn.items { seen[Int(item)] = true }
        let missing = (1...items).filter { !seen[$0] }
        guard !missing.isEmpty else { return (drawn, test, 0) }
        // Each user's extra items, after its own interactions (users are contiguous in `drawn`).
        var extra = [[Int64]](repeating: [], count: self.users)
        for (k, item) in missing.enumerated() { extra[k % self.users].append(Int64(item)) }
        var out = Interactions()
        out.users.reserveCapacity(drawn.users.count + missing.count)
        out.items.reserveCapacity(drawn.users.count + missing.count)
        out.timestamps.reserveCapacity(drawn.users.count + missing.count)
        var i = 0
        for u in 0..<self.users {
            let user = Int64(u + 1)
            var last = 0.0
            while i < drawn.users.count && drawn.users[i] == user {
                out.users.append(user); out.items.append(drawn.items[i]); out.timestamps.append(drawn.timestamps[i])
                last = drawn.timestamps[i]
                i += 1
            }
            for item in extra[u] {
                last += 1
                out.users.append(user); out.items.append(item); out.timestamps.append(last)
            }
        }
        return (out, test, missing.count)
    }
}

/// `metatl bench --preset`: both presets (the recommended one first) or one.
enum BenchPresets: String, ExpressibleByArgument, CaseIterable {
    case both, recommended, reference
    /// The ``Configuration/preset(named:)`` names to measure, in order.
    var names: [String] { self == .both ? Configuration.presetNames : [rawValue] }
}

/// SplitMix64 for the benchmark's data (the engine's own generator is internal to the library).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The process's peak resident memory in MB since the last ``resetPeakRSS()`` (Linux: VmHWM
/// of /proc/self/status), or -1 where there is none.
func peakRSS() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return -1 }
    return kb / 1024
}

/// Resets the peak resident memory to the current one (Linux: "5" into /proc/self/clear_refs,
/// which resets getrusage's ru_maxrss too); the peak before is kept for ``processPeakRSS()``.
func resetPeakRSS() {
    peakBeforeResets = max(peakBeforeResets, peakRSS())
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

nonisolated(unsafe) private var peakBeforeResets: Double = 0

/// The whole process's peak resident memory in MB, across ``resetPeakRSS()`` calls.
func processPeakRSS() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return max(peakBeforeResets, peakRSS(), Double(usage.ru_maxrss) / 1024)
}

func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
