extension Filesystem {
    /// The largest maximum file size a filesystem takes: 2^32 chunks of `chunkSize` bytes (128
    /// TiB). A chunk key holds 8 hex digits of the chunk index (`ReservedKeys.chunk`), as every
    /// existing database spells them, so no chunk may lie past index 2^32 - 1.
    static let largestMaxFileSize: UInt64 = (1 << 32) * UInt64(chunkSize)

    /// Checks a maximum file size given to `init`.
    ///
    /// - Throws: `.maxFileSizeTooLarge` past `largestMaxFileSize`.
    static func validate(maxFileSize: UInt64) throws(FSError) {
        guard maxFileSize <= largestMaxFileSize else { throw .maxFileSizeTooLarge(maxFileSize) }
    }
}
