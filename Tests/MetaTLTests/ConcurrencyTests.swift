import Foundation
import Testing
@_spi(Diagnostics) @testable import MetaTL

/// The concurrency contract (include/metatl.h, "Thread safety"): serving calls share the model;
/// training takes it alone one step at a time, so a service can train or fine-tune the model it
/// serves and neither side fails; readers only ever see the model as it is after some step
/// (never with optimiser updates pending); two training calls at once are refused. Nothing here
/// asserts on time: threads hand over with semaphores, and every loop ends when training does.
/// `make sanitize-tsan` runs these under ThreadSanitizer as well.
@Suite("Concurrency", .timeLimit(.minutes(3)))
struct ConcurrencyTests {
    static let servingThreads = 8

    /// What one thread computes for one history.
    struct Answer: Equatable {
        var relation: [UInt32]
        var recommended: [Int64]
        var recommendedScores: [UInt32]
        var candidateScores: [UInt32]
    }

    /// Histories of 2...6 items spread over the catalogue (some repeat items).
    static func histories(_ ids: [Int64]) -> [[Int64]] {
        (0..<24).map { h in (0..<(2 + h % 5)).map { i in ids[(h * 7 + i * (3 + h % 4)) % ids.count] } }
    }

    static func answer(_ m: MetaTLModel, _ history: [Int64], candidates: [Int64]) throws(MetaTLError) -> Answer {
        let relation = try m.adapt(history: history)
        let top = try m.recommend(history: history, topN: 10)
        let scores = try m.score(relation: relation, lastItem: history[history.count - 1], candidates: candidates)
        return Answer(relation: relation.map(\.bitPattern), recommended: top.map(\.item),
                      recommendedScores: top.map(\.score.bitPattern), candidateScores: scores.map(\.bitPattern))
    }

    /// Starts `count` threads running `body(index)` and waits for all of them.
    static func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for t in 0..<count {
            group.enter()
            let thread = Thread {
                body(t)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }

    /// What the threads of one run report: failures, counts, and observations.
    final class Log<Observation>: @unchecked Sendable {
        private let lock = NSLock()
        private var _errors: [String] = [], _counts: [String: Int] = [:], _seen: [Observation] = [], _stopped = false
        func locked<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }
        func fail(_ message: String) { locked { _errors.append(message) } }
        func count(_ what: String) { locked { _counts[what, default: 0] += 1 } }
        func observe(_ o: Observation) { locked { _seen.append(o) } }
        func stop() { locked { _stopped = true } }
        var stopped: Bool { locked { _stopped } }
        var errors: [String] { locked { _errors } }
        var seen: [Observation] { locked { _seen } }
        subscript(what: String) -> Int { locked { _counts[what] ?? 0 } }
    }

    /// A value set by one thread and read by another.
    final class Box<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var _value: T
        init(_ value: T) { _value = value }
        var value: T {
            get { lock.lock(); defer { lock.unlock() }; return _value }
            set { lock.lock(); _value = newValue; lock.unlock() }
        }
    }

    /// Parameters, both Adam moments and BatchNorm statistics, as bits.
    static func state(_ m: MetaTLModel) throws -> [UInt32] {
        let s = try m.snapshot()
        return s.arena.map(\.bitPattern) + s.running.map(\.bitPattern)
    }

    /// A catalogue of 900 items: a batch touches few of them, so most embedding rows have their
    /// Adam update pending after a lazy step (see `lazyAdamEqualsDenseAdamBitForBit`).
    static func wideCatalogue() throws -> Dataset {
        var g = SyntheticData()
        g.side = 30; g.trainUsers = 300; g.newUsers = 60
        let (train, test) = g.generate()
        return try Dataset(train: train, test: test, K: 3, seed: 1)
    }

    @Test func eightThreadsServeExactlyWhatOneThreadServes() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(threads: 2), dataset: data)
        try m.train(on: data, steps: 3)
        let ids = Array(data.itemIDs.dropFirst())
        let histories = Self.histories(ids)
        let candidates = Array(ids.prefix(30))
        // The single-threaded answers, computed before any other thread exists.
        let expected = try histories.map { try Self.answer(m, $0, candidates: candidates) }
        let expectedMetrics = try m.evaluate(on: data, split: .test, protocol: .sampled)

        let log = Log<Void>()
        let rounds = 6
        Self.runThreads(Self.servingThreads) { t in
            for r in 0..<rounds {
                // Each thread walks the histories from its own offset, so different threads
                // ask different questions at the same moment.
                for k in 0..<histories.count {
                    let h = (k + t * 5 + r) % histories.count
                    do {
                        let got = try Self.answer(m, histories[h], candidates: candidates)
                        if got == expected[h] { log.count("served") } else { log.fail("thread \(t) history \(h): \(got) != \(expected[h])") }
                    } catch {
                        log.fail("thread \(t) history \(h): \(error)")
                    }
                }
                if (r + t) % 3 == 0 {
                    do {
                        let metrics = try m.evaluate(on: data, split: .test, protocol: .sampled)
                        if metrics == expectedMetrics { log.count("evaluated") } else { log.fail("thread \(t): metrics \(metrics) != \(expectedMetrics)") }
                    } catch { log.fail("thread \(t) evaluate: \(error)") }
                }
            }
        }
        #expect(log.errors.isEmpty, "\(log.errors.count) failures, first: \(log.errors.prefix(3))")
        #expect(log["served"] == Self.servingThreads * rounds * histories.count)
        #expect(log["evaluated"] > 0)
    }

    /// A service keeps serving while the model it serves is fitted: `fit` takes every step it was
    /// asked for, every serving call succeeds, and the fit is the one it would be alone, bit for bit.
    @Test func fitCompletesEveryStepWhileThreadsServe() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let c = TrainingAndEvaluationTests.configuration(threads: 2)
        let options = {
            var o = FitOptions()
            o.maxSteps = 40; o.evalEvery = 10; o.patience = 0
            return o
        }()
        let alone = try MetaTLModel(configuration: c, dataset: data)
        let expected = try alone.fit(on: data, options: options)

        let m = try MetaTLModel(configuration: c, dataset: data)
        let histories = Self.histories(Array(data.itemIDs.dropFirst()))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-conc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = Log<Void>()
        let result = Box<FitResult?>(nil)
        let servers = 3
        Self.runThreads(1 + servers) { t in
            if t == 0 {
                defer { log.stop() }
                do {
                    result.value = try m.fit(on: data, options: options) { _ in log.count("progress"); return true }
                } catch { log.fail("fit: \(error)") }
                return
            }
            // Recommend, evaluate and save in turn until the fit is over (a few calls at least).
            let path = dir.appendingPathComponent("server\(t).safetensors").path
            var i = 0
            while !log.stopped || i < 3 {
                do {
                    switch (i + t) % 3 {
                    case 0: _ = try m.recommend(history: histories[i % histories.count], topN: 10)
                    case 1: _ = try m.evaluate(on: data, split: .test, protocol: .sampled)
                    default: try m.save(to: path)
                    }
                    log.count("served")
                } catch { log.fail("server \(t), call \(i): \(error)") }
                i += 1
            }
        }
        #expect(log.errors.isEmpty, "\(log.errors.count) failures, first: \(log.errors.prefix(3))")
        let got = try #require(result.value)
        #expect(got.stepsTaken == options.maxSteps)
        #expect(log["progress"] == options.maxSteps)
        #expect(log["served"] >= 3 * servers)
        // Serving changed nothing: the same curve, the same choice, the same model.
        #expect(got.curve.map(\.step) == expected.curve.map(\.step))
        #expect(got.curve.map(\.sampled) == expected.curve.map(\.sampled))
        #expect(got.curve.map(\.full) == expected.curve.map(\.full))
        #expect(got.curve.map(\.trainLoss) == expected.curve.map(\.trainLoss))
        #expect(got.bestStep == expected.bestStep && got.bestScore == expected.bestScore)
        #expect(try Self.state(m) == Self.state(alone))
    }

    /// What a reader gets from the model: the embedding table and a recommendation, as bits.
    struct Reading: Equatable {
        var embeddings: [UInt32]
        var top: [Int64]
        var scores: [UInt32]
    }

    static func read(_ m: MetaTLModel, _ history: [Int64]) throws(MetaTLError) -> Reading {
        let e = try m.itemEmbeddings()
        let top = try m.recommend(history: history, topN: 10)
        return Reading(embeddings: e.map(\.bitPattern), top: top.map(\.item), scores: top.map(\.score.bitPattern))
    }

    /// Training keeps idle rows' Adam updates pending (lazy Adam); a reader must never see them
    /// pending. Every reading taken during training, from other threads and from the progress
    /// callback (where nobody waited for the step, so nothing was brought up to date for a
    /// waiting reader), must equal the reading of a dense (non-lazy) model after the same number of
    /// steps; and the trained model must be bit for bit the model trained with nobody reading.
    @Test func readersDuringTrainingSeeTheModelOfAStepWithNothingPending() throws {
        let data = try Self.wideCatalogue()
        let c = TrainingAndEvaluationTests.configuration(threads: 2)
        let steps = 30
        let ids = Array(data.itemIDs.dropFirst())
        let history = [ids[3], ids[40], ids[500]]

        // The reference: dense Adam steps one at a time, read after each.
        let dense = try MetaTLModel(configuration: c, dataset: data)
        let state = TrainingState(model: dense, data: data)
        var reference = [try Self.read(dense, history)]
        for _ in 0..<steps {
            state.sampler.fill(state.batch, step: dense.step, threads: 2)
            dense.prepareGradients(for: state.batch)
            _ = dense.metaGradients(state.batch, workspace: state.workspace, embeddingTerms: false)
            dense.adamStep(lazy: false)
            reference.append(try Self.read(dense, history))
        }
        let quiet = try MetaTLModel(configuration: c, dataset: data)
        try quiet.train(on: data, steps: steps)

        // 1. Only the progress callback reads: nobody waits when a step ends, so every reading
        // finds the step's updates pending and must bring them up to date itself.
        let alone = try MetaTLModel(configuration: c, dataset: data)
        var wrongAlone: [Int] = []
        try alone.train(on: data, steps: steps) { p in
            if (try? Self.read(alone, history)) != reference[p.step] { wrongAlone.append(p.step) }
            return true
        }
        #expect(wrongAlone == [], "readings from the progress callback differ from the dense model at steps \(wrongAlone)")
        #expect(try Self.state(alone) == Self.state(quiet))

        // 2. Reader threads beside the training one (and the progress callback).
        let m = try MetaTLModel(configuration: c, dataset: data)
        let log = Log<(step: Int, reading: Reading, inCallback: Bool)>()
        let readers = 2
        Self.runThreads(1 + readers) { t in
            if t == 0 {
                defer { log.stop() }
                // Start once both readers have read: they then read throughout.
                while log["reader started"] < readers && log.errors.isEmpty { usleep(100) }
                do {
                    try m.train(on: data, steps: steps) { p in
                        do throws(MetaTLError) { log.observe((p.step, try Self.read(m, history), true)) } catch { log.fail("progress \(p.done): \(error)") }
                        return true
                    }
                } catch { log.fail("train: \(error)") }
                return
            }
            var started = false
            while !log.stopped {
                do throws(MetaTLError) {
                    // Both readings between two equal step counts are of that step's model.
                    let before = try m.stepCount()
                    let r = try Self.read(m, history)
                    let after = try m.stepCount()
                    if before == after { log.observe((before, r, false)) }
                } catch { log.fail("reader \(t): \(error)"); return }
                if !started { started = true; log.count("reader started") }
            }
        }
        #expect(log.errors.isEmpty, "\(log.errors.count) failures, first: \(log.errors.prefix(3))")
        let seen = log.seen
        #expect(seen.filter(\.inCallback).map(\.step) == Array(1...steps))
        let wrong = seen.filter { $0.step > steps || $0.reading != reference[$0.step] }
        #expect(wrong.count == 0, "\(wrong.count) of \(seen.count) readings differ from the dense model of their step (steps \(wrong.prefix(8).map(\.step)), from the progress callback: \(wrong.filter(\.inCallback).count))")
        #expect(try Self.state(m) == Self.state(quiet))
        #expect(try Self.read(m, history) == reference[steps])
    }

    /// Snapshots taken from another thread while training runs are each the model of one step
    /// (pending updates included); snapshot and restore succeed while other threads serve.
    @Test func snapshotsAndRestoresSucceedDuringTrainingAndServing() throws {
        let data = try Self.wideCatalogue()
        let c = TrainingAndEvaluationTests.configuration(threads: 2)
        let steps = 24
        let reference = try MetaTLModel(configuration: c, dataset: data)
        var states = [try Self.state(reference)]
        for _ in 0..<steps {
            try reference.train(on: data, steps: 1)
            states.append(try Self.state(reference))
        }

        // 1. Snapshots from the progress callback: each finds the step's updates pending.
        let alone = try MetaTLModel(configuration: c, dataset: data)
        var wrongAlone: [Int] = []
        try alone.train(on: data, steps: steps) { p in
            if let s = try? alone.snapshot(), s.arena.map(\.bitPattern) + s.running.map(\.bitPattern) == states[p.step] {} else { wrongAlone.append(p.step) }
            return true
        }
        #expect(wrongAlone == [], "snapshots from the progress callback are not the model of steps \(wrongAlone)")

        // 2. A snapshotting thread beside the training one.
        let m = try MetaTLModel(configuration: c, dataset: data)
        let log = Log<ModelSnapshot>()
        Self.runThreads(2) { t in
            if t == 0 {
                defer { log.stop() }
                while log["snapshots"] == 0 && log.errors.isEmpty { usleep(100) }
                do { try m.train(on: data, steps: steps) } catch { log.fail("train: \(error)") }
                return
            }
            while !log.stopped {
                do { log.observe(try m.snapshot()); log.count("snapshots") } catch { log.fail("snapshot: \(error)"); return }
            }
        }
        #expect(log.errors.isEmpty, "\(log.errors.prefix(3))")
        let snapshots = log.seen
        let wrong = snapshots.filter { $0.step > steps || $0.arena.map(\.bitPattern) + $0.running.map(\.bitPattern) != states[$0.step] }
        #expect(wrong.count == 0, "\(wrong.count) of \(snapshots.count) snapshots are not the model of their step (\(wrong.prefix(8).map(\.step)))")
        #expect(try Self.state(m) == states[steps])

        // 3. Snapshot, train, restore, over and over, while three threads serve.
        let histories = Self.histories(Array(data.itemIDs.dropFirst()))
        let served = Log<Void>()
        let initial = try Self.state(m)
        Self.runThreads(4) { t in
            if t == 0 {
                defer { served.stop() }
                do {
                    for _ in 0..<6 {
                        let s = try m.snapshot()
                        try m.train(on: data, steps: 2)
                        try m.restore(s)
                        if try m.stepCount() != steps { served.fail("restore left step \(try m.stepCount())") }
                        served.count("rounds")
                    }
                } catch { served.fail("snapshot/train/restore: \(error)") }
                return
            }
            var i = 0
            while !served.stopped || i < 3 {
                do {
                    switch (i + t) % 3 {
                    case 0: _ = try m.recommend(history: histories[i % histories.count], topN: 5)
                    case 1: _ = try m.evaluate(on: data, split: .valid, protocol: .sampled)
                    default: _ = try m.stepCount()
                    }
                } catch { served.fail("server \(t): \(error)") }
                i += 1
            }
        }
        #expect(served.errors.isEmpty, "\(served.errors.count) failures, first: \(served.errors.prefix(3))")
        #expect(served["rounds"] == 6)
        #expect(try Self.state(m) == initial)
    }

    /// Two training calls at once are a misuse: the second is refused at once (it neither waits
    /// nor interleaves its steps), whether it comes from another thread or from the first one's
    /// progress callback, and also between a fit's chunks. Meanwhile the model serves: the
    /// progress callback runs with the model free.
    @Test func aSecondTrainingCallIsRefusedAtOnce() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let c = TrainingAndEvaluationTests.configuration()
        let m = try MetaTLModel(configuration: c, dataset: data)
        try m.train(on: data, steps: 1)
        let history = Array(data.itemIDs.dropFirst().prefix(3))
        let log = Log<Void>()
        let inCallback = DispatchSemaphore(value: 0), proceed = DispatchSemaphore(value: 0)
        @Sendable func expectBusy(_ what: String, _ call: () throws(MetaTLError) -> Void) {
            do throws(MetaTLError) { try call(); log.fail("\(what) was not refused") } catch {
                if error.kind == .busy { log.count("refused") } else { log.fail("\(what): \(error)") }
            }
        }
        @Sendable func expectServes(_ what: String, step: Int) {
            do throws(MetaTLError) {
                _ = try m.recommend(history: history, topN: 3)
                _ = try m.evaluate(on: data, split: .valid, protocol: .sampled)
                _ = try m.snapshot()
                let s = try m.stepCount()
                if s != step { log.fail("\(what): step \(s), expected \(step)") }
                log.count("served")
            } catch { log.fail("\(what): \(error)") }
        }
        let options = {
            var o = FitOptions()
            o.maxSteps = 4; o.evalEvery = 2; o.patience = 0
            return o
        }()
        let kept = Box(-1)

        Self.runThreads(2) { t in
            if t == 0 {
                do {
                    try m.train(on: data, steps: 3) { p in
                        if p.done == 1 {
                            expectBusy("train from the progress callback") { () throws(MetaTLError) in try m.train(on: data, steps: 1) }
                            expectServes("serving from the progress callback", step: 2)
                            inCallback.signal()
                            proceed.wait()
                        }
                        return true
                    }
                    // Between a fit's chunks (in its `evaluated` callback) the fit still trains.
                    kept.value = try m.fit(on: data, options: options) { _ in true } evaluated: { point in
                        if point.step == 6 {
                            inCallback.signal()
                            proceed.wait()
                        }
                        return true
                    }.bestStep
                } catch { log.fail("training thread: \(error)") }
                return
            }
            inCallback.wait()
            expectBusy("train beside train") { () throws(MetaTLError) in try m.train(on: data, steps: 1) }
            expectBusy("fit beside train") { () throws(MetaTLError) in _ = try m.fit(on: data, options: options) }
            expectBusy("profile beside train") { () throws(MetaTLError) in _ = try m.profileTraining(on: data, steps: 1) }
            expectServes("serving beside train", step: 2)
            proceed.signal()
            inCallback.wait()
            expectBusy("train beside fit") { () throws(MetaTLError) in try m.train(on: data, steps: 1) }
            expectServes("serving beside fit", step: 6)
            proceed.signal()
        }
        #expect(log.errors.isEmpty, "\(log.errors)")
        #expect(log["refused"] == 5 && log["served"] == 3)
        #expect(kept.value >= 4 && m.step == kept.value)
        try m.train(on: data, steps: 1)
        #expect(m.step == kept.value + 1)
    }
}

/// The lock's ordering rules, step by step. Threads hand over with semaphores; the test waits
/// for a thread to be queued by polling the lock's counts, never by sleeping a set time.
@Suite("Access lock", .timeLimit(.minutes(1)))
struct AccessLockTests {
    final class Order: @unchecked Sendable {
        private let lock = NSLock()
        private var _events: [String] = []
        func add(_ e: String) { lock.lock(); _events.append(e); lock.unlock() }
        var events: [String] { lock.lock(); defer { lock.unlock() }; return _events }
    }

    /// Threads started with ``start(_:)``, to wait for.
    final class Threads: @unchecked Sendable {
        let group = DispatchGroup()
        func start(_ body: @escaping @Sendable () -> Void) {
            group.enter()
            Thread { body(); self.group.leave() }.start()
        }
        func wait() { group.wait() }
    }

    static func waitUntil(_ condition: () -> Bool) {
        while !condition() { usleep(50) }
    }

    /// A queued step keeps new readers out (writers first) though only a reader holds the lock;
    /// when that step ends, the reader waiting then gets in before the next step, and finds the
    /// step's pending work settled by the step itself. A step nobody waits for leaves its work
    /// pending: the next reader settles it, once.
    @Test func writersFirstAndWaitingReadersBeforeTheNextStep() throws {
        let lock = AccessLock()
        let order = Order()
        lock.settle = { order.add("settle") }
        let firstIn = DispatchSemaphore(value: 0), firstOut = DispatchSemaphore(value: 0)
        let threads = Threads()
        threads.start {
            try? lock.reading("first reader") { () throws(MetaTLError) in
                firstIn.signal()
                firstOut.wait()
            }
        }
        firstIn.wait()
        threads.start {
            try? lock.step("step") { () throws(MetaTLError) in order.add("step 1") }
            try? lock.step("step") { () throws(MetaTLError) in order.add("step 2") }
        }
        Self.waitUntil { lock.counts.exclusive == 1 }        // step 1 waits for the first reader
        threads.start { try? lock.reading("second reader") { () throws(MetaTLError) in order.add("reader") } }
        Self.waitUntil { lock.counts.waitingReaders == 1 }   // the second reader waits behind step 1
        #expect(order.events.isEmpty)
        firstOut.signal()
        threads.wait()
        #expect(order.events == ["step 1", "settle", "reader", "step 2"])
        try lock.reading("third reader") { () throws(MetaTLError) in order.add("third") }
        try lock.reading("fourth reader") { () throws(MetaTLError) in order.add("fourth") }
        #expect(order.events.dropFirst(4) == ["settle", "third", "fourth"])
        let c = lock.counts
        #expect(c.readers == 0 && c.waitingReaders == 0 && c.exclusive == 0)
    }

    /// Exclusive requests are served in order: a snapshot asked for during a step comes before
    /// the training loop's next step, and settles the pending work first.
    @Test func aSnapshotAskedDuringAStepComesBeforeTheNextStep() throws {
        let lock = AccessLock()
        let order = Order()
        lock.settle = { order.add("settle") }
        let inStep = DispatchSemaphore(value: 0), endStep = DispatchSemaphore(value: 0)
        let threads = Threads()
        threads.start {
            try? lock.step("step") { () throws(MetaTLError) in
                order.add("step 1")
                inStep.signal()
                endStep.wait()
            }
            try? lock.step("step") { () throws(MetaTLError) in order.add("step 2") }
        }
        inStep.wait()
        threads.start { try? lock.writing("snapshot") { () throws(MetaTLError) in order.add("snapshot") } }
        Self.waitUntil { lock.counts.exclusive == 2 }
        endStep.signal()
        threads.wait()
        #expect(order.events == ["step 1", "settle", "snapshot", "step 2"])
        // Stale after step 2; a write that does not ask to settle first leaves that to its body.
        try lock.writing("end of training", settleFirst: false) { () throws(MetaTLError) in order.add("catch up") }
        try lock.reading("reader") { () throws(MetaTLError) in order.add("reader") }
        #expect(order.events.dropFirst(4) == ["catch up", "reader"])
        // One that does not settle first and fails leaves the work pending for the next caller.
        try lock.step("step") { () throws(MetaTLError) in order.add("step 3") }
        #expect(throws: MetaTLError.self) {
            try lock.writing("failing restore", settleFirst: false) { () throws(MetaTLError) in throw .invalidArgument("wrong shape") }
        }
        try lock.reading("reader") { () throws(MetaTLError) in order.add("reader 2") }
        #expect(order.events.dropFirst(6) == ["step 3", "settle", "reader 2"])
    }

    /// One training token: a second training call is refused at once, from the same thread or
    /// another, and the token is free again afterwards; it does not hold the model.
    @Test func oneTrainingCallAtATime() throws {
        let lock = AccessLock()
        var refused: [MetaTLError.Kind] = []
        try lock.training("first") { () throws(MetaTLError) in
            do throws(MetaTLError) { try lock.training("nested") { () throws(MetaTLError) in } } catch { refused.append(error.kind) }
            let other = Box<MetaTLError.Kind?>(nil)
            let threads = Threads()
            threads.start {
                do throws(MetaTLError) { try lock.training("other thread") { () throws(MetaTLError) in } } catch { other.value = error.kind }
                try? lock.reading("reader") { () throws(MetaTLError) in }
                try? lock.writing("writer") { () throws(MetaTLError) in }
            }
            threads.wait()
            if let kind = other.value { refused.append(kind) }
        }
        #expect(refused == [.busy, .busy])
        try lock.training("again") { () throws(MetaTLError) in }
    }

    final class Box<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var _value: T
        init(_ value: T) { _value = value }
        var value: T {
            get { lock.lock(); defer { lock.unlock() }; return _value }
            set { lock.lock(); _value = newValue; lock.unlock() }
        }
    }
}
