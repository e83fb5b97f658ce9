//! Turns a file into a validated plugin library, or a typed refusal.
//!
//! Each load maps a private, sealed copy of the file ([`PrivateCopy`]), never
//! the operator's file itself. The copy is loaded with `RTLD_NOW` so a missing
//! symbol is a refusal here rather than a crash at the first request.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use sha2::{Digest, Sha256};
use variantd_plugin_api::abi;

use super::library::{Descriptor, PluginLibrary};
use super::private_copy::PrivateCopy;
use super::retention::Retention;

/// Why a file was not accepted as a plugin. Each has its own log line and
/// admin status; none stops the daemon.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("cannot read file: {0}")]
    Read(String),
    /// The file, its directory or its link is not safe to load (see `trust`).
    #[error("{0}")]
    Untrusted(#[from] super::trust::TrustError),
    #[error("not a shared library (no ELF header)")]
    NotSharedLibrary,
    /// Checked before `dlopen`: glibc maps a file truncated inside a loadable
    /// segment and the process then dies of SIGBUS when it touches the
    /// missing pages, so such a file must never reach the dynamic loader.
    #[error("truncated or malformed ELF file: {0}")]
    Malformed(String),
    #[error("dlopen failed: {0}")]
    Dlopen(String),
    #[error("missing entry symbol `{}`", abi::ENTRY_SYMBOL)]
    MissingEntrySymbol,
    #[error("entry symbol returned no descriptor")]
    NullDescriptor,
    #[error("ABI major version {found}, this daemon speaks {expected}")]
    AbiMajorMismatch { found: u32, expected: u32 },
    #[error("descriptor is {found} bytes, ABI v1 needs at least {needed}")]
    DescriptorTooSmall { found: u32, needed: u32 },
    #[error("descriptor lacks the `{0}` hook")]
    MissingHook(&'static str),
    #[error("declared name is not one or more of A-Z a-z 0-9 `_` `-`")]
    BadName,
    #[error("init failed for variant `{variant}` with code {code} ({})", code_name(*code))]
    InitFailed { variant: String, code: i32 },
    #[error("plugin name `{name}` is already served by {other}")]
    DuplicateName { name: String, other: String },
    #[error("{retained} old library copies are still mapped (limit {limit}); refusing new versions until they are released")]
    RetainedLimit { retained: usize, limit: usize },
}

/// Human name of a plugin status code.
pub fn code_name(code: i32) -> &'static str {
    match code {
        abi::VD_OK => "ok",
        abi::VD_ERR_INVALID_CONFIG => "invalid config",
        abi::VD_ERR_INTERNAL => "internal error",
        abi::VD_ERR_PANIC => "panic",
        abi::VD_ERR_UNAVAILABLE => "unavailable",
        _ => "unknown error",
    }
}

/// The smallest descriptor we accept: v1.0 ends after `shutdown`.
pub const MIN_DESCRIPTOR_SIZE: u32 = std::mem::size_of::<abi::PluginDescriptor>() as u32;

/// Loads plugin files, each from a private copy of its own.
pub struct Loader {
    retention: Arc<Retention>,
}

impl Loader {
    pub fn new(retention: Arc<Retention>) -> Loader {
        Loader { retention }
    }

    pub fn retention(&self) -> &Arc<Retention> {
        &self.retention
    }

    /// Load and validate `file`. Does not run `init`: that is per variant,
    /// see [`super::PluginInstance::init`].
    pub fn load(&self, file: &Path) -> Result<Arc<PluginLibrary>, LoadError> {
        let bytes = std::fs::read(file).map_err(|e| LoadError::Read(e.to_string()))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        self.load_bytes(file, &bytes, sha256)
    }

    /// Load `bytes`, already read from `file` and hashed (as the plugin
    /// directory's scan does, once per changed file, after its trust checks).
    pub fn load_bytes(
        &self,
        file: &Path,
        bytes: &[u8],
        sha256: String,
    ) -> Result<Arc<PluginLibrary>, LoadError> {
        if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
            return Err(LoadError::NotSharedLibrary);
        }
        check_elf_extents(bytes).map_err(LoadError::Malformed)?;
        if let Some(limit) = self.retention.over_limit() {
            return Err(limit);
        }
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = PrivateCopy::new(&file_name, bytes)
            .map_err(|e| LoadError::Read(format!("private copy: {e}")))?;
        let (library, descriptor, name, version) = match open_and_validate(copy.path()) {
            Ok(opened) => opened,
            Err(e) => {
                self.retention.refused_copy(&file_name, copy);
                return Err(e);
            }
        };
        Ok(Arc::new(PluginLibrary::new(
            library,
            descriptor,
            name,
            version,
            file.to_path_buf(),
            copy,
            sha256,
            SystemTime::now(),
            self.retention.clone(),
        )))
    }
}

fn open_and_validate(path: &Path) -> Result<(Library, Descriptor, String, String), LoadError> {
    // SAFETY: loading runs the library's initialisers; that is the trust we
    // place in files an operator put in the plugin directory.
    let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| LoadError::Dlopen(error_chain(&e)))?;
    // SAFETY: the symbol's type is fixed by the ABI; we only call it once here.
    let entry: abi::EntryFn = unsafe {
        match library.get::<abi::EntryFn>(abi::ENTRY_SYMBOL_NUL) {
            Ok(sym) => *sym,
            Err(_) => return Err(LoadError::MissingEntrySymbol),
        }
    };
    // SAFETY: the ABI says the descriptor is static for the library's lifetime;
    // we keep `library` alive as long as any reference to it.
    let descriptor = unsafe { entry() };
    if descriptor.is_null() {
        return Err(LoadError::NullDescriptor);
    }
    // Read the three leading u32s before trusting the rest of the layout.
    // SAFETY: every ABI version starts with these fields.
    let (major, size) = unsafe {
        let head = descriptor as *const u32;
        (*head, *head.add(2))
    };
    if major != abi::ABI_VERSION_MAJOR {
        return Err(LoadError::AbiMajorMismatch {
            found: major,
            expected: abi::ABI_VERSION_MAJOR,
        });
    }
    if size < MIN_DESCRIPTOR_SIZE {
        return Err(LoadError::DescriptorTooSmall {
            found: size,
            needed: MIN_DESCRIPTOR_SIZE,
        });
    }
    let raw = descriptor;
    // SAFETY: major and size say the v1 layout is all there.
    let descriptor: &abi::PluginDescriptor = unsafe { &*descriptor };
    if descriptor.init.is_none() {
        return Err(LoadError::MissingHook("init"));
    }
    if descriptor.handle.is_none() {
        return Err(LoadError::MissingHook("handle"));
    }
    // SAFETY: static text per the ABI, mapped while `library` is alive; we
    // copy it before returning.
    let name = unsafe { descriptor.name.as_slice() };
    let name = std::str::from_utf8(name).map_err(|_| LoadError::BadName)?;
    if !variantd_plugin_api::is_valid_plugin_name(name) {
        return Err(LoadError::BadName);
    }
    // SAFETY: like `name`, static text in the descriptor, which stays mapped
    // while `library` (returned beside it) lives; we copy it out at once.
    let version = String::from_utf8_lossy(unsafe { descriptor.version.as_slice() }).into_owned();
    let name = name.to_string();
    // SAFETY: `raw` is non-null (checked above), validated here, and lies in
    // `library`'s mapping; the two are returned together and stored side by
    // side in `PluginLibrary`.
    let descriptor = unsafe { Descriptor::new(std::ptr::NonNull::from(&*raw)) };
    Ok((library, descriptor, name, version))
}

/// libloading's own message is just "dlopen failed"; dlerror's text (which
/// names the real problem) is its source.
fn error_chain(e: &libloading::Error) -> String {
    use std::error::Error;
    match e.source() {
        Some(source) => source.to_string(),
        None => e.to_string(),
    }
}

/// Check that `bytes` is a complete ELF shared object: the program header
/// table, every `PT_LOAD` segment's file range and the section header table
/// all lie inside the file. A deploy that copied only part of a library fails
/// here, before `dlopen` could map pages past the end of the file (which is
/// SIGBUS at first touch, not an error).
fn check_elf_extents(bytes: &[u8]) -> Result<(), String> {
    use object::elf::{FileHeader64, ET_DYN, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::Endianness;

    let len = bytes.len();
    let header = FileHeader64::<Endianness>::parse(bytes)
        .map_err(|e| format!("not a 64-bit ELF file ({len} bytes): {e}"))?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    if header.e_type(endian) != ET_DYN {
        return Err("not a shared object (ELF type is not ET_DYN)".into());
    }
    let segments = header
        .program_headers(endian, bytes)
        .map_err(|e| format!("program headers end past the end of the file ({len} bytes); the file is truncated: {e}"))?;
    if segments.is_empty() {
        return Err("no program headers".into());
    }
    for (i, segment) in segments.iter().enumerate() {
        if segment.p_type(endian) == PT_LOAD && segment.data(endian, bytes).is_err() {
            return Err(format!("loadable segment {i} ends past the end of the file ({len} bytes); the file is truncated"));
        }
    }
    header
        .section_headers(endian, bytes)
        .map_err(|e| format!("section headers end past the end of the file ({len} bytes); the file is truncated: {e}"))?;
    Ok(())
}
