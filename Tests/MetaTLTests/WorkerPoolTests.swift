import Foundation
import Synchronization
import Testing
@testable import MetaTL

/// The worker pool behind `parallelChunks`: every chunk runs exactly once, with the static
/// assignment, whether the pool runs the loop or Dispatch does (nested loops, loops from several
/// threads at once).
@Suite("Worker pool")
struct WorkerPoolTests {
    /// Runs a loop and returns how many times each chunk ran and which thread ran it; with
    /// `onPool`, retries until the pool (which other tests may be using) runs it.
    static func run(chunks: Int, threads: Int, onPool: Bool = false) -> (counts: [Int], runners: [UInt64]) {
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: chunks)
        let runners = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: chunks)
        defer { counts.deallocate(); runners.deallocate() }
        counts.initialize(repeating: 0)
        runners.initialize(repeating: 0)
        let c = SharedPointer(counts.baseAddress!), r = SharedPointer(runners.baseAddress!)
        let body = { (chunk: Int) in
            c.p[chunk] += 1
            r.p[chunk] = UInt64(pthread_self())
        }
        if onPool {
            var tries = 0
            while !runOnPool(chunks, threads: threads, body) && tries < 10_000 { tries += 1; usleep(100) }
        } else {
            parallelChunks(chunks, threads: threads, body)
        }
        return (Array(counts), Array(runners))
    }

    @Test("every chunk runs once; each thread runs one contiguous share", arguments: [(1, 1), (7, 2), (16, 2), (16, 3), (100, 8), (3, 8)])
    func chunksRunOnceInContiguousShares(chunks: Int, threads: Int) {
        for _ in 0..<50 {
            let (counts, runners) = Self.run(chunks: chunks, threads: threads, onPool: true)
            #expect(counts == Array(repeating: 1, count: chunks))
            // Thread t ran exactly splitRange(chunks, T, t), the caller being thread 0.
            let T = min(threads, chunks)
            let expected = (0..<T).flatMap { t in splitRange(chunks, parts: T, index: t).map { _ in t } }
            var owner: [UInt64: Int] = [:]
            for (chunk, runner) in runners.enumerated() { owner[runner] = owner[runner] ?? expected[chunk] }
            #expect(runners.map { owner[$0] ?? -1 } == expected)
            #expect(owner[UInt64(pthread_self())] == 0)
            #expect(Set(runners).count == T)
        }
    }

    @Test("a loop inside a chunk runs (on Dispatch) and completes")
    func nestedLoopsComplete() {
        let total = Atomic<Int>(0)
        parallelChunks(4, threads: 2) { _ in
            parallelChunks(8, threads: 2) { _ in total.add(1, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 32)
    }

    @Test("loops from many threads at once all complete, each chunk once")
    func concurrentCallersComplete() {
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for i in 0..<200 {
                let (counts, _) = Self.run(chunks: 3 + (t + i) % 13, threads: 2 + t % 3)
                if counts.contains(where: { $0 != 1 }) { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }
}
