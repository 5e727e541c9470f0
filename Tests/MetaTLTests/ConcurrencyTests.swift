import Foundation
import Testing
@testable import MetaTL

/// Serving from many threads at once: every concurrent answer must be bit-for-bit the answer a
/// single thread gets, and training must be refused (`.busy`) while anyone serves, never block
/// and never race. `make sanitize` runs these under ThreadSanitizer as well.
@Suite("Concurrency")
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
        let top = try m.recommend(history: history, count: 10)
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

    /// Tallies shared by the threads of one run.
    final class Tally: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var served = 0, mismatches: [String] = [], errors: [String] = []
        private(set) var trainAttempts = 0, trainBusy = 0, trainOther: [String] = []
        private(set) var evaluations = 0, serversFinished = 0

        var allServersFinished: Bool { lock.lock(); defer { lock.unlock() }; return serversFinished == ConcurrencyTests.servingThreads }

        func record(_ body: (Tally) -> Void) { lock.lock(); body(self); lock.unlock() }
        func serve(mismatch: String?) { record { $0.served += 1; if let mismatch { $0.mismatches.append(mismatch) } } }
        func fail(_ message: String) { record { $0.errors.append(message) } }
        func train(_ error: MetaTLError?) {
            record {
                $0.trainAttempts += 1
                if error?.kind == .busy { $0.trainBusy += 1 } else { $0.trainOther.append(error?.message ?? "training ran") }
            }
        }
        func evaluated() { record { $0.evaluations += 1 } }
        func finished() { record { $0.serversFinished += 1 } }
    }

    @Test func eightThreadsServeExactlyWhatOneThreadServesWhileTrainingIsRefused() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(threads: 2), dataset: data)
        try m.train(on: data, steps: 3)
        let ids = Array(data.itemIDs.dropFirst())
        let histories = Self.histories(ids)
        let candidates = Array(ids.prefix(30))
        // The single-threaded answers, computed before any other thread exists.
        let expected = try histories.map { try Self.answer(m, $0, candidates: candidates) }
        let expectedMetrics = try m.evaluate(on: data, split: .test, protocol: .sampled)
        let stepBefore = m.step

        let tally = Tally()
        let rounds = 6
        // Shared access is held for the whole run, so that every training attempt meets at
        // least one reader and must be refused: the outcome cannot depend on scheduling.
        try m.access.reading("hold the model for the test") { () throws(MetaTLError) in
            Self.runThreads(Self.servingThreads + 1) { t in
                if t == Self.servingThreads {
                    // The trainer: keeps trying until every server has finished.
                    repeat {
                        do throws(MetaTLError) { try m.train(on: data, steps: 1); tally.train(nil) } catch { tally.train(error) }
                        usleep(200)
                    } while !tally.allServersFinished
                    return
                }
                for r in 0..<rounds {
                    // Each thread walks the histories from its own offset, so different threads
                    // ask different questions at the same moment.
                    for k in 0..<histories.count {
                        let h = (k + t * 5 + r) % histories.count
                        do {
                            let got = try Self.answer(m, histories[h], candidates: candidates)
                            tally.serve(mismatch: got == expected[h] ? nil : "thread \(t) history \(h): \(got) != \(expected[h])")
                        } catch {
                            tally.fail("thread \(t) history \(h): \(error)")
                        }
                    }
                    if (r + t) % 3 == 0 {
                        do {
                            let metrics = try m.evaluate(on: data, split: .test, protocol: .sampled)
                            if metrics == expectedMetrics { tally.evaluated() } else { tally.fail("thread \(t): metrics \(metrics) != \(expectedMetrics)") }
                        } catch { tally.fail("thread \(t) evaluate: \(error)") }
                    }
                }
                tally.finished()
            }
        }
        #expect(tally.errors.isEmpty, "\(tally.errors.prefix(3))")
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches.count) mismatches, first: \(tally.mismatches.first ?? "")")
        #expect(tally.served == Self.servingThreads * rounds * histories.count)
        #expect(tally.evaluations > 0)
        #expect(tally.trainAttempts > 0)
        #expect(tally.trainBusy == tally.trainAttempts, "\(tally.trainOther.prefix(3))")
        // Nothing trained: the model still gives the same answers, and training works again.
        #expect(m.step == stepBefore)
        #expect(try histories.map { try Self.answer(m, $0, candidates: candidates) } == expected)
        try m.train(on: data, steps: 1)
        #expect(m.step == stepBefore + 1)
    }

    @Test func servingDuringTrainingSeesTheModelBeforeOrAfterNeverAMix() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(), dataset: data)
        try m.train(on: data, steps: 2)
        let ids = Array(data.itemIDs.dropFirst())
        let histories = Array(Self.histories(ids).prefix(8))
        let candidates = Array(ids.prefix(20))
        let before = try histories.map { try Self.answer(m, $0, candidates: candidates) }

        // Servers record every answer while one thread trains; afterwards each answer must be
        // the single-threaded answer of the model before training or after it. Training needs
        // the model alone, so the servers pause while the trainer asks for it (else it could be
        // refused forever), and resume as soon as training runs: they then meet a model in
        // training (busy), and one that has just finished.
        final class Log: @unchecked Sendable {
            let lock = NSLock()
            var answers: [(Int, Answer)] = [], busy = 0, other: [String] = []
            var trainError: MetaTLError?, trainerWaiting = false, trainingStarted = false, trainingDone = false
            func get<T>(_ body: (Log) -> T) -> T { lock.lock(); defer { lock.unlock() }; return body(self) }
        }
        let log = Log()
        Self.runThreads(Self.servingThreads + 1) { t in
            if t == Self.servingThreads {
                // Let the servers answer from the model before training (5 s at most).
                let deadline = Date().addingTimeInterval(5)
                while log.get({ $0.answers.count < Self.servingThreads }) && Date() < deadline { usleep(100) }
                log.get { $0.trainerWaiting = true }
                while true {
                    do throws(MetaTLError) {
                        try m.train(on: data, steps: 30) { p in
                            // After the first step, wait (holding the model) until a server has
                            // been refused, so that the run always covers that case.
                            log.get { $0.trainingStarted = true }
                            let deadline = Date().addingTimeInterval(5)
                            while p.done == 1 && log.get({ $0.busy == 0 }) && Date() < deadline { usleep(100) }
                            return true
                        }
                        break
                    } catch {
                        if error.kind != .busy { log.get { $0.trainError = error }; break }
                        usleep(100)
                    }
                }
                log.get { $0.trainingDone = true }
                return
            }
            var done = false
            while !done {
                done = log.get { $0.trainingDone }
                if log.get({ $0.trainerWaiting && !$0.trainingStarted }) { usleep(50); continue }
                for (h, history) in histories.enumerated() {
                    do throws(MetaTLError) {
                        let a = try Self.answer(m, history, candidates: candidates)
                        log.get { $0.answers.append((h, a)) }
                    } catch {
                        log.get { if error.kind == .busy { $0.busy += 1 } else { $0.other.append(error.message) } }
                        if error.kind == .busy { usleep(100) }
                    }
                }
            }
        }
        #expect(log.trainError == nil)
        #expect(m.step == 32)
        #expect(log.other.isEmpty, "\(log.other.prefix(3))")
        let after = try histories.map { try Self.answer(m, $0, candidates: candidates) }
        #expect(after != before)
        let torn = log.answers.filter { $0.1 != before[$0.0] && $0.1 != after[$0.0] }
        #expect(torn.isEmpty, "\(torn.count) of \(log.answers.count) answers match neither the model before nor after training")
        // Answers from before, refusals during, and (each server's last pass) answers after.
        #expect(log.answers.contains { $0.1 == before[$0.0] })
        #expect(log.busy > 0)
        #expect(log.answers.contains { $0.1 == after[$0.0] })
    }
}
