import CBLAS
import Foundation

/// Which OpenBLAS kernel does the work, and which one this CPU could use.
///
/// OpenBLAS picks its kernels once, when it is loaded, from the CPU it recognises or from
/// `OPENBLAS_CORETYPE`. Debian's 0.3.21 does not recognise some recent Xeons and falls back to
/// the generic "Prescott" (SSE3) kernels, 3-5x slower than the AVX-512 or AVX2 kernels the same
/// CPU runs correctly. A program can only fix that by starting with `OPENBLAS_CORETYPE` set, so
/// the `metatl` command re-executes itself once with the better kernel (its
/// `restartWithBetterKernelIfNeeded`: a library never restarts its host), and the Python package
/// sets the variable before it loads the library. An existing `OPENBLAS_CORETYPE` is always kept.
///
/// Diagnostics only: `@_spi(Diagnostics) import MetaTL` (the `metatl` command, tests).
@_spi(Diagnostics) public enum BLASKernel {
    /// The kernel OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", …).
    public static var current: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Kernels OpenBLAS falls back to when it does not recognise a CPU.
    static let generic: Set<String> = ["prescott", "core2", "nehalem", "katmai", "coppermine", "northwood", "banias", "unknown"]

    /// The kernel to ask for, or nil when OpenBLAS already uses a suitable one, when
    /// `OPENBLAS_CORETYPE` is set, or when the CPU has neither AVX-512 nor AVX2 with FMA.
    public static func recommended() -> String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        guard generic.contains(current.lowercased()) else { return nil }
        return bestFor(flags: cpuFlags())
    }

    /// SkylakeX for AVX-512 (F, BW, DQ, VL), Haswell for AVX2 + FMA.
    static func bestFor(flags: Set<String>) -> String? {
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
