/// HoltFS: a holt database shown as a POSIX directory tree through libfuse3's low-level API.
///
/// Concepts: the file or directory at `a/b/c` under the mount is the engine key `a/b/c`; its
/// value is an inode record. A FUSE *node id* names a node the kernel knows; the node table maps
/// it to (parent, name, lookup count).
public enum HoltFS {
    /// The version of the filesystem layer.
    public static let version = "0.1.0"
}
