//! [`ProviderName`]: which provider an error, a plan or an info names.

/// The provider an error came from: `local`, `aws`, `gcp`, `azure`, or a program's own.
///
/// Providers never spell it: errors are made with the constructors on [`Error`](crate::Error) and the
/// name is filled in by [`Provider`](crate::Provider) (in front of every backend call) or by
/// the provider's builder. An error made outside any provider has [`ProviderName::NONE`].
///
/// ```
/// use faas_core::{Error, ProviderName};
/// let e = Error::conflict("fn", "an update is in progress").with_provider(ProviderName::new("aws"));
/// assert_eq!(e.provider(), "aws");
/// assert_eq!(e.to_string(), "aws: conflict on fn: an update is in progress");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderName(&'static str);

impl ProviderName {
    /// No provider (the error did not come from one, or has not been stamped yet).
    pub const NONE: ProviderName = ProviderName("");

    /// A provider's name.
    pub const fn new(name: &'static str) -> ProviderName {
        ProviderName(name)
    }

    /// The name (empty for [`ProviderName::NONE`]).
    pub const fn as_str(&self) -> &'static str {
        self.0
    }

    /// Whether this names a provider.
    pub const fn is_known(&self) -> bool {
        !self.0.is_empty()
    }

    /// `"aws: "`, or nothing for [`ProviderName::NONE`]: the prefix of a message.
    pub(crate) fn prefix(&self) -> String {
        if self.is_known() {
            format!("{}: ", self.0)
        } else {
            String::new()
        }
    }

    /// The name, or `"the provider"` for [`ProviderName::NONE`]: the subject of a message.
    pub(crate) fn subject(&self) -> &'static str {
        if self.is_known() { self.0 } else { "the provider" }
    }
}

impl std::fmt::Display for ProviderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl From<&'static str> for ProviderName {
    fn from(name: &'static str) -> ProviderName {
        ProviderName(name)
    }
}

impl PartialEq<str> for ProviderName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ProviderName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for ProviderName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.is_known() {
            s.serialize_str(self.0)
        } else {
            s.serialize_none()
        }
    }
}
