// swift-tools-version:6.1
// holt: a metadata engine for path-shaped keys (HoltEngine) and a FUSE filesystem that shows it (HoltFS, holtfs).
import PackageDescription

/// Settings every Swift target shares: Swift 6 mode, failpoints compiled into debug builds only,
/// and the run-time exclusivity checks of class properties kept in debug builds (where every test
/// runs) but left out of release builds, where they cost about 5% of a lookup (profiled).
let holtSwiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .define("HOLT_FAILPOINTS", .when(configuration: .debug)),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

/// The examples: Swift 6 mode, nothing else (they show the library as a user builds against it).
let exampleSwiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "holt",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "HoltEngine", targets: ["HoltEngine"]),
        .library(name: "HoltFS", targets: ["HoltFS"]),
        .executable(name: "holtfs", targets: ["holtfs"]),
        .executable(name: "holt-bench", targets: ["holt-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // `make docs`: swift package generate-documentation --target HoltEngine (DocC).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C boundaries: libfuse3's low-level API, liburing and the Linux constants Glibc's overlay hides.
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        .target(name: "CURing", linkerSettings: [.linkedLibrary("uring")]),
        // Peers for holt-bench, from Debian.
        .systemLibrary(name: "CRocksDB", pkgConfig: "rocksdb", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        .target(name: "HoltEngine", dependencies: ["CURing"], swiftSettings: holtSwiftSettings),
        // HoltFS reports per-request counters through swift-metrics (CoreMetrics only: no backend of its own).
        .target(
            name: "HoltFS",
            dependencies: ["HoltEngine", "CFuse", "CURing", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: holtSwiftSettings),
        .executableTarget(
            name: "holtfs",
            dependencies: [
                "HoltFS", "HoltEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: holtSwiftSettings),
        .executableTarget(
            name: "holt-bench",
            dependencies: [
                "HoltEngine", "CRocksDB", "CLMDB", "CSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: holtSwiftSettings),

        // The four examples of the README, on HoltEngine's public API alone (no @testable).
        .executableTarget(name: "basic-kv", dependencies: ["HoltEngine"], path: "Sources/Examples/basic-kv", swiftSettings: exampleSwiftSettings),
        .executableTarget(name: "filesystem-meta", dependencies: ["HoltEngine"], path: "Sources/Examples/filesystem-meta", swiftSettings: exampleSwiftSettings),
        .executableTarget(name: "session-store", dependencies: ["HoltEngine"], path: "Sources/Examples/session-store", swiftSettings: exampleSwiftSettings),
        .executableTarget(name: "s3-metadata", dependencies: ["HoltEngine"], path: "Sources/Examples/s3-metadata", swiftSettings: exampleSwiftSettings),

        .testTarget(name: "HoltEngineTests", dependencies: ["HoltEngine"], swiftSettings: holtSwiftSettings),
        .testTarget(name: "HoltFSTests", dependencies: ["HoltFS", "HoltEngine"], swiftSettings: holtSwiftSettings),
        // The command's own logic that needs no mount (option parsing), through @testable import.
        .testTarget(name: "holtfsTests", dependencies: ["holtfs"], swiftSettings: holtSwiftSettings),
    ]
)
