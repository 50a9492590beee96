import HoltEngine

print("holt-bench: benchmarks are not built yet")
