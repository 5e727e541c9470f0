import Foundation

/// A progress bar on a terminal (step, steps/s, loss, ETA, redrawn in place on stderr);
/// plain lines, about twenty per run, when stderr is not a terminal.
final class ProgressDisplay {
    let total: Int
    let interactive: Bool
    let start = Date()
    private var lastDraw = Date.distantPast
    private var lastPlain = 0

    init(total: Int) {
        self.total = total
        interactive = isatty(STDERR_FILENO) == 1
    }

    func update(done: Int, loss: Float) {
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        let rate = Double(done) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        if interactive {
            guard done == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
            lastDraw = now
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write(String(format: "\r[%@] %d/%d  %.1f steps/s  loss %.4f  ETA %@ ", bar, done, total, rate, loss, clock(eta)))
        } else {
            let every = max(1, total / 20)
            guard done - lastPlain >= every || done == total else { return }
            lastPlain = done
            write(String(format: "step %d/%d  %.1f steps/s  loss %.4f  ETA %@\n", done, total, rate, loss, clock(eta)))
        }
    }

    /// A message that must not be overwritten by the bar.
    func line(_ s: String) {
        write(interactive ? "\r\u{1B}[K" + s + "\n" : s + "\n")
    }

    func finish() {
        if interactive { write("\n") }
    }

    private func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    private func write(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }
}
