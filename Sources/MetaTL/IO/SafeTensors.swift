import Foundation

/// The safetensors container: 8-byte little-endian header length N, N bytes of JSON header
/// (`{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}`),
/// then the raw little-endian tensor bytes. Readable by the `safetensors` Python package.
enum SafeTensors {
    enum DType: String { case f32 = "F32", i64 = "I64"
        var size: Int { self == .f32 ? 4 : 8 }
    }

    struct Tensor {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: Data
    }

    /// Largest header this reader accepts (the format's own limit is 100 MB).
    static let maxHeaderBytes = 100_000_000

    /// Serialises tensors in the given order, contiguously, header padded with spaces to 8 bytes.
    static func serialize(_ tensors: [Tensor], metadata: [(String, String)]) -> Data {
        var header = "{\"__metadata__\":{"
        header += metadata.map { "\(jsonString($0.0)):\(jsonString($0.1))" }.joined(separator: ",")
        header += "}"
        var offset = 0
        for t in tensors {
            let end = offset + t.bytes.count
            header += ",\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var headerBytes = Data(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + headerBytes.count + offset)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(headerBytes)
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

    /// A parsed, validated file: every entry's dtype, shape and byte range checked against the
    /// file's size before anything is read.
    struct File {
        let name: String
        let data: Data
        let dataStart: Int
        let metadata: [String: String]
        let entries: [String: (dtype: DType, shape: [Int], range: Range<Int>)]

        init(data: Data, name: String) throws(MetaTLError) {
            func bad(_ why: String) -> MetaTLError { MetaTLError(.badCheckpoint, "\(name): \(why)") }
            self.name = name
            self.data = data
            guard data.count >= 8 else { throw bad("truncated: \(data.count) bytes, too short for the 8-byte header length") }
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
            guard n <= UInt64(maxHeaderBytes) else { throw bad("header length \(n) exceeds the \(maxHeaderBytes)-byte limit") }
            guard Int(n) <= data.count - 8 else {
                throw bad("truncated: the header claims \(n) bytes but only \(data.count - 8) follow")
            }
            let headerData = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(n)))
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
            let bufferSize = data.count - dataStart
            var entries: [String: (dtype: DType, shape: [Int], range: Range<Int>)] = [:]
            for (key, value) in header where key != "__metadata__" {
                guard let entry = value as? [String: Any] else { throw bad("tensor \(key): entry is not an object") }
                guard let dt = entry["dtype"] as? String else { throw bad("tensor \(key): no dtype") }
                guard let dtype = DType(rawValue: dt) else { throw bad("tensor \(key): dtype \(dt) is not supported (F32 or I64)") }
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
            for (key, e) in entries.sorted(by: { $0.value.range.lowerBound < $1.value.range.lowerBound }) {
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

        func floats(_ key: String, shape: [Int]) throws(MetaTLError) -> [Float] {
            let r = try entry(key, .f32, shape)
            let base = data.startIndex + dataStart
            var out = [Float](repeating: 0, count: r.count / 4)
            data.withUnsafeBytes { raw in
                for i in 0..<out.count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base - data.startIndex + r.lowerBound + 4 * i, as: UInt32.self)))
                }
            }
            return out
        }

        func int64s(_ key: String, shape: [Int]) throws(MetaTLError) -> [Int64] {
            let r = try entry(key, .i64, shape)
            let base = data.startIndex + dataStart
            var out = [Int64](repeating: 0, count: r.count / 8)
            data.withUnsafeBytes { raw in
                for i in 0..<out.count {
                    out[i] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base - data.startIndex + r.lowerBound + 8 * i, as: Int64.self))
                }
            }
            return out
        }
    }
}
