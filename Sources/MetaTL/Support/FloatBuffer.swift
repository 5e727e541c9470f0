#if canImport(Glibc)
import Glibc
#endif

/// A fixed-size, zero-initialised, 64-byte aligned array of Float, owned by a class so that
/// its storage never moves and can be handed to BLAS and to worker threads.
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        let n = max(count, 1)
        let bytes = n * MemoryLayout<Float>.stride
        // Large buffers (the parameter arena, activations) are read at random rows; on 4 KB pages
        // every such row costs a TLB miss. They are placed on 2 MB boundaries and offered to the
        // kernel for transparent huge pages (Linux; a hint that may be declined).
        let huge = bytes >= Self.hugePage
        #if os(Linux)
        // On Linux a large buffer is an anonymous mapping: the kernel zero-fills its pages on
        // first use, so pages never written (the item tables' gradient rows that training never
        // uses, idle rows' moments under sparse Adam) take no memory. Over-mapped by 2 MB so
        // that the buffer can start on a 2 MB boundary.
        if huge {
            let length = Self.roundedToHugePages(bytes) + Self.hugePage
            let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let base, base != MAP_FAILED,
               let raw = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: base) + Self.hugePage - 1) / Self.hugePage * Self.hugePage) {
                _ = madvise(raw, Self.roundedToHugePages(bytes), 14 /* MADV_HUGEPAGE */)
                pointer = raw.bindMemory(to: Float.self, capacity: n)
                mapping = (base, length)
                self.count = count
                return
            }
        }
        #endif
        let raw = UnsafeMutableRawPointer.allocate(byteCount: huge ? Self.roundedToHugePages(bytes) : bytes,
                                                   alignment: huge ? Self.hugePage : 64)
        #if os(Linux)
        if huge { _ = madvise(raw, Self.roundedToHugePages(bytes), 14 /* MADV_HUGEPAGE */) }
        #endif
        pointer = raw.bindMemory(to: Float.self, capacity: n)
        pointer.initialize(repeating: 0, count: n)
        mapping = nil
        self.count = count
    }

    /// The anonymous mapping behind a large buffer (Linux), unmapped on release.
    private let mapping: (base: UnsafeMutableRawPointer, length: Int)?

    private static let hugePage = 2 << 20

    private static func roundedToHugePages(_ bytes: Int) -> Int {
        (bytes + hugePage - 1) / hugePage * hugePage
    }

    deinit {
        #if os(Linux)
        if let mapping {
            _ = munmap(mapping.base, mapping.length)
            return
        }
        #endif
        pointer.deallocate()
    }

    subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    func zero() { pointer.update(repeating: 0, count: count) }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// A pointer that may be captured by parallel workers; each worker writes a disjoint range.
struct SharedPointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
