/// Compaction: rewriting a blob's live nodes back to back to reclaim dead bytes.
///
/// Slots keep their numbers (only their offsets change), so no reference needs rewriting and
/// the cost is the blob's live bytes.
extension MutablePageView {
    /// Packs every live node against the end of the data area; dead bytes become free.
    func compact(_ counters: inout ARTCounters) throws(HoltError) {
        let v = view
        var live: [(slot: UInt16, offset: Int, size: Int)] = []
        var total = 0
        for s in 1..<max(v.slotCount, 1) where v.entry(s) >> 24 != 0 {
            let node = try v.node(UInt16(s))
            let size = try v.size(of: node)
            live.append((UInt16(s), node.offset, size))
            total += size
        }
        let end = v.dataEnd
        let low = end - total
        guard low >= v.slotTableEnd else { throw v.corrupted("live nodes exceed the data area") }
        var scratch = [UInt8](repeating: 0, count: total)
        var cursor = total
        var placed: [(slot: UInt16, offset: Int)] = []
        placed.reserveCapacity(live.count)
        scratch.withUnsafeMutableBytes { buffer in
            for node in live {
                cursor -= node.size
                buffer.baseAddress!.advanced(by: cursor).copyMemory(from: v.base + node.offset, byteCount: node.size)
                placed.append((node.slot, low + cursor))
            }
        }
        scratch.withUnsafeBytes { buffer in
            if total > 0 { (base + low).copyMemory(from: buffer.baseAddress!, byteCount: total) }
        }
        for (slot, offset) in placed {
            setEntry(slot, NodeType(rawValue: UInt8(v.entry(Int(slot)) >> 24))!, offset)
        }
        zero(v.slotTableEnd, low - v.slotTableEnd)
        setDataLow(low)
        setDeadBytes(0)
        counters.bytesCopied += total
        counters.compactions += 1
    }
}
