//! Hosting plugins: load a file through the stable ABI, make per-variant
//! instances, call them, and retire old versions safely. Knows nothing of
//! routing or HTTP routes; [`call`] is the one piece that sees an HTTP
//! request, to answer it as a backend.

mod call;
mod host_api;
mod instance;
mod library;
mod loader;
mod private_copy;
mod retention;
mod trust;

pub(crate) use call::call;
pub use instance::{CallError, PluginInstance, PluginRequest, PluginResponse};
pub use library::PluginLibrary;
pub use loader::{code_name, LoadError, Loader};
pub use private_copy::PrivateCopy;
pub use retention::{OpenLibraryStatus, RetainedLibrary, Retention};
pub use trust::{TrustError, TrustedDir};
