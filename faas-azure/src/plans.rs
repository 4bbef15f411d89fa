//! The App Service plan an app runs on, read for one thing: Linux Consumption (sku tier
//! `Dynamic` on Linux) is retired on 30 September 2028, so a plan that targets it gets a
//! warning naming Flex Consumption as the way forward (`AppServicePlans_Get`).

use faas_core::ResourceKind;
use reqwest::Method;

use crate::arm::Target;
use crate::site::{API, Sites};

/// The warnings found per plan id, shared by the provider's clones.
pub(crate) type PlanWarnings = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, Option<String>>>>;

/// Microsoft's retirement date of the Linux Consumption plan.
pub(crate) const LINUX_CONSUMPTION_RETIRED: &str = "2028-09-30";

/// The warning for an `AppServicePlan` body, when it is Linux Consumption.
pub(crate) fn linux_consumption_warning(plan_id: &str, plan: &serde_json::Value) -> Option<String> {
    let dynamic = plan["sku"]["tier"].as_str() == Some("Dynamic");
    let linux = plan["properties"]["reserved"].as_bool() == Some(true);
    (dynamic && linux).then(|| {
        format!(
            "{plan_id} is a Linux Consumption plan, which Azure retires on {LINUX_CONSUMPTION_RETIRED}: move the app to Flex Consumption (AzureBuilder::hosting(Hosting::Flex))"
        )
    })
}

impl Sites {
    /// The Linux Consumption warning for the plan `plan_id` (`/subscriptions/…/serverfarms/…`),
    /// from one read of it per provider (kept). Only a diagnosis: a plan that cannot be read
    /// gives no warning (and is read again next time).
    pub(crate) async fn plan_warning(&self, plan_id: &str) -> Option<String> {
        let known = self.plan_warnings.lock().ok().and_then(|m| m.get(plan_id).cloned());
        if let Some(known) = known {
            return known;
        }
        let root = self.base.split("subscriptions/").next().unwrap_or_default();
        let url = format!("{}{plan_id}?{API}", root.trim_end_matches('/'));
        let target = Target {
            kind: ResourceKind::Function,
            name: plan_id,
        };
        match self.arm.call(Method::GET, &url, None, target).await {
            Ok(answer) => {
                let warning = linux_consumption_warning(plan_id, &answer.body);
                if let Ok(mut m) = self.plan_warnings.lock() {
                    m.insert(plan_id.to_string(), warning.clone());
                }
                warning
            }
            Err(e) => {
                tracing::debug!(plan = plan_id, error = %e, "could not read the App Service plan");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_linux_dynamic_plans_are_warned_about() {
        let plan = |tier: &str, reserved: bool| json!({"sku": {"tier": tier}, "properties": {"reserved": reserved}});
        let w = linux_consumption_warning("/p/y1", &plan("Dynamic", true)).unwrap();
        assert!(w.contains("2028-09-30") && w.contains("Flex Consumption"), "{w}");
        assert!(
            linux_consumption_warning("/p", &plan("Dynamic", false)).is_none(),
            "Windows Consumption"
        );
        assert!(linux_consumption_warning("/p", &plan("ElasticPremium", true)).is_none());
        assert!(linux_consumption_warning("/p", &plan("FlexConsumption", true)).is_none());
    }
}
