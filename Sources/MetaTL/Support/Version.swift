/// The engine's version: the one place it is written. The C library reports it
/// (`mt_version()`, `mt_version_number()`), the command prints it (`metatl --version`), Python's
/// `metatl.__version__` reads it from the library, and checkpoints record it. The C header's
/// `MT_VERSION_*` macros and the Python package's pyproject.toml must agree: the C contract test
/// and the Python tests check both.
public enum MetaTLVersion {
    public static let major = 0, minor = 1, patch = 0
    public static var string: String { "\(major).\(minor).\(patch)" }
}
