// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MetaTL",
    products: [
        // The engine, for native Swift use.
        .library(name: "MetaTL", targets: ["MetaTL"]),
        // The C ABI (include/metatl.h) as libmetatl.so.
        .library(name: "metatl", type: .dynamic, targets: ["MetaTLCAPI"]),
        // The `metatl` command (SwiftPM product names must be unique, so the binary is `metatl-cli`;
        // the command presents itself as `metatl`).
        .executable(name: "metatl-cli", targets: ["metatl-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // The element-wise inner loops, compiled per instruction set and chosen at run time.
        .target(
            name: "MetaTLKernels",
            path: "Sources/MetaTLKernels"
        ),
        // Checkpoint checksums: XXH3-64, xxHash's header compiled in (Debian: libxxhash-dev).
        .target(
            name: "MetaTLChecksum",
            path: "Sources/MetaTLChecksum"
        ),
        // The persistent worker pool behind the engine's parallel loops.
        .target(
            name: "MetaTLThreads",
            path: "Sources/MetaTLThreads"
        ),
        // The approximate catalogue index: faiss's IVF + 8-bit codes behind a small C face
        // (Debian: libfaiss-dev, a static library that needs OpenMP and OpenBLAS's LAPACK).
        .target(
            name: "MetaTLIndex",
            path: "Sources/MetaTLIndex",
            linkerSettings: [.linkedLibrary("faiss"), .linkedLibrary("gomp"), .linkedLibrary("openblas")]
        ),
        .target(
            name: "MetaTL",
            dependencies: ["CBLAS", "MetaTLKernels", "MetaTLThreads", "MetaTLChecksum", "MetaTLIndex"],
            path: "Sources/MetaTL"
        ),
        // The C header, so that the exported functions use its exact types.
        .systemLibrary(name: "CMetaTL", path: "include"),
        // Only the exported C functions: validate arguments, call the engine, map errors.
        .target(
            name: "MetaTLCAPI",
            dependencies: ["MetaTL", "CMetaTL"],
            path: "Sources/MetaTLCAPI"
        ),
        .executableTarget(
            name: "metatl-cli",
            dependencies: [
                "MetaTL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/metatl-cli"
        ),
        // examples/swift: the Swift API end to end (built and run by `make test`).
        .executableTarget(
            name: "metatl-swift-example",
            dependencies: ["MetaTL"],
            path: "examples/swift"
        ),
        .testTarget(
            name: "MetaTLTests",
            // MetaTLCAPI: the tests compare the C defaults with Swift's, setting for setting.
            dependencies: ["MetaTL", "MetaTLKernels", "MetaTLCAPI", "CMetaTL"],
            path: "Tests/MetaTLTests",
            resources: [.copy("Fixtures")]
        ),
    ]
)
