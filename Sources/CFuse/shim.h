// The one place FUSE_USE_VERSION is set: libfuse3's low-level API at 3.12.
// Also the Linux constants the Glibc overlay does not show (xattr flags, renameat2 flags, statvfs),
// and tiny static inline wrappers where libfuse spells a function as a macro.
#ifndef HOLT_CFUSE_SHIM_H
#define HOLT_CFUSE_SHIM_H
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/xattr.h>
#include <sys/statvfs.h>
#include <linux/fs.h>

/// fuse_session_loop_mt is a macro over a versioned symbol in some builds: call it from C.
static inline int cfuse_session_loop_mt(struct fuse_session *se, struct fuse_loop_config *config) {
    return fuse_session_loop_mt(se, config);
}

/// renameat2's flags as plain integers.
static const unsigned int cfuse_rename_noreplace = RENAME_NOREPLACE;
static const unsigned int cfuse_rename_exchange = RENAME_EXCHANGE;
/// setxattr's flags.
static const int cfuse_xattr_create = XATTR_CREATE;
static const int cfuse_xattr_replace = XATTR_REPLACE;
/// Detaches the mount at `path` (umount2 with MNT_DETACH); <sys/mount.h> clashes with <linux/fs.h>.
extern int umount2(const char *target, int flags);
static inline int cfuse_umount_lazy(const char *path) { return umount2(path, 2 /* MNT_DETACH */); }
#endif
