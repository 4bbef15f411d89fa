//! The bodies this crate sends to and reads from ARM, as typed structs: exactly the fields it
//! reads or writes, named as in azure-rest-api-specs,
//! `specification/web/resource-manager/Microsoft.Web/stable/2023-12-01/` (`CommonDefinitions.json`
//! and `WebApps.json`, the api-version the crate calls) and, for `listKeys`, the Microsoft.Storage
//! 2023-05-01 example `StorageAccountListKeys.json`. Each type names the spec definition it
//! follows. Every field is optional on the wire (ARM leaves out or nulls what it does not set),
//! so every field is an `Option` that is not sent when `None`. Fields the crate does not model
//! are ignored on read, except in the bodies a read-modify-write sends back — the `Site` that
//! `PUT sites/{name}` updates and the `RampUpRule`s of `config/web` — which keep them in `extra`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Declares ARM bodies, each field written `name: T` becoming `pub name: Option<T>`, as ARM's
/// fields are all optional: a field absent or `null` on read is `None`, and a `None` field is
/// not sent (`skip_serializing_if`). A body that ends in `..extra` also keeps the members it does
/// not model in `pub extra: Extra` (flattened), so that a read-modify-write sends them back as
/// they came. The structs are `pub(crate)` and derive `Clone`, `Default`, `PartialEq` and serde;
/// `Debug` only where asked (bodies with secrets have none).
macro_rules! arm_bodies {
    ($(
        $(#[$meta:meta])*
        $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* $(..$extra:ident)? }
    )*) => {$(
        #[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
        $(#[$meta])*
        pub(crate) struct $name {
            $(
                $(#[$field_meta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            $(
                /// The members not modelled here, as ARM sent them.
                #[serde(flatten)]
                pub $extra: Extra,
            )?
        }
    )*};
}

/// The members of an ARM object a body does not model, by name.
pub(crate) type Extra = serde_json::Map<String, serde_json::Value>;

arm_bodies! {
    /// `Site` (CommonDefinitions.json, `allOf` `Resource`): a function app or one of its slots, as
    /// `GET sites/{name}` returns it and `PUT sites/{name}` (`WebApps_CreateOrUpdate`) creates or
    /// updates it; an update sends back the site as read ([`Site::put_body`]).
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    Site {
        /// `Resource.id` (read-only).
        id: String,
        /// `Resource.name` (read-only): `app`, or `app/slot` for a slot.
        name: String,
        /// `Resource.location`.
        location: String,
        /// `Resource.kind` (`functionapp,linux`).
        kind: String,
        /// `Resource.tags`.
        tags: BTreeMap<String, String>,
        /// `Site.properties`.
        properties: SiteProperties,
        ..extra
    }

    /// `Site.properties` (CommonDefinitions.json, inline in `Site`).
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    SiteProperties {
        /// `state` (read-only): `Running`, `Stopped`, …
        state: String,
        /// `enabledHostNames` (read-only): the host names served, the SCM (Kudu) one among them.
        enabled_host_names: Vec<String>,
        /// `serverFarmId`: the App Service plan's resource id.
        server_farm_id: String,
        /// `reserved`: `true` for Linux.
        reserved: bool,
        /// `lastModifiedTimeUtc` (read-only): the deployment's revision.
        last_modified_time_utc: String,
        /// `siteConfig`.
        site_config: SiteConfig,
        /// `functionAppConfig` (Flex Consumption).
        function_app_config: FunctionAppConfig,
        /// `defaultHostName` (read-only): where the functions answer.
        default_host_name: String,
        /// `httpsOnly`.
        https_only: bool,
        ..extra
    }

    /// `SiteConfig` (CommonDefinitions.json): in a `Site` and in `config/web`.
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    SiteConfig {
        /// `linuxFxVersion`: `PYTHON|3.12`, `NODE|20` (empty on Flex Consumption).
        linux_fx_version: String,
        /// `appSettings`: only sent when creating a site (reads leave it out).
        app_settings: Vec<NameValuePair>,
        /// `experiments`: production's traffic routing to slots.
        experiments: Experiments,
        ..extra
    }

    /// `NameValuePair` (CommonDefinitions.json): one app setting in `SiteConfig.appSettings`.
    /// Its `Debug` leaves the value out (settings hold connection strings and SAS URLs).
    NameValuePair {
        /// `name`.
        name: String,
        /// `value`.
        value: String,
    }

    /// `Experiments` (CommonDefinitions.json).
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    Experiments {
        /// `rampUpRules`.
        ramp_up_rules: Vec<RampUpRule>,
        ..extra
    }

    /// `RampUpRule` (CommonDefinitions.json): a share of production's traffic sent to a slot.
    /// Read, changed and written back: `changeStep`, `minReroutePercentage`, … stay in `extra`.
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    RampUpRule {
        /// `actionHostName`: the slot's host name.
        action_host_name: String,
        /// `reroutePercentage` (0–100).
        reroute_percentage: f64,
        /// `name`: the slot's name.
        name: String,
        ..extra
    }

    /// `SiteConfigResource` (WebApps.json): `GET`/`PATCH sites/{name}/config/web`.
    #[derive(Debug)]
    SiteConfigResource {
        /// `properties`.
        properties: SiteConfig,
    }

    /// `FunctionAppConfig` (CommonDefinitions.json): the Flex Consumption configuration.
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    FunctionAppConfig {
        /// `deployment`.
        deployment: FunctionsDeployment,
        /// `runtime`.
        runtime: FunctionsRuntime,
        /// `scaleAndConcurrency`.
        scale_and_concurrency: FunctionsScaleAndConcurrency,
        ..extra
    }

    /// `FunctionsDeployment` (CommonDefinitions.json): where OneDeploy keeps the package.
    #[derive(Debug)]
    FunctionsDeployment {
        /// `storage`.
        storage: FunctionsDeploymentStorage,
        ..extra
    }

    /// `FunctionsDeployment.storage` (CommonDefinitions.json, an inline object).
    #[derive(Debug)]
    FunctionsDeploymentStorage {
        /// `type` (`FunctionsDeploymentStorageType`): `blobContainer`.
        #[serde(rename = "type")]
        kind: String,
        /// `value`: the container's URL.
        value: String,
        /// `authentication`.
        authentication: FunctionsDeploymentAuthentication,
        ..extra
    }

    /// `FunctionsDeployment.storage.authentication` (CommonDefinitions.json, an inline object).
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    FunctionsDeploymentAuthentication {
        /// `type` (`AuthenticationType`): `StorageAccountConnectionString`.
        #[serde(rename = "type")]
        kind: String,
        /// `storageAccountConnectionStringName`: the app setting holding the connection string.
        storage_account_connection_string_name: String,
        ..extra
    }

    /// `FunctionsRuntime` (CommonDefinitions.json).
    #[derive(Debug)]
    FunctionsRuntime {
        /// `name` (`RuntimeName`): `python`, `node`, …
        name: String,
        /// `version`: `3.12`, `20`.
        version: String,
        ..extra
    }

    /// `FunctionsScaleAndConcurrency` (CommonDefinitions.json). The spec types both counts as
    /// `number`; they are whole numbers (instances, MB), kept as integers here.
    #[derive(Debug)]
    #[serde(rename_all = "camelCase")]
    FunctionsScaleAndConcurrency {
        /// `maximumInstanceCount`.
        maximum_instance_count: u32,
        /// `instanceMemoryMB`: 512, 2048 or 4096.
        #[serde(rename = "instanceMemoryMB")]
        instance_memory_mb: u32,
        ..extra
    }
}

/// `WebAppCollection` (CommonDefinitions.json): `GET sites/{name}/slots`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WebAppCollection {
    /// `value`: the slots, each a `Site` named `app/slot`.
    #[serde(default)]
    pub value: Vec<Site>,
}

arm_bodies! {
    /// `StringDictionary` (CommonDefinitions.json): app settings, as `config/appsettings/list`
    /// returns them and `PUT config/appsettings` replaces them.
    #[derive(Debug)]
    StringDictionary {
        /// `properties`: setting name → value.
        properties: BTreeMap<String, String>,
    }
}

/// `CsmSlotEntity` (WebApps.json): the body of `POST sites/{name}/slots/{slot}/slotsswap`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CsmSlotEntity {
    /// `targetSlot` (required): `production`.
    pub target_slot: String,
    /// `preserveVnet` (required).
    pub preserve_vnet: bool,
}

arm_bodies! {
    /// `HostKeys` (WebApps.json): `POST sites/{name}/host/default/listkeys`. Holds secrets: never
    /// printed (no `Debug`).
    #[serde(rename_all = "camelCase")]
    HostKeys {
        /// `masterKey`.
        master_key: String,
        /// `functionKeys`: key name → key.
        function_keys: BTreeMap<String, String>,
    }

    /// `User` (CommonDefinitions.json): `POST sites/{name}/config/publishingcredentials/list`.
    /// Holds a password: never printed (no `Debug`).
    User {
        /// `properties`.
        properties: UserProperties,
    }

    /// `User.properties` (CommonDefinitions.json, inline in `User`).
    #[serde(rename_all = "camelCase")]
    UserProperties {
        /// `publishingUserName`.
        publishing_user_name: String,
        /// `publishingPassword`.
        publishing_password: String,
    }

    /// `StorageAccountListKeysResult` (Microsoft.Storage 2023-05-01, example
    /// `StorageAccountListKeys.json`): `POST storageAccounts/{account}/listKeys`. Holds the account
    /// keys: never printed (no `Debug`).
    StorageAccountListKeysResult {
        /// `keys`.
        keys: Vec<StorageAccountKey>,
    }

    /// `StorageAccountKey` (Microsoft.Storage 2023-05-01).
    StorageAccountKey {
        /// `value`: the base64 account key.
        value: String,
    }
}

impl std::fmt::Debug for NameValuePair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameValuePair")
            .field("name", &self.name)
            .field("value", &self.value.as_ref().map(|_| faas_core::REDACTED))
            .finish()
    }
}

/// The members of a `Site` the spec marks `readOnly` (CommonDefinitions.json: `Resource`,
/// `Site.properties`, `SiteConfig`, `SiteDnsConfig`, `HostingEnvironmentProfile`,
/// `ManagedServiceIdentity`, `userAssignedIdentity`, `ExtendedLocation`), each as the path of
/// member names to it (`*`: every member of a map). [`Site::put_body`] leaves them out.
const SITE_READ_ONLY: &[&[&str]] = &[
    &["id"],
    &["name"],
    &["type"],
    &["properties", "state"],
    &["properties", "hostNames"],
    &["properties", "repositorySiteName"],
    &["properties", "usageState"],
    &["properties", "enabledHostNames"],
    &["properties", "availabilityState"],
    &["properties", "lastModifiedTimeUtc"],
    &["properties", "trafficManagerHostNames"],
    &["properties", "targetSwapSlot"],
    &["properties", "outboundIpAddresses"],
    &["properties", "possibleOutboundIpAddresses"],
    &["properties", "suspendedTill"],
    &["properties", "maxNumberOfWorkers"],
    &["properties", "resourceGroup"],
    &["properties", "isDefaultContainer"],
    &["properties", "defaultHostName"],
    &["properties", "slotSwapStatus"],
    &["properties", "inProgressOperationId"],
    &["properties", "siteConfig", "machineKey"],
    &["properties", "dnsConfiguration", "dnsLegacySortOrder"],
    &["properties", "hostingEnvironmentProfile", "name"],
    &["properties", "hostingEnvironmentProfile", "type"],
    &["identity", "principalId"],
    &["identity", "tenantId"],
    &["identity", "userAssignedIdentities", "*", "principalId"],
    &["identity", "userAssignedIdentities", "*", "clientId"],
    &["extendedLocation", "type"],
];

/// Removes the member at `path` (member names, `*` for every member) from `v`, if there.
fn remove_path(v: &mut serde_json::Value, path: &[&str]) {
    let (Some((first, rest)), Some(object)) = (path.split_first(), v.as_object_mut()) else {
        return;
    };
    if rest.is_empty() {
        object.remove(*first);
    } else if *first == "*" {
        object.values_mut().for_each(|child| remove_path(child, rest));
    } else if let Some(child) = object.get_mut(*first) {
        remove_path(child, rest);
    }
}

/// Removes every `null` member of the objects in `v`, at any depth.
fn remove_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(object) => {
            object.retain(|_, child| !child.is_null());
            object.values_mut().for_each(remove_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(remove_nulls),
        _ => {}
    }
}

impl Site {
    /// The body of a `PUT sites/{name}` that updates this site, read and then changed: every
    /// member as it is here, those the crate does not model (`extra`) included, except the ones
    /// the spec marks `readOnly` (ARM ignores them in a `PUT`; they are not ours to send), and
    /// without `null`s (what ARM answers for a member it has no value for; sending nothing says
    /// the same without asking for a change).
    pub fn put_body(&self) -> serde_json::Value {
        let mut v = body(self);
        for path in SITE_READ_ONLY {
            remove_path(&mut v, path);
        }
        remove_nulls(&mut v);
        v
    }

    /// `properties.siteConfig.linuxFxVersion`.
    pub fn linux_fx_version(&self) -> Option<&str> {
        self.properties
            .as_ref()?
            .site_config
            .as_ref()?
            .linux_fx_version
            .as_deref()
    }

    /// `properties.functionAppConfig.runtime`.
    pub fn flex_runtime(&self) -> Option<&FunctionsRuntime> {
        self.properties.as_ref()?.function_app_config.as_ref()?.runtime.as_ref()
    }

    /// `properties.functionAppConfig.scaleAndConcurrency.instanceMemoryMB`.
    pub fn instance_memory_mb(&self) -> Option<u32> {
        self.properties
            .as_ref()?
            .function_app_config
            .as_ref()?
            .scale_and_concurrency
            .as_ref()?
            .instance_memory_mb
    }

    /// `properties.defaultHostName`, or empty.
    pub fn default_host_name(&self) -> &str {
        self.properties
            .as_ref()
            .and_then(|p| p.default_host_name.as_deref())
            .unwrap_or_default()
    }
}

/// Parses an ARM answer as `T`; a body that is not one is `InvalidResponse` naming `what`.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(what: &str, body: serde_json::Value) -> faas_core::Result<T> {
    serde_json::from_value(body).map_err(|e| {
        faas_core::Error::other(
            "InvalidResponse",
            format!("{what} answered with a body of another shape: {e}"),
            false,
        )
    })
}

/// Serializes a request body (these types always serialize).
pub(crate) fn body<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_specs() {
        let site: Site = serde_json::from_value(serde_json::json!({
            "id": "/s/x", "name": "app", "location": "westeurope", "kind": "functionapp,linux",
            "tags": {"team": "a"},
            "properties": {
                "state": "Running", "serverFarmId": "plan", "reserved": null, "httpsOnly": true,
                "defaultHostName": "app.azurewebsites.net", "lastModifiedTimeUtc": "t",
                "enabledHostNames": ["app.azurewebsites.net", "app.scm.azurewebsites.net"],
                "siteConfig": {"linuxFxVersion": "PYTHON|3.12", "numberOfWorkers": 1},
                "functionAppConfig": {"runtime": {"name": "python", "version": "3.11"},
                    "scaleAndConcurrency": {"instanceMemoryMB": 2048, "maximumInstanceCount": 100}},
                "somethingNew": {"a": 1}
            }
        }))
        .unwrap();
        assert_eq!(site.linux_fx_version(), Some("PYTHON|3.12"));
        assert_eq!(site.instance_memory_mb(), Some(2048));
        assert_eq!(site.flex_runtime().and_then(|r| r.version.as_deref()), Some("3.11"));
        assert_eq!(site.default_host_name(), "app.azurewebsites.net");
        // Nothing unset is sent.
        let partial = Site {
            tags: Some(BTreeMap::new()),
            ..Site::default()
        };
        assert_eq!(body(&partial), serde_json::json!({"tags": {}}));
        let swap = CsmSlotEntity {
            target_slot: "production".into(),
            preserve_vnet: true,
        };
        assert_eq!(
            body(&swap),
            serde_json::json!({"targetSlot": "production", "preserveVnet": true})
        );
    }

    #[test]
    fn a_site_goes_back_whole_but_for_its_read_only_members() {
        use serde_json::json;
        // What a PUT sends back as it was read: modelled or not.
        let function_app_config = json!({"runtime": {"name": "python", "version": "3.12"},
            "scaleAndConcurrency": {"instanceMemoryMB": 2048, "maximumInstanceCount": 40,
                "alwaysReady": [{"name": "http", "instanceCount": 1}]},
            "deployment": {"storage": {"type": "blobContainer", "value": "https://b/c",
                "authentication": {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "/ids/u"}}}});
        let cors = json!({"allowedOrigins": ["https://x"]});
        let read = json!({
            "id": "/s/app", "name": "app", "type": "Microsoft.Web/sites", "location": "westeurope",
            "kind": "functionapp,linux", "tags": {"team": "a"},
            "identity": {"type": "SystemAssigned, UserAssigned", "principalId": "p", "tenantId": "t",
                "userAssignedIdentities": {"/ids/u": {"principalId": "up", "clientId": "uc"}}},
            "extendedLocation": {"name": "edge", "type": "EdgeZone"},
            "properties": {
                "state": "Running", "hostNames": ["app.azurewebsites.net"], "enabledHostNames": [],
                "defaultHostName": "app.azurewebsites.net", "lastModifiedTimeUtc": "t",
                "outboundIpAddresses": "1.2.3.4", "resourceGroup": "rg", "inProgressOperationId": null,
                "serverFarmId": "plan", "httpsOnly": true, "clientCertMode": "Required",
                "siteConfig": {"linuxFxVersion": "PYTHON|3.12", "numberOfWorkers": 1, "machineKey": {},
                    "appSettings": null, "cors": cors},
                "functionAppConfig": function_app_config, "somethingNew": {"a": 1}
            }
        });
        let site: Site = serde_json::from_value(read).unwrap();
        let sent = json!({
            "location": "westeurope", "kind": "functionapp,linux", "tags": {"team": "a"},
            "identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {"/ids/u": {}}},
            "extendedLocation": {"name": "edge"},
            "properties": {
                "serverFarmId": "plan", "httpsOnly": true, "clientCertMode": "Required",
                "siteConfig": {"linuxFxVersion": "PYTHON|3.12", "numberOfWorkers": 1, "cors": cors},
                "functionAppConfig": function_app_config, "somethingNew": {"a": 1}
            }
        });
        assert_eq!(site.put_body(), sent);
    }

    #[test]
    fn ramp_up_rules_keep_what_they_do_not_model() {
        let rule: RampUpRule = serde_json::from_value(serde_json::json!({
            "actionHostName": "h", "reroutePercentage": 10.0, "name": "staging", "changeStep": 5.0
        }))
        .unwrap();
        assert_eq!(body(&rule)["changeStep"], 5.0);
        assert_eq!(rule.name.as_deref(), Some("staging"));
    }
}
