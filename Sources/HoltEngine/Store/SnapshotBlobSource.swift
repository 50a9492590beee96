/// The blobs as a snapshot of one epoch sees them (`BlobShadows`): each blob resolved to the
/// image kept for the epoch, or to the live cached blob when it has not changed since.
///
/// Read-only: an `ARTIndex` over it answers `get`, `scan`, `visit` and `hasKeys` as of the
/// snapshot, with the tree's own walks. A live blob is read holding its latch shared, and the
/// shadows are asked again under the latch: a writer keeps the image before it takes the latch
/// exclusively to change the bytes, so a blob found without an image under the shared latch is
/// the one the snapshot saw, until the latch is let go. No lock coupling is needed: an epoch's
/// images stay while its snapshot is open, so a blob id resolves to the same bytes all along.
///
/// Locking: the class holds only immutable fields; the store and its shadows (`BlobShadows`)
/// are thread-safe themselves, so any number of threads may read through one source.
final class SnapshotBlobSource: BlobSource {
    /// Where live blobs come from.
    let store: BufferManager
    /// The epoch the snapshot reads (`BlobShadows.begin`).
    let epoch: UInt64

    init(store: BufferManager, epoch: UInt64) {
        self.store = store
        self.epoch = epoch
    }

    /// A held image (no latch, no pin: `owner`, retained until `release`, keeps the bytes alive).
    private func held(_ id: BlobID, _ image: AlignedBuffer) -> HeldBlob {
        HeldBlob(id: id, bytes: UnsafeRawPointer(image.pointer), shard: -1, frame: -1, latch: nil, version: nil,
                 owner: .passRetained(image))
    }

    func holdShared(_ id: BlobID) throws(HoltError) -> HeldBlob {
        if store.shadows.isClosed { throw .closed }
        let live: HeldBlob
        do throws(HoltError) {
            live = try store.holdShared(id)
        } catch {
            // Freed since the snapshot began: its image was kept before the free.
            if let image = try store.shadows.image(of: id, at: epoch) { return held(id, image) }
            throw error
        }
        let image: AlignedBuffer?
        do throws(HoltError) { image = try store.shadows.image(of: id, at: epoch) } catch {
            store.release(live)
            throw error
        }
        if let image {
            store.release(live)
            return held(id, image)
        }
        return live
    }

    func holdOptimistic(_ id: BlobID) throws(HoltError) -> HeldBlob? {
        try holdShared(id)
    }

    func isUnchanged(_ blob: HeldBlob) -> Bool { true }

    func release(_ blob: HeldBlob) {
        if let owner = blob.owner { owner.release() } else { store.release(blob) }
    }

    func read<R>(_ id: BlobID, _ body: (UnsafeRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        let blob = try holdShared(id)
        defer { release(blob) }
        return try body(blob.bytes)
    }

    func contains(_ id: BlobID) -> Bool {
        store.shadows.hasImage(of: id, at: epoch) || store.contains(id)
    }

    func write<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        preconditionFailure("a snapshot is read-only")
    }

    func writeAside<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        preconditionFailure("a snapshot is read-only")
    }

    func allocate() throws(HoltError) -> BlobID {
        preconditionFailure("a snapshot is read-only")
    }

    func free(_ id: BlobID) throws(HoltError) {
        preconditionFailure("a snapshot is read-only")
    }
}
