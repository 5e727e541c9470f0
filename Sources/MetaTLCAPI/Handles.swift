import CMetaTL
import Foundation
import MetaTL

// Opaque handles: a retained Swift object behind each C pointer.

final class DatasetHandle {
    let dataset: Dataset
    init(_ d: Dataset) { dataset = d }
}

final class ModelHandle {
    let model: MetaTLModel
    init(_ m: MetaTLModel) { model = m }
}

final class SnapshotHandle {
    let snapshot: ModelSnapshot
    init(_ s: ModelSnapshot) { snapshot = s }
}

func retain<T: AnyObject>(_ object: T) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

func release<T: AnyObject>(_ pointer: OpaquePointer, as: T.Type) {
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(pointer)).release()
}

func dataset(_ p: OpaquePointer?, _ name: String = "dataset") throws -> Dataset {
    guard let p else { throw BoundaryError.argument("\(name) is NULL") }
    return Unmanaged<DatasetHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue().dataset
}

func model(_ p: OpaquePointer?) throws -> MetaTLModel {
    guard let p else { throw BoundaryError.argument("model is NULL") }
    return Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue().model
}

/// Sets *out to NULL first, so that it is NULL on every failure path.
func clear(_ out: UnsafeMutablePointer<OpaquePointer?>?) throws -> UnsafeMutablePointer<OpaquePointer?> {
    guard let out else { throw BoundaryError.argument("out is NULL") }
    out.pointee = nil
    return out
}

/// A `size_t` from C as Swift sees it (Int): values of 2^63 and above arrive negative, so every
/// message shows it through this, as the unsigned number the caller passed.
func unsigned(_ n: Int) -> UInt { UInt(bitPattern: n) }

/// A `size_t` count from C as an Int within `min...limit`.
func count(_ n: Int, _ name: String, min: Int = 0, limit: Int = 1 << 31) throws -> Int {
    guard n >= 0 && n <= limit else { throw BoundaryError.argument("\(name) = \(unsigned(n)) exceeds the limit of \(limit)") }
    guard n >= min else { throw BoundaryError.argument("\(name) must be at least \(min) (got \(n))") }
    return n
}

/// An `int32_t` count from C (signed there: a negative value is the caller's) within `min...limit`.
func count(_ n: Int32, _ name: String, min: Int, limit: Int) throws -> Int {
    guard n >= min else { throw BoundaryError.argument("\(name) must be at least \(min) (got \(n))") }
    guard n <= limit else { throw BoundaryError.argument("\(name) = \(n) exceeds the limit of \(limit)") }
    return Int(n)
}

/// A C array as a Swift array; `pointer` may be NULL only when `n` is 0.
func array<T>(_ pointer: UnsafePointer<T>?, _ n: Int, _ name: String) throws -> [T] {
    if n == 0 { return [] }
    guard let pointer else { throw BoundaryError.argument("\(name) is NULL but its count is \(n)") }
    return Array(UnsafeBufferPointer(start: pointer, count: n))
}

/// A NUL-terminated UTF-8 string from C. Bytes that are not UTF-8 are refused, not repaired:
/// repaired (each bad byte made U+FFFD), a path would name another file, and a save would
/// write there.
func string(_ p: UnsafePointer<CChar>?, _ name: String) throws -> String {
    guard let p else { throw BoundaryError.argument("\(name) is NULL") }
    guard let s = String(validatingCString: p) else {
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
        let shown = MessageText.shown(bytes, limit: 4096)
        throw BoundaryError.argument("\(name) '\(shown)' is not valid UTF-8; this library takes UTF-8 strings")
    }
    return s
}

/// A versioned struct must say it is at least as large as this library's version of it.
func checkSize<T>(_ size: UInt32, of: T.Type, _ name: String, _ initialiser: String) throws {
    guard size >= UInt32(MemoryLayout<T>.size) else {
        throw BoundaryError.argument("\(name)->struct_size is \(size); initialise it with \(initialiser)()")
    }
}
