import Foundation
import MetaTLChecksum

/// A checkpoint's content as it lies in the model's memory, written without copying it: the
/// tensors' bytes are read where they are (the parameter arena, Adam's moments, the running
/// statistics, the vocabulary's arrays) to compute their checksums, then again to write them,
/// straight to a file (``write(to:)``) or into one buffer (``fill(_:)``). Values the file stores
/// in another type than memory does (Int32 or Int → I64, Bool → I64, and every value on a
/// big-endian host) go through a small scratch buffer, a piece at a time. The bytes are those of
/// ``SafeTensors/serialize(_:metadata:)`` of the same tensors and metadata, byte for byte.
///
/// Valid only while the model is alive and read-locked (the pointers are into its memory).
struct CheckpointWriter {
    /// Where one tensor's values are.
    enum Values {
        /// Floats at a fixed address in the model (arena, moments, running statistics).
        case floats(UnsafePointer<Float>, count: Int)
        case floatArray([Float])
        case int64Array([Int64])
        /// 64-bit integers at a fixed address (the string table's offsets).
        case int64s(UnsafeBufferPointer<Int64>)
        /// Bytes at a fixed address (the string table's bytes).
        case bytes(UnsafeBufferPointer<UInt8>)
        /// `count` values computed one at a time (conversions to I64).
        case generated(count: Int, (Int) -> Int64)

        var count: Int {
            switch self {
            case .floats(_, let n), .generated(let n, _): return n
            case .floatArray(let a): return a.count
            case .int64Array(let a): return a.count
            case .int64s(let b): return b.count
            case .bytes(let b): return b.count
            }
        }

        /// Bytes per value as stored.
        var width: Int {
            switch self {
            case .floats, .floatArray: return 4
            case .int64Array, .int64s, .generated: return 8
            case .bytes: return 1
            }
        }
    }

    struct Tensor {
        let name: String
        let dtype: SafeTensors.DType
        let shape: [Int]
        let values: Values
    }

    let tensors: [Tensor]
    /// The metadata entries but the checksums, in the file's order.
    let metadata: [(String, String)]

    /// Bytes of the scratch buffer converted values go through.
    static let scratchBytes = 1 << 20

    /// A tensor's size in bytes, refused (rather than wrapped) past Int's range.
    static func byteCount(_ v: Values) throws(MetaTLError) -> Int {
        let (n, overflow) = v.count.multipliedReportingOverflow(by: v.width)
        guard !overflow else { throw MetaTLError(.invalidState, "a checkpoint tensor of \(v.count) values is too large to write") }
        return n
    }

    /// Calls `body` with `values`' bytes as the file stores them (little-endian), in order, in
    /// pieces of at most ``AtomicFile/writeChunk`` bytes; converted values go through `scratch`.
    static func forEachPiece(of values: Values, scratch: UnsafeMutableRawBufferPointer,
                             _ body: (UnsafeRawBufferPointer) throws(MetaTLError) -> Void) throws(MetaTLError) {
        func memory(_ raw: UnsafeRawBufferPointer) throws(MetaTLError) {
            var start = 0
            while start < raw.count {
                let n = min(raw.count - start, AtomicFile.writeChunk)
                try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + n)]))
                start += n
            }
        }
        /// `count` values of `width` bytes, value i stored at the address given by `store`.
        func converted(_ count: Int, width: Int, _ store: (Int, UnsafeMutableRawPointer) -> Void) throws(MetaTLError) {
            guard let base = scratch.baseAddress else { return }
            let per = max(1, scratch.count / width)
            var start = 0
            while start < count {
                let n = min(count - start, per)
                for k in 0..<n { store(start + k, base + k * width) }
                try body(UnsafeRawBufferPointer(start: base, count: n * width))
                start += n
            }
        }
        func floats(_ p: UnsafePointer<Float>, _ count: Int) throws(MetaTLError) {
            #if _endian(little)
            try memory(UnsafeRawBufferPointer(start: p, count: count * 4))
            #else
            try converted(count, width: 4) { i, q in q.storeBytes(of: p[i].bitPattern.littleEndian, as: UInt32.self) }
            #endif
        }
        func int64s(_ b: UnsafeBufferPointer<Int64>) throws(MetaTLError) {
            #if _endian(little)
            try memory(UnsafeRawBufferPointer(b))
            #else
            try converted(b.count, width: 8) { i, q in q.storeBytes(of: b[i].littleEndian, as: Int64.self) }
            #endif
        }
        switch values {
        case .floats(let p, let n): try floats(p, n)
        case .floatArray(let a):
            try a.withUnsafeBufferPointer { (b: UnsafeBufferPointer<Float>) throws(MetaTLError) in
                if let p = b.baseAddress { try floats(p, b.count) }
            }
        case .int64Array(let a):
            try a.withUnsafeBufferPointer { (b: UnsafeBufferPointer<Int64>) throws(MetaTLError) in try int64s(b) }
        case .int64s(let b): try int64s(b)
        case .bytes(let b): try memory(UnsafeRawBufferPointer(b))
        case .generated(let n, let value):
            try converted(n, width: 8) { i, q in q.storeBytes(of: value(i).littleEndian, as: Int64.self) }
        }
    }

    /// The file's bytes before the tensors' (length, header with the checksums entry, padding;
    /// see ``SafeTensors/header(_:metadata:)``) and the file's total size. Reads every tensor
    /// once, for its checksum.
    func header() throws(MetaTLError) -> (bytes: Data, total: Int) {
        guard let state = mtl_checksum_create() else {
            throw MetaTLError(.io, "cannot allocate the checksum state to save a checkpoint")
        }
        defer { mtl_checksum_free(state) }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchBytes, alignment: 16)
        defer { scratch.deallocate() }
        var sums: [(String, UInt64)] = []
        var entries: [SafeTensors.HeaderEntry] = []
        var data = 0
        for t in tensors {
            let n = try Self.byteCount(t.values)
            mtl_checksum_reset(state)
            try Self.forEachPiece(of: t.values, scratch: scratch) { piece in
                mtl_checksum_update(state, piece.baseAddress, piece.count)
            }
            sums.append((t.name, mtl_checksum_digest(state)))
            entries.append(.init(name: t.name, dtype: t.dtype, shape: t.shape, byteCount: n))
            let (sum, overflow) = data.addingReportingOverflow(n)
            guard !overflow else { throw MetaTLError(.invalidState, "the checkpoint is too large to write") }
            data = sum
        }
        let checksums = (CheckpointChecksums.key, CheckpointChecksums.entry(checksums: sums, metadata: metadata))
        let bytes = SafeTensors.header(entries, metadata: metadata + [checksums])
        let (total, overflow) = bytes.count.addingReportingOverflow(data)
        guard !overflow else { throw MetaTLError(.invalidState, "the checkpoint is too large to write") }
        return (bytes, total)
    }

    /// Passes the whole file, header first, to `sink` in pieces.
    func stream(header: Data, _ sink: (UnsafeRawBufferPointer) throws(MetaTLError) -> Void) throws(MetaTLError) {
        var failure: MetaTLError?
        header.withUnsafeBytes { raw in
            do throws(MetaTLError) { try sink(raw) } catch { failure = error }
        }
        if let failure { throw failure }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchBytes, alignment: 16)
        defer { scratch.deallocate() }
        for t in tensors { try Self.forEachPiece(of: t.values, scratch: scratch, sink) }
    }

    /// Writes the checkpoint to `out` (the temporary file of ``writeAtomically(to:_:)``).
    func write(to out: AtomicFile.Output) throws(MetaTLError) {
        let (header, _) = try header()
        try stream(header: header) { (piece: UnsafeRawBufferPointer) throws(MetaTLError) in try out.write(piece) }
    }

    /// Writes the checkpoint into `buffer`, which must hold exactly the `total` bytes ``header()``
    /// gave with `header`.
    func fill(_ buffer: UnsafeMutableRawBufferPointer, header: Data) throws(MetaTLError) {
        var at = 0
        try stream(header: header) { (piece: UnsafeRawBufferPointer) throws(MetaTLError) in
            guard piece.count <= buffer.count - at else {
                throw MetaTLError(.invalidState, "the checkpoint grew while it was written into memory")
            }
            if piece.count > 0, let to = buffer.baseAddress, let from = piece.baseAddress {
                (to + at).copyMemory(from: from, byteCount: piece.count)
            }
            at += piece.count
        }
        guard at == buffer.count else { throw MetaTLError(.invalidState, "the checkpoint shrank while it was written into memory") }
    }
}
