//! One loaded plugin library (one version of one .so), shared by the
//! instances made from it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use libloading::os::unix::Library;
use variantd_plugin_api::abi;

use super::private_copy::PrivateCopy;
use super::retention::{OpenLibrary, Retention};

/// A validated plugin descriptor: a pointer into a loaded library's mapping.
/// It is not `'static`: it is only handed out by [`PluginLibrary::descriptor`],
/// borrowed from the `PluginLibrary` that keeps that library mapped.
pub(super) struct Descriptor(std::ptr::NonNull<abi::PluginDescriptor>);

impl Descriptor {
    /// # Safety
    ///
    /// `ptr` points at a descriptor the loader has checked (ABI major, size,
    /// hooks) inside the mapping of the `Library` it is stored beside, and the
    /// descriptor is only read while that library stays open.
    pub(super) unsafe fn new(ptr: std::ptr::NonNull<abi::PluginDescriptor>) -> Self {
        Descriptor(ptr)
    }
}

// SAFETY: the descriptor is immutable static data of the plugin (the ABI
// forbids writing it), so reading it from any thread is sound.
unsafe impl Send for Descriptor {}
// SAFETY: as for `Send`: shared reads of immutable data.
unsafe impl Sync for Descriptor {}

pub struct PluginLibrary {
    /// `None` only while dropping.
    library: Mutex<Option<Library>>,
    /// Lives inside `library`'s mapping; read only through `descriptor()`.
    descriptor: Descriptor,
    pub name: String,
    pub version: String,
    /// Where the operator put it.
    pub file: PathBuf,
    /// The private copy that is actually mapped. Handed to retention on drop,
    /// which keeps it while the dynamic loader still maps it.
    copy: Arc<PrivateCopy>,
    pub sha256: String,
    pub loaded_at: SystemTime,
    /// Requests inside `handle` right now, over all instances. Shared with
    /// the retention registry so admin can show a draining old version's count
    /// without holding (and so possibly being the last owner of) the library.
    pub(super) in_flight: Arc<AtomicUsize>,
    retention: Arc<Retention>,
}

impl PluginLibrary {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        library: Library,
        descriptor: Descriptor,
        name: String,
        version: String,
        file: PathBuf,
        copy: PrivateCopy,
        sha256: String,
        loaded_at: SystemTime,
        retention: Arc<Retention>,
    ) -> PluginLibrary {
        let in_flight = Arc::new(AtomicUsize::new(0));
        retention.library_opened(OpenLibrary {
            plugin: name.clone(),
            version: version.clone(),
            sha256: sha256.clone(),
            private_path: copy.path().to_path_buf(),
            loaded_at,
            in_flight: in_flight.clone(),
        });
        PluginLibrary {
            library: Mutex::new(Some(library)),
            descriptor,
            name,
            version,
            file,
            copy: Arc::new(copy),
            sha256,
            loaded_at,
            in_flight,
            retention,
        }
    }

    /// The descriptor, valid for as long as `self` is.
    pub(super) fn descriptor(&self) -> &abi::PluginDescriptor {
        // SAFETY: `self.library` keeps the mapping open until `self` drops,
        // so the reference cannot outlive it (see `Descriptor::new`).
        unsafe { self.descriptor.0.as_ref() }
    }

    pub(super) fn retention(&self) -> Arc<Retention> {
        self.retention.clone()
    }

    /// The path the dynamic loader knows this version by.
    pub fn private_path(&self) -> &Path {
        self.copy.path()
    }

    /// The ABI version the plugin was built against, `(major, minor)`, as
    /// its descriptor declares it (for operators: `variantd plugin check`).
    pub fn abi_version(&self) -> (u32, u32) {
        (
            self.descriptor().abi_version_major,
            self.descriptor().abi_version_minor,
        )
    }

    /// The size of the plugin's descriptor, as it declares it.
    pub fn descriptor_size(&self) -> u32 {
        self.descriptor().descriptor_size
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl Drop for PluginLibrary {
    fn drop(&mut self) {
        // Every instance made from this library has run `shutdown` (each holds
        // an Arc to us until then), so no code of it is running or referenced.
        let library = self.library.lock().map(|mut l| l.take()).unwrap_or(None);
        if let Some(library) = library {
            if let Err(e) = library.close() {
                tracing::warn!(plugin = %self.name, error = %e, "dlclose failed");
            }
        }
        self.retention
            .library_closed(&self.name, &self.version, self.copy.clone());
    }
}
