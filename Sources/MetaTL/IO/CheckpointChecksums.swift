import Foundation
import MetaTLChecksum

/// Integrity of a checkpoint: an XXH3-64 checksum (xxHash) of every tensor's bytes and of the
/// other metadata entries, kept in the metadata entry `checksums` as JSON:
/// `{"algorithm": "xxh3-64", "metadata": HEX, "tensors": {NAME: HEX, ...}}`.
///
/// Checking values by meaning (``ValueLimits``) catches what cannot be a model; the checksums
/// catch what is a model but not the one saved: a changed digit of the learning rate in the
/// configuration, a changed Adam value, a changed vocabulary id. Files without the entry (older
/// checkpoints, the reference's own state_dict) load without this check.
struct CheckpointChecksums {
    static let key = "checksums"
    static let algorithm = "xxh3-64"

    /// Checksum of each tensor by name.
    let tensors: [String: UInt64]
    /// Checksum of the metadata entries other than this one (see ``metadataChecksum(_:)``).
    let metadata: UInt64

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        mtl_checksum64(bytes.baseAddress, bytes.count)
    }

    static func checksum(_ data: Data) -> UInt64 {
        data.withUnsafeBytes { checksum($0) }
    }

    /// The metadata entries other than `checksums`, sorted by key, each as a JSON key and value:
    /// one byte string whatever order the file lists them in.
    static func metadataChecksum(_ entries: [String: String]) -> UInt64 {
        let canonical = entries.filter { $0.key != key }.sorted { $0.key < $1.key }
            .map { SafeTensors.jsonString($0.key) + ":" + SafeTensors.jsonString($0.value) }.joined(separator: ",")
        return checksum(Data(canonical.utf8))
    }

    static func hex(_ x: UInt64) -> String {
        let digits = String(x, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The `checksums` metadata value for these tensors and (other) metadata entries.
    static func entry(tensors: [SafeTensors.Tensor], metadata: [(String, String)]) -> String {
        entry(checksums: tensors.map { ($0.name, checksum($0.bytes)) }, metadata: metadata)
    }

    /// The `checksums` metadata value for tensors of these checksums (name, checksum of the
    /// bytes as stored, in the file's order) and (other) metadata entries.
    static func entry(checksums: [(String, UInt64)], metadata: [(String, String)]) -> String {
        let meta = metadataChecksum(Dictionary(metadata, uniquingKeysWith: { a, _ in a }))
        let list = checksums.map { SafeTensors.jsonString($0.0) + ":" + SafeTensors.jsonString(hex($0.1)) }
        return "{\"algorithm\":\"\(algorithm)\",\"metadata\":\"\(hex(meta))\",\"tensors\":{\(list.joined(separator: ","))}}"
    }

    /// The checksums a file's metadata holds, nil when it holds none; throws when the entry is
    /// malformed or the metadata does not match its checksum.
    init?(metadata entries: [String: String], name: String) throws(MetaTLError) {
        guard let text = entries[Self.key] else { return nil }
        func bad(_ why: String) -> MetaTLError { MetaTLError(.badCheckpoint, "\(name): \(why)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let algorithm = object["algorithm"] as? String, let meta = object["metadata"] as? String,
              let list = object["tensors"] as? [String: String] else {
            throw bad("the checksums metadata is malformed")
        }
        guard algorithm == Self.algorithm else {
            throw bad("checksum algorithm \(algorithm) is not supported (this library checks \(Self.algorithm))")
        }
        func parse(_ hex: String, _ what: String) throws(MetaTLError) -> UInt64 {
            guard hex.count == 16, let x = UInt64(hex, radix: 16) else { throw bad("the checksum of \(what) is malformed") }
            return x
        }
        var tensors: [String: UInt64] = [:]
        for (tensor, hex) in list { tensors[tensor] = try parse(hex, "tensor \(tensor)") }
        self.tensors = tensors
        metadata = try parse(meta, "the metadata")
        guard Self.metadataChecksum(entries) == metadata else {
            throw bad("the metadata (configuration, step, version) does not match its checksum: the file was changed after it was saved")
        }
    }

    /// Throws unless `bytes`, tensor `tensor`'s bytes as stored, match its checksum.
    func verify(_ tensor: String, _ bytes: UnsafeRawBufferPointer, name: String) throws(MetaTLError) {
        guard let expected = tensors[tensor] else {
            throw MetaTLError(.badCheckpoint, "\(name): tensor \(tensor) has no checksum although the file has checksums")
        }
        guard Self.checksum(bytes) == expected else {
            throw MetaTLError(.badCheckpoint, "\(name): tensor \(tensor) does not match its checksum: the file was changed or damaged after it was saved")
        }
    }
}
