/// HoltFS: a holt database shown as a POSIX directory tree through libfuse3's low-level API.
///
/// Concepts, in the order the code builds on them:
/// - *Path = key*: the node at `a/b/c` under the mount is the engine key `a/b/c`; the root is the
///   empty key. Its value is an `InodeRecord` (kind, mode, owner, times, ino, xattrs, small data).
///   A key whose value is not a record shows as a regular file with that content; a prefix with
///   keys below it but no value of its own shows as a directory.
/// - *Reserved keyspace*: keys starting with `/` (superblock, hard-linked inodes, data chunks, big
///   xattrs, orphans, garbage), unreachable from any path; see `ReservedKeys`.
/// - *One batch per change*: every operation that changes state is one `Tree.apply` batch, guarded
///   by expectations on what it read, retried when a concurrent change got there first.
/// - *Node id*: the number the kernel uses for a node it looked up (FUSE's "inode number"); the
///   `NodeTable` maps it to (parent, name) and counts the kernel's *lookups*; `forget` drops them.
///   The *ino* is the persistent inode number `stat` shows, stored in the record.
/// - *Entry and attribute timeouts*: how long the kernel trusts a name and its attributes without
///   asking again; holtfs is the only writer of a mounted database, so they are long.
///
/// Known limits: reads do not update atime (like `noatime`); `fsync` flushes the log (a no-op
/// cost under `--sync always`, where every change was durable when it was answered);
/// `seekdir` to a cookie older than the last two readdir replies of a handle answers EINVAL;
/// `st_blocks` counts holes as data; a directory without a record shows mode 0755 and the root
/// directory's owner until something changes in it.
///
/// The public surface is `HoltMount` (with `MountOptions`), `FSError`, `FSCheck`, `FSDump`, and the
/// dump format's `FSExporter` and `FSImporter` (with `FSDumpError`).
public enum HoltFS {
    /// The version of the filesystem layer.
    public static let version = "0.1.0"
}
