import HoltEngine

/// A consistency check of the filesystem kept in a tree: inode records, link counts and the
/// reserved keyspace. Used by `holtfs check`.
public enum FSCheck {
    /// Walks every key of `tree` and returns what is wrong, one line each; empty when clean.
    ///
    /// Checks: every record decodes; every link record points at an `/i/<ino>` record whose nlink
    /// equals the number of names pointing at it; no two inodes share an ino; a directory record's
    /// nlink is 2 + its child directories (records or prefixes without a value); every data chunk
    /// belongs to a chunked file (a record, `/i/` or `/o/`) and the chunk a file's end falls
    /// inside holds nothing past it (chunks wholly past the end are stale, allowed: see
    /// `StaleChunks`); every big xattr part belongs to a live inode; the superblock's next ino is
    /// above every ino in use, and its longest-key bound (when it has one) is no shorter than any
    /// path key; no temporary key is left (garbage waits for the next sweep).
    public static func check(tree: Tree) -> [String] {
        var checker = Checker(tree: tree)
        checker.run()
        return checker.problems
    }

    /// `check(tree:)` of the state `snapshot` holds: the engine's structural check of it
    /// (`Snapshot.verify()`, without the store's checksums and bookkeeping, which only an
    /// offline check reads) and the same walk over its keys. Used by `holtfs check MNT`, which
    /// checks a mounted database while it goes on serving.
    public static func check(snapshot: Snapshot) -> [String] {
        var checker = Checker(tree: snapshot)
        checker.run()
        return checker.problems
    }
}
