//! Live mode: serve the local specs file first, then sync with Statsig.
//!
//! A composite `SpecsAdapter`: on start it pushes the local file (if any) through
//! a bootstrap adapter, then asks Statsig over HTTP. If Statsig fails but the
//! file loaded, start still succeeds (statsig-rust would otherwise mark its
//! store "NoValues" although the file's values are in it) and the error is kept
//! for the engine's status. Background sync and shutdown are the HTTP adapter's.

use async_trait::async_trait;
use statsig_rust::{
    SpecsAdapter, SpecsUpdateListener, StatsigBootstrapSpecsAdapter, StatsigErr,
    StatsigHttpSpecsAdapter, StatsigRuntime,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) struct FileThenNetworkSpecsAdapter {
    file: Arc<StatsigBootstrapSpecsAdapter>,
    file_present: bool,
    network: Arc<StatsigHttpSpecsAdapter>,
    network_error: Mutex<Option<String>>,
}

impl FileThenNetworkSpecsAdapter {
    pub(crate) fn new(
        file: Arc<StatsigBootstrapSpecsAdapter>,
        file_present: bool,
        network: Arc<StatsigHttpSpecsAdapter>,
    ) -> Self {
        Self {
            file,
            file_present,
            network,
            network_error: Mutex::new(None),
        }
    }

    /// The error of the initial download from Statsig, if it failed.
    pub(crate) fn network_error(&self) -> Option<String> {
        self.network_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl SpecsAdapter for FileThenNetworkSpecsAdapter {
    fn initialize(&self, listener: Arc<dyn SpecsUpdateListener>) {
        self.file.initialize(listener.clone());
        self.network.initialize(listener);
    }

    async fn start(self: Arc<Self>, rt: &Arc<StatsigRuntime>) -> Result<(), StatsigErr> {
        let file_loaded = self.file_present && self.file.clone().start(rt).await.is_ok();
        match self.network.clone().start(rt).await {
            Ok(()) => Ok(()),
            Err(e) => {
                *self.network_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                if file_loaded {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn shutdown(
        &self,
        timeout: Duration,
        rt: &Arc<StatsigRuntime>,
    ) -> Result<(), StatsigErr> {
        self.network.shutdown(timeout, rt).await
    }

    async fn schedule_background_sync(
        self: Arc<Self>,
        rt: &Arc<StatsigRuntime>,
    ) -> Result<(), StatsigErr> {
        self.network.clone().schedule_background_sync(rt).await
    }

    fn get_type_name(&self) -> String {
        "VariantdFileThenNetworkSpecsAdapter".to_string()
    }
}
