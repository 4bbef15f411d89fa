//! [`LocalBuilder`]: the local provider's settings, by method, by name or from the environment.

use std::path::PathBuf;

use super::store::Store;
use super::{LocalProvider, NAME};
use crate::{Error, Result};

/// Builds a [`LocalProvider`].
///
/// Settings by name ([`LocalBuilder::with_config`]; the environment variable in brackets):
///
/// | key | meaning | default |
/// |---|---|---|
/// | `state_dir` (`FAAS_STATE_DIR`) | the state directory | `.faas` |
/// | `seed` (`FAAS_LOCAL_SEED`) | seed of the weighted-routing generator | random |
/// | `python` (`FAAS_PYTHON`) | the Python interpreter | `pythonX.Y`, else `python3` |
/// | `node` (`FAAS_NODE`) | the Node interpreter | `node` |
/// | `region` | `AWS_REGION` reported to functions | `us-east-1` |
/// | `idle_timeout` (`FAAS_LOCAL_IDLE`) | how long an idle execution environment stays warm (`300s`, `5m`, `0s`: never kept) | 5 minutes |
/// | `cgroups` | `false`: no cgroups for memory and CPU (memory by the watchdog, CPU unlimited) | `true` where writable |
#[derive(Debug, Clone, Default)]
pub struct LocalBuilder {
    state_dir: Option<PathBuf>,
    seed: Option<u64>,
    python: Option<String>,
    node: Option<String>,
    region: Option<String>,
    idle_timeout: Option<std::time::Duration>,
    no_cgroups: bool,
    /// A bad environment value (variable, value), reported by `build`.
    invalid: Option<(&'static str, String)>,
}

/// The keys [`LocalBuilder::with_config`] takes.
pub const CONFIG_KEYS: &[&str] = &[
    "state_dir",
    "seed",
    "python",
    "node",
    "region",
    "idle_timeout",
    "cgroups",
];

impl LocalBuilder {
    /// Reads `FAAS_STATE_DIR` (state directory), `FAAS_LOCAL_SEED` (routing seed),
    /// `FAAS_PYTHON` and `FAAS_NODE` (interpreters), `FAAS_LOCAL_IDLE` (idle timeout).
    /// Strict: a bad value (`FAAS_LOCAL_SEED=abc`) makes [`LocalBuilder::build`] fail with
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the variable.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let raw = var("FAAS_LOCAL_SEED");
        let seed = raw.as_deref().and_then(|s| s.trim().parse::<u64>().ok());
        let mut invalid = raw.filter(|_| seed.is_none()).map(|v| ("FAAS_LOCAL_SEED", v));
        let idle = var("FAAS_LOCAL_IDLE");
        let idle_timeout = idle.as_deref().and_then(|s| parse_duration(s).ok());
        if invalid.is_none() {
            invalid = idle.filter(|_| idle_timeout.is_none()).map(|v| ("FAAS_LOCAL_IDLE", v));
        }
        LocalBuilder {
            state_dir: var("FAAS_STATE_DIR").map(PathBuf::from),
            seed,
            python: var("FAAS_PYTHON"),
            node: var("FAAS_NODE"),
            region: None,
            idle_timeout,
            no_cgroups: false,
            invalid,
        }
    }

    /// Defaults (a `.faas` state directory in the working directory).
    pub fn new() -> Self {
        LocalBuilder::default()
    }

    /// One setting by name (see the table above); an unknown key or a bad value is
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    ///
    /// ```
    /// let b = faas_core::local::LocalBuilder::new().with_config("seed", "7").unwrap();
    /// assert!(faas_core::local::LocalBuilder::new().with_config("seed", "seven").is_err());
    /// assert!(faas_core::local::LocalBuilder::new().with_config("colour", "blue").is_err());
    /// assert!(faas_core::local::LocalBuilder::new().with_config("idle_timeout", "90s").is_ok());
    /// assert!(faas_core::local::LocalBuilder::new().with_config("idle_timeout", "soon").is_err());
    /// # drop(b);
    /// ```
    pub fn with_config(self, key: &str, value: &str) -> Result<Self> {
        self.set_config(key, value).map_err(|e| e.with_provider(NAME))
    }

    /// [`Self::with_config`], before the error names the provider.
    fn set_config(mut self, key: &str, value: &str) -> Result<Self> {
        match key {
            "state_dir" => self.state_dir = Some(PathBuf::from(value)),
            "seed" => self.seed = Some(crate::settings::parse(key, value, "a whole number")?),
            "python" => self.python = Some(value.to_string()),
            "node" => self.node = Some(value.to_string()),
            "region" => self.region = Some(value.to_string()),
            "idle_timeout" => self.idle_timeout = Some(parse_duration(value)?),
            "cgroups" => self.no_cgroups = !crate::settings::parse::<bool>(key, value, "true or false")?,
            _ => return Err(crate::settings::unknown_key("local", key, CONFIG_KEYS, false)),
        }
        Ok(self)
    }

    /// The state directory (default `.faas`).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Seeds the weighted-routing generator, for reproducible traffic splits.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The Python interpreter (default `pythonX.Y` for the runtime when on the PATH, else `python3`).
    pub fn python(mut self, cmd: impl Into<String>) -> Self {
        self.python = Some(cmd.into());
        self
    }

    /// The Node interpreter (default `node`).
    pub fn node(mut self, cmd: impl Into<String>) -> Self {
        self.node = Some(cmd.into());
        self
    }

    /// The region reported to functions (`AWS_REGION`, default `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// How long an execution environment stays warm after its last invocation (default 5
    /// minutes; zero keeps none, every call is then cold). Then its process group is killed.
    pub fn idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// Whether execution environments get cgroups for memory and CPU where the machine
    /// allows (default `true`). `false` leaves the cgroups alone: memory is then enforced by
    /// the watchdog and CPU is not limited (see
    /// [`LocalProvider::resource_controls`](super::LocalProvider::resource_controls)).
    pub fn cgroups(mut self, on: bool) -> Self {
        self.no_cgroups = !on;
        self
    }

    /// Opens the state directory (created by the first write).
    pub fn build(self) -> Result<LocalProvider> {
        self.build_provider().map_err(|e| e.with_provider(NAME))
    }

    /// [`Self::build`], before the error names the provider.
    fn build_provider(self) -> Result<LocalProvider> {
        match &self.invalid {
            Some((key @ "FAAS_LOCAL_IDLE", value)) => {
                parse_duration(value).map_err(|_| Error::config(*key, format!("{value:?}"), DURATION_HINT))?;
            }
            Some((key, value)) => {
                crate::settings::parse::<u64>(key, value, "a whole number")?;
            }
            None => {}
        }
        let store = Store::open(self.state_dir.unwrap_or_else(|| PathBuf::from(".faas")))?;
        let rng = match self.seed {
            Some(s) => fastrand::Rng::with_seed(s),
            None => fastrand::Rng::new(),
        };
        Ok(LocalProvider::open(
            store,
            rng,
            self.python,
            self.node.unwrap_or_else(|| "node".into()),
            self.region.unwrap_or_else(|| "us-east-1".into()),
            super::pool::Pool::new(self.idle_timeout.unwrap_or(super::pool::DEFAULT_IDLE), !self.no_cgroups),
        ))
    }
}

const DURATION_HINT: &str = "expected a duration such as 300s, 5m or 250ms";

/// `300s`, `5m`, `1h`, `250ms` or a number of seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| Error::config("idle_timeout", format!("{text:?}"), DURATION_HINT))?;
    let ms = match unit {
        "" | "s" => n.checked_mul(1000),
        "ms" => Some(n),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    };
    ms.map(std::time::Duration::from_millis)
        .ok_or_else(|| Error::config("idle_timeout", format!("{text:?}"), DURATION_HINT))
}
