//! The checks a pricing file passes before it is used.

use super::pricing::{BillingRule, Grant, PricingFile, Rate, RateKind, SCHEMA_VERSION};
use crate::{Error, Result};
use serde::Serialize;

/// `regions.us-east-1.rates` + `missing field \`source\`` → `regions.us-east-1.rates.source`.
pub(super) fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"].iter().find_map(|p| {
        message
            .split_once(p)
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(f, _)| f)
    });
    let path = if path == "." { "" } else { path };
    match named {
        Some(f) if path.is_empty() => f.to_string(),
        Some(f) if path.ends_with(f) => path.to_string(),
        Some(f) => format!("{path}.{f}"),
        None if path.is_empty() => "pricing file".to_string(),
        None => path.to_string(),
    }
}

pub(super) fn validate(name: &str, file: &PricingFile) -> Result<()> {
    let bad = |field: String, value: &dyn std::fmt::Display, why: &str| {
        Error::invalid(field, value, format!("{name}: {why}"))
    };
    if file.schema_version != SCHEMA_VERSION {
        return Err(bad(
            "schema_version".into(),
            &file.schema_version,
            "this library reads schema version 1",
        ));
    }
    if file.regions.is_empty() {
        return Err(bad(
            "regions".into(),
            &"{}",
            "a pricing file prices at least one region",
        ));
    }
    let provenance = |field: &str, source: &str, as_of: &str| -> Result<()> {
        if !(source.starts_with("https://") || source.starts_with("http://")) {
            return Err(bad(
                format!("{field}.source"),
                &format!("{source:?}"),
                "every figure names the URL it was read from",
            ));
        }
        if !is_date(as_of) {
            return Err(bad(
                format!("{field}.as_of"),
                &format!("{as_of:?}"),
                "every figure says the day it was read, as YYYY-MM-DD",
            ));
        }
        Ok(())
    };
    let amount = |field: String, v: f64| -> Result<()> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(bad(field, &v, "must be a finite number, 0 or more"))
        }
    };
    known_names::<BillingRule>(name, "billing", file.billing.keys())?;
    known_names::<Grant>(name, "free_grants", file.free_grants.keys())?;
    let figures = file.billing.iter().map(|(k, f)| (format!("billing.{k}"), f));
    let grants = file.free_grants.iter().map(|(k, f)| (format!("free_grants.{k}"), f));
    for (field, figure) in figures.chain(grants) {
        provenance(&field, &figure.source, &figure.as_of)?;
        amount(format!("{field}.value"), figure.value)?;
    }
    if let Some(table) = &file.cpu_by_memory {
        provenance("cpu_by_memory", &table.source, &table.as_of)?;
        for (i, step) in table.steps.iter().enumerate() {
            amount(format!("cpu_by_memory.steps[{i}].vcpu"), step.vcpu)?;
            if i > 0 && step.memory_mb <= table.steps[i - 1].memory_mb {
                return Err(bad(
                    format!("cpu_by_memory.steps[{i}].memory_mb"),
                    &step.memory_mb,
                    "steps must ascend by memory",
                ));
            }
        }
    }
    if let Some(allowed) = &file.allowed_memory_mb {
        provenance("allowed_memory_mb", &allowed.source, &allowed.as_of)?;
    }
    for (region, prices) in &file.regions {
        known_names::<RateKind>(name, &format!("regions.{region}.rates"), prices.rates.keys())?;
        for (kind, rate) in &prices.rates {
            let field = format!("regions.{region}.rates.{kind}");
            provenance(&field, &rate.source, &rate.as_of)?;
            validate_tiers(&field, rate, &bad, &amount)?;
        }
    }
    Ok(())
}

fn validate_tiers(
    field: &str,
    rate: &Rate,
    bad: &dyn Fn(String, &dyn std::fmt::Display, &str) -> Error,
    amount: &dyn Fn(String, f64) -> Result<()>,
) -> Result<()> {
    if rate.tiers.is_empty() {
        return Err(bad(format!("{field}.tiers"), &"[]", "a rate has at least one tier"));
    }
    let mut below = 0.0;
    for (i, tier) in rate.tiers.iter().enumerate() {
        amount(format!("{field}.tiers[{i}].price"), tier.price)?;
        match tier.up_to {
            Some(top) if !(top.is_finite() && top > below) => {
                return Err(bad(
                    format!("{field}.tiers[{i}].up_to"),
                    &top,
                    "tiers must ascend: each ends above the one before",
                ));
            }
            Some(top) => below = top,
            None if i + 1 < rate.tiers.len() => {
                return Err(bad(
                    format!("{field}.tiers[{i}].up_to"),
                    &"null",
                    "only the last tier may be open-ended",
                ));
            }
            None => {}
        }
    }
    Ok(())
}

/// Refuses a key that is not one of `T`'s names, naming it and the names known.
fn known_names<'a, T: serde::de::DeserializeOwned + Serialize>(
    name: &str,
    at: &str,
    keys: impl Iterator<Item = &'a String>,
) -> Result<()> {
    for k in keys {
        if serde_json::from_value::<T>(serde_json::Value::String(k.clone())).is_err() {
            return Err(Error::invalid(
                format!("{at}.{k}"),
                k,
                format!("{name}: not a name this schema knows (a misspelt rate would silently drop out)"),
            ));
        }
    }
    Ok(())
}

/// Whether `s` looks like `YYYY-MM-DD`.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
