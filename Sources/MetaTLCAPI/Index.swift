import CMetaTL
import MetaTL

// The approximate index: the C face of MetaTLModel.attachIndex / detachIndex / indexInfo.

@_cdecl("mt_index_settings_default")
public func mt_index_settings_default() -> mt_index_settings {
    cIndexSettings(IndexSettings())
}

func cIndexSettings(_ s: IndexSettings) -> mt_index_settings {
    var c = mt_index_settings()
    c.struct_size = UInt32(MemoryLayout<mt_index_settings>.size)
    c.lists = UInt32(clamping: s.lists)
    c.probes = UInt32(clamping: s.probes)
    return c
}

/// The caller's `info` struct is checked before any work (an index build takes seconds), so
/// writing it cannot fail.
private func checkInfo(_ info: UnsafeMutablePointer<mt_index_info>?) throws {
    if let info { try checkSize(info.pointee.struct_size, of: mt_index_info.self, "info", "sizeof(mt_index_info) as") }
}

private func write(_ i: IndexInfo, to out: UnsafeMutablePointer<mt_index_info>?) {
    guard let out else { return }
    out.pointee.lists = UInt32(clamping: i.lists)
    out.pointee.probes = UInt32(clamping: i.settings.probes)
    out.pointee.items = i.items
    out.pointee.bytes = i.bytes
    out.pointee.build_seconds = i.buildSeconds
    out.pointee.imbalance = i.imbalance
}

@_cdecl("mt_model_attach_index")
public func mt_model_attach_index(_ p: OpaquePointer?, _ settings: UnsafePointer<mt_index_settings>?,
                                  _ info: UnsafeMutablePointer<mt_index_info>?) -> mt_status {
    guarded("mt_model_attach_index") {
        let m = try model(p)
        var c = mt_index_settings_default()
        if let settings {
            try checkSize(settings.pointee.struct_size, of: mt_index_settings.self, "settings", "mt_index_settings_default")
            c = settings.pointee
        }
        var s = IndexSettings()
        s.lists = Int(c.lists)
        s.probes = Int(c.probes)
        try checkInfo(info)
        write(try m.attachIndex(s), to: info)
    }
}

@_cdecl("mt_model_detach_index")
public func mt_model_detach_index(_ p: OpaquePointer?) -> mt_status {
    guarded("mt_model_detach_index") { try model(p).detachIndex() }
}

@_cdecl("mt_model_index_info")
public func mt_model_index_info(_ p: OpaquePointer?, _ attached: UnsafeMutablePointer<Int32>?,
                                _ info: UnsafeMutablePointer<mt_index_info>?) -> mt_status {
    guarded("mt_model_index_info") {
        let m = try model(p)
        guard let attached else { throw BoundaryError.argument("attached is NULL") }
        try checkInfo(info)
        let current = try m.indexInfo()
        attached.pointee = current == nil ? 0 : 1
        if let current { write(current, to: info) }
    }
}
