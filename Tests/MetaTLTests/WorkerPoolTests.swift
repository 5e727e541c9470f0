import Foundation
import Synchronization
import Testing
@testable import MetaTL

/// The worker pool behind `parallelChunks`: every chunk runs exactly once, whether the pool runs
/// the loop or Dispatch does (nested loops, loops from several threads at once), and a thread
/// that falls behind has its remaining chunks taken by the others.
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

    @Test("every chunk runs once, on at most T threads", arguments: [(1, 1), (7, 2), (16, 2), (16, 3), (100, 8), (3, 8)])
    func chunksRunOnce(chunks: Int, threads: Int) {
        for _ in 0..<50 {
            let (counts, runners) = Self.run(chunks: chunks, threads: threads, onPool: true)
            #expect(counts == Array(repeating: 1, count: chunks))
            #expect(Set(runners).count <= min(threads, chunks))
        }
    }

    @Test("a thread that falls behind has its chunks taken by the others")
    func slowThreadsShareIsTaken() {
        // The calling thread (thread 0) is slowed down in every chunk it runs; the worker, done
        // with its own share, takes chunks from the back of the caller's.
        let caller = UInt64(pthread_self())
        let chunks = 16
        let runners = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: chunks)
        defer { runners.deallocate() }
        runners.initialize(repeating: 0)
        let r = SharedPointer(runners.baseAddress!)
        var tries = 0
        while !runOnPool(chunks, threads: 2, { chunk in
            let me = UInt64(pthread_self())
            r.p[chunk] = me
            usleep(me == caller ? 20_000 : 200)
        }) && tries < 10_000 { tries += 1; usleep(100) }
        // Without taking, the caller would run its 8 chunks (160 ms); with it, about one.
        let byCaller = runners.filter { $0 == caller }.count
        #expect(!runners.contains(0))
        #expect(byCaller < chunks / 2)
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

    @Test("releasing the workers, also while loops run, leaves every loop whole; inside a loop it refuses")
    func releaseBetweenLoops() {
        let insideRefused = Atomic<Int>(0)
        var tries = 0
        while !runOnPool(2, threads: 2, { _ in
            if !WorkerThreads.release() { insideRefused.add(1, ordering: .relaxed) }
        }) && tries < 10_000 { tries += 1; usleep(100) }
        #expect(insideRefused.load(ordering: .relaxed) == 2)   // the caller's chunk and the worker's

        let failures = Atomic<Int>(0), refusals = Atomic<Int>(0), done = Atomic<Bool>(false)
        let releaser = Thread {
            while !done.load(ordering: .relaxed) {
                if !WorkerThreads.release() { refusals.add(1, ordering: .relaxed) }
                usleep(200)
            }
        }
        releaser.start()
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<200 {
                let (counts, _) = Self.run(chunks: 3 + (t + i) % 13, threads: 2 + t % 3)
                if counts.contains(where: { $0 != 1 }) { failures.add(1, ordering: .relaxed) }
            }
        }
        done.store(true, ordering: .relaxed)
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(refusals.load(ordering: .relaxed) == 0)
        #expect(WorkerThreads.release())
        #expect(Self.run(chunks: 16, threads: 2, onPool: true).counts == Array(repeating: 1, count: 16))
    }
}
