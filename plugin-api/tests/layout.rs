//! Rust and C agree on ABI v1: every size, alignment and field offset of
//! every struct, the hook pointer sizes, and every constant.
//!
//! This test compiles `tests/layout_probe.c` against
//! `include/variantd_plugin.h` with the system C compiler (`$CC`, else `cc`)
//! into a shared object under the test's temp dir and loads it. The crate has
//! no build script on purpose: building it (and so any Rust plugin) needs no
//! C compiler; only these tests do. The probe reports what the C compiler
//! sees as a table of `(name, value)` entries, which is compared with
//! `size_of`, `align_of` and `offset_of!` here. Every probe entry must be
//! checked and vice versa.

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use variantd_plugin_api::abi::*;

#[repr(C)]
struct ProbeEntry {
    name: *const c_char,
    value: u64,
}

/// The probe, compiled once per test binary with the flags the README gives
/// C plugin authors plus strict warnings (C11 for `<stdalign.h>`; the header
/// itself is C99), and kept loaded for the whole run.
fn probe() -> &'static libloading::Library {
    static PROBE: OnceLock<libloading::Library> = OnceLock::new();
    PROBE.get_or_init(|| {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layout_probe.so");
        let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
        let output = Command::new(&cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
            .args(["-shared", "-fPIC", "-O0", "-I"])
            .arg(crate_dir.join("include"))
            .arg("-o")
            .arg(&out)
            .arg(crate_dir.join("tests/layout_probe.c"))
            .output()
            .unwrap_or_else(|e| panic!("the layout test needs a C compiler ({cc:?}; set CC): {e}"));
        assert!(
            output.status.success(),
            "compiling tests/layout_probe.c failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // SAFETY: our own probe; its only initialisers are static data.
        unsafe { libloading::Library::new(&out) }.expect("load the layout probe")
    })
}

/// A function or data symbol of the probe.
fn sym<T: Copy>(name: &[u8]) -> T {
    // SAFETY: the callers name the C types of tests/layout_probe.c.
    unsafe { *probe().get::<T>(name).expect("probe symbol") }
}

unsafe fn vd_probe_entries(len: *mut usize) -> *const ProbeEntry {
    sym::<unsafe extern "C" fn(*mut usize) -> *const ProbeEntry>(b"vd_probe_entries\0")(len)
}

unsafe fn vd_probe_entry_symbol() -> *const c_char {
    sym::<unsafe extern "C" fn() -> *const c_char>(b"vd_probe_entry_symbol\0")()
}

/// The address of the probe's static `vd_probe_descriptor` (a data symbol:
/// the symbol's value is the address of the descriptor).
fn vd_probe_descriptor() -> &'static PluginDescriptor {
    // SAFETY: static data of the probe, loaded for the whole run.
    unsafe { &*sym::<*const PluginDescriptor>(b"vd_probe_descriptor\0") }
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
    field!(
        "vd_host_api",
        HostApi,
        request_route_params,
        Option<RequestRouteParamsFn>
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
    // 5 structs, 29 fields (2 + 2 + 10 + 6 + 9), 9 scalar types, 12 constants
    assert_eq!(
        rust.len(),
        5 * 2 + 29 * 2 + 9 * 2 + 12,
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
    let d: &PluginDescriptor = vd_probe_descriptor();
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
/// A 1.0 host's table ends where `request_route_params` begins; the header's
/// `VD_HOST_API_HAS` and the SDK both rely on that.
#[test]
fn the_v1_0_host_table_ends_before_the_1_1_field() {
    assert_eq!(
        HOST_API_V1_0_SIZE as usize,
        size_of::<u32>().next_multiple_of(8) + 4 * 8
    );
    assert_eq!(
        offset_of!(HostApi, request_route_params) + size_of::<usize>(),
        size_of::<HostApi>()
    );
    let has = sym::<unsafe extern "C" fn(u32) -> i32>(b"vd_probe_has_route_params\0");
    assert_eq!(
        unsafe { has(HOST_API_V1_0_SIZE) },
        0,
        "a 1.0 table has no 1.1 field"
    );
    assert_eq!(unsafe { has(size_of::<HostApi>() as u32) }, 1);
}

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
