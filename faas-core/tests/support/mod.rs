//! What the execution-environment tests (`local_warm`, `local_limits`) share: a provider
//! over a temporary state directory that deploys one Python handler.

#![allow(clippy::unwrap_used, dead_code)]

use faas_core::local::{LocalBuilder, LocalProvider};
use faas_core::{DeployOptions, FunctionSpec, Invocation, InvokeRequest, Provider, ProviderExt};
use faas_package::PackageBuilder;

/// A provider and the directory holding its state and the packages.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub provider: LocalProvider,
    /// The handler's source (`app.py`).
    handler: &'static str,
}

impl Env {
    pub fn new(handler: &'static str) -> Env {
        Env::with(handler, |b| b)
    }

    pub fn with(handler: &'static str, f: impl FnOnce(LocalBuilder) -> LocalBuilder) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let provider = f(LocalProvider::builder().state_dir(dir.path().join("state")))
            .build()
            .unwrap();
        Env { dir, provider, handler }
    }

    /// Deploys `spec` with the handler as `app.py` (`app.handler`).
    pub async fn deploy(&self, spec: &FunctionSpec) {
        let src = self.dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("app.py"), self.handler).unwrap();
        let pkg = PackageBuilder::new(&src)
            .output(self.dir.path().join(format!("{}.zip", spec.name)))
            .build()
            .unwrap();
        self.provider
            .deploy_package(spec, &pkg, &DeployOptions::default())
            .await
            .unwrap();
    }

    pub async fn call(&self, name: &str, event: serde_json::Value) -> Invocation {
        self.provider.invoke(name, &InvokeRequest::json(&event)).await.unwrap()
    }
}

/// A Python 3.12 function running `app.handler`.
pub fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "app.handler").timeout_s(5)
}
