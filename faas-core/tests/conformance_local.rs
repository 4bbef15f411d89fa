//! The whole conformance suite against the local provider, one test per check.

#![allow(clippy::unwrap_used)]

use faas_core::conformance::{self, Fixture};
use faas_core::local::LocalProvider;

fn provider(dir: &tempfile::TempDir) -> LocalProvider {
    LocalProvider::builder()
        .state_dir(dir.path())
        .seed(20240601)
        .build()
        .unwrap()
}

macro_rules! check {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            conformance::$name(&provider(&dir), &Fixture::python()).await;
        }
    };
}

check!(deploy_invoke_round_trip);
check!(redeploy_unchanged_is_noop);
check!(published_version_is_immutable);
check!(label_move_and_rollback);
check!(weighted_split);
check!(prune_keeps_newest_and_routed);
check!(typed_errors);
check!(capability_is_honest);
check!(names_are_checked_first);
check!(old_secrets_stay_hidden);
check!(plans_apply_as_planned);
check!(metrics_and_logs_see_invocations);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_through_dyn_provider() {
    let dir = tempfile::tempdir().unwrap();
    let p: std::sync::Arc<dyn faas_core::Provider> = std::sync::Arc::new(provider(&dir));
    let fx = Fixture {
        split_samples: 40,
        ..Fixture::python()
    };
    let report = conformance::run_all(p.as_ref(), &fx).await;
    eprintln!("{report}");
    assert_eq!(
        report.skipped,
        vec![("slot_swap_promotes_and_swaps_back", "no slot swap")],
        "{report}"
    );
    assert_eq!(report.ran.len(), 14, "{report}");
}
