import Foundation
@_spi(Diagnostics) import MetaTL

extension BLASKernel {
    /// If a better kernel is available, restarts this process with `OPENBLAS_CORETYPE` set
    /// (once; `METATL_BLAS_REEXEC` marks the restarted process; `METATL_KEEP_BLAS_KERNEL` set
    /// keeps the kernel OpenBLAS chose). Returns normally when nothing is to be done or the
    /// restart is impossible. The command's, not the library's: a library must not replace the
    /// process that hosts it.
    static func restartWithBetterKernelIfNeeded() {
        guard ProcessInfo.processInfo.environment["METATL_BLAS_REEXEC"] == nil,
              ProcessInfo.processInfo.environment["METATL_KEEP_BLAS_KERNEL"] == nil,
              let kernel = recommended() else { return }
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        setenv("METATL_BLAS_REEXEC", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: keep running with the kernel we have.
    }
}
