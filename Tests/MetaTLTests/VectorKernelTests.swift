import Foundation
import Testing
import MetaTLKernels
@_spi(Diagnostics) @testable import MetaTL

/// The element-wise kernels are compiled for several instruction sets (Sources/MetaTLKernels);
/// every variant this CPU runs must give the same bits.
@Suite("Vector kernels", .serialized)
struct VectorKernelTests {
    static let variants = ["generic", "avx2", "avx512"]

    /// Sizes with partial 16-lane groups everywhere (20, 37, 24 are not all multiples of 16).
    static func trainAndEvaluate(_ data: Dataset, preset: String) throws -> ([UInt32], Metrics) {
        var c = Configuration.preset(named: preset) ?? .reference
        c.dim = 20; c.hidden1 = 37; c.hidden2 = 24; c.batchSize = 48; c.threads = 2; c.dropout = 0.3
        let m = try MetaTLModel(configuration: c, dataset: data)
        try m.train(on: data, steps: 6)
        var bits: [UInt32] = []
        for name in m.parameterNames { bits += (m.tensor(named: name) ?? []).map(\.bitPattern) }
        return (bits, try m.evaluate(on: data, split: .test, protocol: .sampled))
    }

    @Test(arguments: Configuration.presetNames)
    func everyVariantTrainsTheSameModelBitForBit(preset: String) throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let original = VectorKernels.selected
        defer { VectorKernels.select(original) }
        #expect(VectorKernels.select("generic"))
        let (reference, referenceMetrics) = try Self.trainAndEvaluate(data, preset: preset)
        var compared = 0
        for variant in Self.variants.dropFirst() where VectorKernels.select(variant) {
            let (bits, metrics) = try Self.trainAndEvaluate(data, preset: preset)
            let differing = zip(bits, reference).filter { $0 != $1 }.count
            #expect(bits.count == reference.count && differing == 0, "\(variant): \(differing) parameters differ from generic")
            #expect(metrics == referenceMetrics, "\(variant) differs from generic")
            compared += 1
        }
        #expect(!VectorKernels.select("no-such-variant"))
        print("vector kernel variants compared with generic (\(preset)): \(compared)")
    }

    /// Dropout keeps each unit with probability 1-p, scaled by 1/(1-p), and records what it did.
    @Test(arguments: [Float(0.1), 0.3, 0.5])
    func dropoutDropsTheRequestedShare(p: Float) {
        let n = 1000, rows = 40
        let z = [Float](repeating: 0, count: n), bias = [Float](repeating: 0, count: n)
        var y = [Float](repeating: -1, count: n)
        var bits = [UInt16](repeating: 0, count: MaskBuffer.wordsPerRow(n))
        let drop = Dropout(p)
        var dropped = 0
        for row in 0..<rows {
            // x̂ = 0, so y = gamma·0 + beta = 1 before dropout.
            mtl_k_norm_forward_row(z, bias, &y, &bits, n, 0, 1, 1, 1, 1, 0.01, drop.threshold, drop.keep,
                                   DropoutKeys(seed: 7, step: 1, layer: 0).row(row))
            for j in 0..<n {
                let recorded = (bits[2 * (j / 16)] >> (j % 16)) & 1 == 1
                #expect(y[j] == (recorded ? 0 : drop.keep))
                if recorded { dropped += 1 }
            }
        }
        let share = Double(dropped) / Double(n * rows)
        // 40,000 draws: the standard error is at most 0.0025.
        #expect(abs(share - Double(p)) < 0.015, "dropped \(share), expected \(p)")
    }

    /// Replaying n idle Adam steps at once equals n zero-gradient updates bit for bit, for every
    /// variant, long enough for the first moments to reach the flushed-denormal regime; including
    /// zeros of either sign.
    @Test func replayEqualsRepeatedZeroGradientUpdates() {
        let original = VectorKernels.selected
        defer { VectorKernels.select(original) }
        let adam = Adam(learningRate: 0.001)
        let schedule = Adam.Schedule(adam)
        let steps = 1200   // 0.9^1200 takes m = 1e-3 far below the smallest normal float
        schedule.extend(through: steps)
        let n = 37   // two 16-lane groups, one 4-lane group, one single value
        var p0 = (0..<n).map { Float($0 % 9) * 0.01 - 0.03 }
        var m0 = (0..<n).map { Float($0 % 5) * 1e-3 - 2e-3 }
        let v0 = (0..<n).map { Float($0 % 4) * 1e-6 }
        p0[3] = -0.0; m0[3] = -0.0; p0[5] = 0; m0[5] = 0; m0[20] = -0.0
        for variant in Self.variants where VectorKernels.select(variant) {
            var p1 = p0, m1 = m0, v1 = v0, p2 = p0, m2 = m0, v2 = v0
            let state = mtl_k_flush_denormals()
            schedule.withSteps { k in
                guard let base = k.baseAddress else { return }
                for t in 0..<steps { Adam.update(&p1, &m1, &v1, grad: nil, count: n, base[t]) }
                Adam.replay(&p2, &m2, &v2, count: n, steps: base, n: steps)
            }
            mtl_k_restore_denormals(state)
            #expect(p1.map(\.bitPattern) == p2.map(\.bitPattern), "\(variant): parameters")
            #expect(m1.map(\.bitPattern) == m2.map(\.bitPattern), "\(variant): first moments")
            #expect(v1.map(\.bitPattern) == v2.map(\.bitPattern), "\(variant): second moments")
            #expect(m2.allSatisfy { abs($0) < 2e-37 }, "\(variant): m should have decayed to the smallest normals")
            #expect(p2 != p0, "\(variant): the parameters should have moved")
        }
    }

    /// The softmax's exponentials: within 2 ulp-ish (3e-7 relative) of exp over [-87, 0], exactly 0
    /// for a masked (-∞) logit, the sums as documented, and the same bits on every variant.
    @Test func softmaxExponentialsAreAccurateAndTheSameOnEveryVariant() {
        let original = VectorKernels.selected
        defer { VectorKernels.select(original) }
        let n = 37
        var x0 = (0..<n).map { -Float($0) * 2.37 + 0.5 }
        x0[7] = -.infinity
        let shift: Float = 0.5
        let offsets = (0..<n).map { Float($0 % 3) * 0.25 }
        var first: [UInt32]?
        for variant in Self.variants where VectorKernels.select(variant) {
            var x = x0
            var weighted: Float = 0
            let total = mtl_k_softmax_exp(&x, n, shift, offsets, &weighted)
            var expectTotal = 0.0, expectWeighted = 0.0
            for i in 0..<n where x0[i] > -.infinity {
                let e = Foundation.exp(Double(x0[i] - shift))
                #expect(abs(Double(x[i]) - e) <= 3e-7 * e + 1e-38, "\(variant): exp(\(x0[i] - shift)) = \(x[i]), expected \(e)")
                expectTotal += e
                expectWeighted += e * Double(x0[i] - offsets[i])
            }
            #expect(x[7] == 0, "\(variant): a masked logit's exponential is 0")
            #expect(abs(Double(total) - expectTotal) <= 1e-6 * expectTotal)
            #expect(abs(Double(weighted) - expectWeighted) <= 1e-5 * abs(expectWeighted) + 1e-6)
            let bits = x.map(\.bitPattern) + [total.bitPattern, weighted.bitPattern]
            if let first { #expect(bits == first, "\(variant) differs from the first variant") } else { first = bits }
        }
    }
}
