//! How the function apps are hosted and how code reaches them: the two choices that decide
//! the deploy path, slots, and which settings an app has.

/// The hosting plan of the function apps: it decides how code is deployed and whether there
/// are slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hosting {
    /// Elastic Premium (EP1–EP3): slots, run-from-package.
    #[default]
    Premium,
    /// A Dedicated (App Service) plan: slots, run-from-package.
    Dedicated,
    /// Flex Consumption: OneDeploy, per-app instance memory (512/2048/4096 MB), no slots.
    Flex,
}

/// How code reaches the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMethod {
    /// `WEBSITE_RUN_FROM_PACKAGE` = a read-only SAS URL of the package blob, then a trigger sync.
    RunFromPackage,
    /// Kudu `POST /api/zipdeploy?isAsync=true`, polling the deployment.
    ZipDeploy,
    /// Kudu `POST /api/publish` (OneDeploy), the only way on Flex Consumption.
    OneDeploy,
}
