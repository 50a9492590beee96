import HoltFS

print("holtfs \(HoltFS.version): the mount is not built yet")
