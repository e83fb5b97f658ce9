//! Rust and C agree on ABI v1: every size, alignment and field offset of
//! every struct, the hook pointer sizes, and every constant.
//!
//! `build.rs` compiles `tests/layout_probe.c` against
//! `include/variantd_plugin.h` with the system C compiler and links it into
//! this test; the probe reports what the C compiler sees as a table of
//! `(name, value)` entries, which is compared with `size_of`, `align_of` and
//! `offset_of!` here. Every probe entry must be checked and vice versa.

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::mem::{align_of, offset_of, size_of};

use variantd_plugin_api::abi::*;

#[repr(C)]
struct ProbeEntry {
    name: *const c_char,
    value: u64,
}

extern "C" {
    fn vd_probe_entries(len: *mut usize) -> *const ProbeEntry;
    fn vd_probe_entry_symbol() -> *const c_char;
    static vd_probe_descriptor: PluginDescriptor;
}

fn c_values() -> BTreeMap<String, u64> {
    let mut len = 0usize;
    let entries = unsafe { std::slice::from_raw_parts(vd_probe_entries(&mut len), len) };
    let mut map = BTreeMap::new();
    for e in entries {
        let name = unsafe { CStr::from_ptr(e.name) }
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            map.insert(name.clone(), e.value).is_none(),
            "duplicate probe entry {name}"
        );
    }
    map
}

/// `(C name, Rust value)` for everything the probe reports.
fn rust_values() -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = Vec::new();
    macro_rules! ty {
        ($c:literal, $t:ty) => {
            v.push((concat!("sizeof ", $c).into(), size_of::<$t>() as u64));
            v.push((concat!("alignof ", $c).into(), align_of::<$t>() as u64));
        };
    }
    macro_rules! field {
        ($c:literal, $t:ty, $f:ident, $ft:ty) => {
            v.push((
                concat!("offsetof ", $c, ".", stringify!($f)).into(),
                offset_of!($t, $f) as u64,
            ));
            v.push((
                concat!("sizeof ", $c, ".", stringify!($f)).into(),
                size_of::<$ft>() as u64,
            ));
        };
    }
    macro_rules! constant {
        ($c:literal, $e:expr) => {
            v.push((concat!("const ", $c).into(), $e as i64 as u64));
        };
    }

    ty!("vd_bytes", Bytes);
    field!("vd_bytes", Bytes, ptr, *const u8);
    field!("vd_bytes", Bytes, len, usize);

    ty!("vd_header", Header);
    field!("vd_header", Header, name, Bytes);
    field!("vd_header", Header, value, Bytes);

    ty!("vd_request", Request);
    field!("vd_request", Request, method, Bytes);
    field!("vd_request", Request, path, Bytes);
    field!("vd_request", Request, query, Bytes);
    field!("vd_request", Request, headers, *const Header);
    field!("vd_request", Request, headers_len, usize);
    field!("vd_request", Request, body, Bytes);
    field!("vd_request", Request, user_key, Bytes);
    field!("vd_request", Request, variant, Bytes);
    field!("vd_request", Request, decided_by, Bytes);
    field!("vd_request", Request, rule_id, Bytes);

    ty!("vd_host_api", HostApi);
    field!("vd_host_api", HostApi, size, u32);
    field!(
        "vd_host_api",
        HostApi,
        log,
        unsafe extern "C" fn(HostContextHostPtr, LogLevel, Bytes)
    );
    field!(
        "vd_host_api",
        HostApi,
        response_set_status,
        unsafe extern "C" fn(ResponseBuilderHostPtr, u16)
    );
    field!(
        "vd_host_api",
        HostApi,
        response_add_header,
        unsafe extern "C" fn(ResponseBuilderHostPtr, Bytes, Bytes)
    );
    field!(
        "vd_host_api",
        HostApi,
        response_append_body,
        unsafe extern "C" fn(ResponseBuilderHostPtr, Bytes)
    );

    ty!("vd_plugin_descriptor", PluginDescriptor);
    field!(
        "vd_plugin_descriptor",
        PluginDescriptor,
        abi_version_major,
        u32
    );
    field!(
        "vd_plugin_descriptor",
        PluginDescriptor,
        abi_version_minor,
        u32
    );
    field!(
        "vd_plugin_descriptor",
        PluginDescriptor,
        descriptor_size,
        u32
    );
    field!("vd_plugin_descriptor", PluginDescriptor, reserved, u32);
    field!("vd_plugin_descriptor", PluginDescriptor, name, Bytes);
    field!("vd_plugin_descriptor", PluginDescriptor, version, Bytes);
    field!(
        "vd_plugin_descriptor",
        PluginDescriptor,
        init,
        Option<InitFn>
    );
    field!(
        "vd_plugin_descriptor",
        PluginDescriptor,
        handle,
        Option<HandleFn>
    );
    field!(
        "vd_plugin_descriptor",
        PluginDescriptor,
        shutdown,
        Option<ShutdownFn>
    );

    ty!("vd_status", Status);
    ty!("vd_log_level", LogLevel);
    ty!("vd_instance_plugin_ptr", InstancePluginPtr);
    ty!("vd_host_context_host_ptr", HostContextHostPtr);
    ty!("vd_response_builder_host_ptr", ResponseBuilderHostPtr);
    ty!("vd_init_fn", Option<InitFn>);
    ty!("vd_handle_fn", Option<HandleFn>);
    ty!("vd_shutdown_fn", Option<ShutdownFn>);
    ty!("vd_entry_fn", Option<EntryFn>);

    constant!("VD_ABI_VERSION_MAJOR", ABI_VERSION_MAJOR);
    constant!("VD_ABI_VERSION_MINOR", ABI_VERSION_MINOR);
    constant!("VD_OK", VD_OK);
    constant!("VD_ERR_INVALID_CONFIG", VD_ERR_INVALID_CONFIG);
    constant!("VD_ERR_INTERNAL", VD_ERR_INTERNAL);
    constant!("VD_ERR_PANIC", VD_ERR_PANIC);
    constant!("VD_ERR_UNAVAILABLE", VD_ERR_UNAVAILABLE);
    constant!("VD_LOG_ERROR", VD_LOG_ERROR);
    constant!("VD_LOG_WARN", VD_LOG_WARN);
    constant!("VD_LOG_INFO", VD_LOG_INFO);
    constant!("VD_LOG_DEBUG", VD_LOG_DEBUG);
    constant!("VD_LOG_TRACE", VD_LOG_TRACE);
    v
}

#[test]
fn c_and_rust_layouts_and_constants_agree() {
    let c = c_values();
    let rust = rust_values();
    let mut mismatches = Vec::new();
    for (name, value) in &rust {
        match c.get(name) {
            Some(cv) if cv == value => {}
            Some(cv) => mismatches.push(format!("{name}: C {cv}, Rust {value}")),
            None => mismatches.push(format!("{name}: not reported by the C probe")),
        }
    }
    for name in c.keys() {
        if !rust.iter().any(|(n, _)| n == name) {
            mismatches.push(format!(
                "{name}: reported by the C probe but not checked in Rust"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "C/Rust ABI mismatches:\n{}",
        mismatches.join("\n")
    );
    // 5 structs, 28 fields (2 + 2 + 10 + 5 + 9), 9 scalar types, 12 constants
    assert_eq!(
        rust.len(),
        5 * 2 + 28 * 2 + 9 * 2 + 12,
        "every probe entry counted"
    );
}

#[test]
fn entry_symbol_agrees() {
    let c = unsafe { CStr::from_ptr(vd_probe_entry_symbol()) };
    assert_eq!(c.to_str().unwrap(), ENTRY_SYMBOL);
    assert_eq!(c.to_bytes_with_nul(), ENTRY_SYMBOL_NUL);
}

/// A descriptor initialised in C reads back correctly in Rust, and its C hooks
/// can be called through the Rust function-pointer types.
#[test]
fn c_descriptor_reads_back_in_rust() {
    let d: &PluginDescriptor = unsafe { &vd_probe_descriptor };
    assert_eq!(d.abi_version_major, ABI_VERSION_MAJOR);
    assert_eq!(d.abi_version_minor, ABI_VERSION_MINOR);
    assert_eq!(d.descriptor_size as usize, size_of::<PluginDescriptor>());
    assert_eq!(d.reserved, 0);
    assert_eq!(unsafe { d.name.as_slice() }, b"probe");
    assert_eq!(unsafe { d.version.as_slice() }, b"0.0.0");
    let mut instance: InstancePluginPtr = std::ptr::null_mut();
    let status = unsafe {
        (d.init.unwrap())(
            std::ptr::null(),
            std::ptr::null(),
            Bytes::EMPTY,
            &mut instance,
        )
    };
    assert_eq!(status, VD_OK);
    unsafe { (d.shutdown.unwrap())(instance) };
    assert!(d.handle.is_some());
}

/// The header's version line and this crate agree (what the README tells
/// plugin authors to check).
#[test]
fn header_text_mentions_the_constants() {
    let h = variantd_plugin_api::C_HEADER;
    assert!(h.contains(&format!(
        "#define VD_ABI_VERSION_MAJOR {}u",
        ABI_VERSION_MAJOR
    )));
    assert!(h.contains(&format!(
        "#define VD_ABI_VERSION_MINOR {}u",
        ABI_VERSION_MINOR
    )));
    assert!(h.contains(&format!("#define VD_ENTRY_SYMBOL \"{}\"", ENTRY_SYMBOL)));
    assert!(h.contains(&format!("{}(void);", ENTRY_SYMBOL)));
}
