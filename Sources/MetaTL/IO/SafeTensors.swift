import Foundation

/// The safetensors container: 8-byte little-endian header length N, N bytes of JSON header
/// (`{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}`),
/// then the raw little-endian tensor bytes. Readable by the `safetensors` Python package.
enum SafeTensors {
    enum DType: String { case f32 = "F32", i64 = "I64", u8 = "U8"
        var size: Int {
            switch self { case .f32: return 4; case .i64: return 8; case .u8: return 1 }
        }
    }

    struct Tensor {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: Data
    }

    /// Largest header this reader accepts. The format allows 100 MB, but a MetaTL checkpoint's
    /// header (about 40 tensors and the configuration) is a few KB, as is a reference
    /// state_dict's; parsing is the one step whose memory is not bounded by the tensors' sizes.
    static let maxHeaderBytes = 1 << 20

    /// What the header says of one tensor: its name, dtype, shape and size in bytes.
    struct HeaderEntry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let byteCount: Int
    }

    /// A file's bytes before its tensors' bytes: the 8-byte little-endian header length, then the
    /// JSON header (the metadata in the given order, then the tensors in the given order, their
    /// data contiguous from offset 0), padded with spaces to a multiple of 8 bytes. The one
    /// place a header is written: ``serialize(_:metadata:)`` and the streaming checkpoint save
    /// (``CheckpointWriter``) both use it, so that they write the same bytes.
    static func header(_ entries: [HeaderEntry], metadata: [(String, String)]) -> Data {
        var header = "{\"__metadata__\":{"
        header += metadata.map { "\(jsonString($0.0)):\(jsonString($0.1))" }.joined(separator: ",")
        header += "}"
        var offset = 0
        for t in entries {
            let end = offset + t.byteCount
            header += ",\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var headerBytes = Data(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + headerBytes.count)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(headerBytes)
        return out
    }

    /// Serialises tensors in the given order, contiguously, header padded with spaces to 8 bytes.
    static func serialize(_ tensors: [Tensor], metadata: [(String, String)]) -> Data {
        var out = header(tensors.map { HeaderEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, byteCount: $0.bytes.count) },
                         metadata: metadata)
        out.reserveCapacity(out.count + tensors.reduce(0) { $0 + $1.bytes.count })
        for t in tensors { out.append(t.bytes) }
        return out
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func bytes(_ values: [Float]) -> Data {
        var d = Data(count: values.count * 4)
        d.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        }
        return d
    }

    static func bytes(_ values: [Int64]) -> Data {
        var d = Data(count: values.count * 8)
        d.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.littleEndian, toByteOffset: i * 8, as: Int64.self) }
        }
        return d
    }

    static func bytes(_ values: [UInt8]) -> Data { Data(values) }

    /// Where a file's bytes come from: memory, or an open file read one piece at a time, so that
    /// loading a checkpoint holds its header and reads each tensor straight into the model; the
    /// whole file is never in memory at once, and a file that shrinks while it is read is an
    /// error, not a crash (which mapping it could give).
    enum Source {
        case memory(Data)
        case file(InputFile)

        var count: Int {
            switch self {
            case .memory(let data): return data.count
            case .file(let file): return file.size ?? 0
            }
        }

        /// Fills `buffer` from byte `offset`; false if the source ends first.
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(MetaTLError) -> Bool {
            guard offset >= 0 else { return false }
            switch self {
            case .memory(let data):
                guard offset <= data.count, buffer.count <= data.count - offset else { return false }
                let start = data.startIndex + offset
                data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: start..<(start + buffer.count))
                return true
            case .file(let file):
                return try file.read(into: buffer, at: offset) == buffer.count
            }
        }

        /// Fills an array's bytes from byte `offset`; false if the source ends first.
        func read<T>(into array: inout [T], at offset: Int) throws(MetaTLError) -> Bool {
            var result: Result<Bool, MetaTLError> = .success(false)
            array.withUnsafeMutableBytes { raw in
                do throws(MetaTLError) { result = .success(try read(into: raw, at: offset)) } catch { result = .failure(error) }
            }
            return try result.get()
        }
    }

    /// A parsed, validated file: every entry's dtype, shape and byte range checked against the
    /// file's size before anything is read.
    struct File {
        let name: String
        let source: Source
        let dataStart: Int
        let metadata: [String: String]
        let entries: [String: (dtype: DType, shape: [Int], range: Range<Int>)]
        /// When set, every tensor read is checked against its checksum as its bytes arrive.
        var checksums: CheckpointChecksums?

        init(data: Data, name: String) throws(MetaTLError) {
            try self.init(source: .memory(data), name: name)
        }

        init(source: Source, name: String) throws(MetaTLError) {
            func bad(_ why: String) -> MetaTLError { MetaTLError(.badCheckpoint, "\(name): \(why)") }
            self.name = name
            self.source = source
            let size = source.count
            guard size >= 8 else { throw bad("truncated: \(size) bytes, too short for the 8-byte header length") }
            var prefix = [UInt8](repeating: 0, count: 8)
            guard try source.read(into: &prefix, at: 0) else {
                throw bad("truncated while reading the header length (the file changed while loading?)")
            }
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(prefix[i]) << (8 * UInt64(i)) }
            guard n <= UInt64(maxHeaderBytes) else {
                throw bad("header length \(n) exceeds the \(maxHeaderBytes)-byte limit (a MetaTL header is a few KB)")
            }
            guard Int(n) <= size - 8 else {
                throw bad("truncated: the header claims \(n) bytes but only \(size - 8) follow")
            }
            var headerBytes = [UInt8](repeating: 0, count: Int(n))
            guard try source.read(into: &headerBytes, at: 8) else {
                throw bad("truncated while reading the header (the file changed while loading?)")
            }
            let headerData = Data(headerBytes)
            dataStart = 8 + Int(n)
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: headerData) } catch {
                throw bad("header is not valid JSON")
            }
            guard let header = object as? [String: Any] else { throw bad("header is not a JSON object") }
            var metadata: [String: String] = [:]
            if let m = header["__metadata__"] {
                guard let dict = m as? [String: String] else { throw bad("__metadata__ must map strings to strings") }
                metadata = dict
            }
            self.metadata = metadata
            let bufferSize = size - dataStart
            var entries: [String: (dtype: DType, shape: [Int], range: Range<Int>)] = [:]
            for (key, value) in header where key != "__metadata__" {
                guard let entry = value as? [String: Any] else { throw bad("tensor \(key): entry is not an object") }
                guard let dt = entry["dtype"] as? String else { throw bad("tensor \(key): no dtype") }
                guard let dtype = DType(rawValue: dt) else { throw bad("tensor \(key): dtype \(dt) is not supported (F32, I64 or U8)") }
                guard let shapeAny = entry["shape"] as? [Any] else { throw bad("tensor \(key): no shape") }
                var shape: [Int] = []
                var count = 1
                for dim in shapeAny {
                    guard let n = dim as? Int, n >= 0, n <= Int(Int32.max) else {
                        throw bad("tensor \(key): shape must hold non-negative integers")
                    }
                    shape.append(n)
                    let (c, o) = count.multipliedReportingOverflow(by: n)
                    guard !o else { throw bad("tensor \(key): shape \(shapeAny) is too large") }
                    count = c
                }
                guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
                      let b = offsets[0] as? Int, let e = offsets[1] as? Int else {
                    throw bad("tensor \(key): data_offsets must be two integers")
                }
                let begin = Int64(b), end = Int64(e)
                guard begin >= 0, begin <= end, end <= Int64(bufferSize) else {
                    throw bad("tensor \(key): data_offsets [\(begin), \(end)] fall outside the \(bufferSize) data bytes (truncated file?)")
                }
                let (bytes, o) = count.multipliedReportingOverflow(by: dtype.size)
                guard !o, Int64(bytes) == end - begin else {
                    throw bad("tensor \(key): \(end - begin) bytes do not match shape \(shape) of \(dtype.rawValue)")
                }
                entries[key] = (dtype, shape, Int(begin)..<Int(end))
            }
            // The ranges must tile the data buffer exactly, as the format requires.
            var position = 0
            for (key, e) in entries.sorted(by: { ($0.value.range.lowerBound, $0.value.range.upperBound) < ($1.value.range.lowerBound, $1.value.range.upperBound) }) {
                guard e.range.lowerBound == position else { throw bad("tensor \(key): data_offsets overlap or leave a gap") }
                position = e.range.upperBound
            }
            guard position == bufferSize else { throw bad("\(bufferSize - position) bytes after the last tensor") }
            self.entries = entries
        }

        private func entry(_ key: String, _ dtype: DType, _ shape: [Int]) throws(MetaTLError) -> Range<Int> {
            guard let e = entries[key] else { throw MetaTLError(.badCheckpoint, "\(name): tensor \(key) is missing") }
            guard e.dtype == dtype else {
                throw MetaTLError(.badCheckpoint, "\(name): tensor \(key) has dtype \(e.dtype.rawValue), expected \(dtype.rawValue)")
            }
            guard e.shape == shape else {
                throw MetaTLError(.badCheckpoint, "\(name): tensor \(key) has shape \(e.shape), expected \(shape)")
            }
            return e.range
        }

        /// Checks that a tensor is present with this dtype and shape, reading nothing.
        func require(_ key: String, _ dtype: DType, shape: [Int]) throws(MetaTLError) {
            _ = try entry(key, dtype, shape)
        }

        /// Reads a tensor's bytes into `buffer` (exactly the tensor's size), checking them
        /// against their checksum when the file has checksums. Every read goes through here.
        private func read(_ key: String, _ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(MetaTLError) {
            guard buffer.count == range.count, try source.read(into: buffer, at: dataStart + range.lowerBound) else {
                throw MetaTLError(.badCheckpoint, "\(name): tensor \(key): the file ended early (it changed while loading?)")
            }
            try checksums?.verify(key, UnsafeRawBufferPointer(buffer), name: name)
        }

        /// Reads a tensor's bytes into an array of exactly its size (see ``read(_:_:into:)``).
        private func readArray<T>(_ key: String, _ range: Range<Int>, into array: inout [T]) throws(MetaTLError) {
            var failure: MetaTLError?
            array.withUnsafeMutableBytes { raw in
                do throws(MetaTLError) { try read(key, range, into: raw) } catch { failure = error }
            }
            if let failure { throw failure }
        }

        /// Reads an F32 tensor of this shape into `destination` (room for its element count).
        func readFloats(_ key: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(MetaTLError) {
            let r = try entry(key, .f32, shape)
            let count = r.count / 4
            try read(key, r, into: UnsafeMutableRawBufferPointer(start: destination, count: r.count))
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(littleEndian: destination[i].bitPattern)) }
        }

        func floats(_ key: String, shape: [Int]) throws(MetaTLError) -> [Float] {
            let r = try entry(key, .f32, shape)
            var out = [Float](repeating: 0, count: r.count / 4)
            try readArray(key, r, into: &out)
            for i in out.indices { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
            return out
        }

        func uint8s(_ key: String, shape: [Int]) throws(MetaTLError) -> [UInt8] {
            let r = try entry(key, .u8, shape)
            var out = [UInt8](repeating: 0, count: r.count)
            try readArray(key, r, into: &out)
            return out
        }

        func int64s(_ key: String, shape: [Int]) throws(MetaTLError) -> [Int64] {
            let r = try entry(key, .i64, shape)
            var out = [Int64](repeating: 0, count: r.count / 8)
            try readArray(key, r, into: &out)
            for i in out.indices { out[i] = Int64(littleEndian: out[i]) }
            return out
        }
    }
}
