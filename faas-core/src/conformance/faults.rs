//! Injected faults for the emulator-backed tests: one axum layer that every cloud's fake (and
//! the AWS proxy in front of moto) puts in front of its routes, so that the three clouds are
//! tested against the same faults — error statuses, throttles with `Retry-After`, connections
//! dropped before and after the request is carried out, and stalls.
//!
//! A [`Faults`] handle is shared between the test and the server: the test turns injection on
//! with a [`FaultPlan`] (a rate, weighted kinds, which requests qualify, a seed for
//! reproducible runs) and reads back what was injected. A dropped connection is made by
//! panicking in the connection's task, which hyper answers by closing the socket without a
//! response — what a client sees when a load balancer resets the connection.
//!
//! ```no_run
//! # fn t(router: axum::Router) {
//! use faas_core::conformance::faults::{FaultKind, FaultPlan, Faults};
//! let faults = Faults::new();
//! // Each fake renders the error in its own cloud's shape.
//! let router = faults.wrap(router, |status, _kind| {
//!     let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE);
//!     axum::response::IntoResponse::into_response((status, "{\"error\": \"injected\"}"))
//! });
//! faults.start(FaultPlan::mixed(0.10).seed(7));
//! # }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

/// One kind of fault.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this status (5xx) without carrying the request out.
    Status(u16),
    /// Answer 429 with this `Retry-After` (whole seconds) without carrying the request out.
    Throttle {
        /// The `Retry-After` header's value, if any.
        retry_after_s: Option<u32>,
    },
    /// Drop the connection without carrying the request out.
    ResetBefore,
    /// Carry the request out, then drop the connection before answering.
    ResetAfter,
    /// Wait this long, then carry the request out and answer.
    Stall(Duration),
}

impl FaultKind {
    /// Whether the server acted on the request (a retry of a write then finds it done).
    pub fn applied(&self) -> bool {
        matches!(self, FaultKind::ResetAfter | FaultKind::Stall(_))
    }
}

/// Which requests a plan may fail: method and path.
pub type Qualifies = fn(&Method, &str) -> bool;

/// Renders an injected error status in the fake's cloud's shape (status, the fault).
pub type Dialect = fn(u16, &FaultKind) -> Response;

/// What to inject: each qualifying request fails with probability `rate`, the kind drawn by
/// weight.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    rate: f64,
    kinds: Vec<(FaultKind, u32)>,
    qualifies: Qualifies,
    seed: u64,
}

fn every_request(_: &Method, _: &str) -> bool {
    true
}

impl FaultPlan {
    /// Only `kind`, at `rate`.
    pub fn only(rate: f64, kind: FaultKind) -> FaultPlan {
        FaultPlan {
            rate,
            kinds: vec![(kind, 1)],
            qualifies: every_request,
            seed: 0,
        }
    }

    /// The mix the fleet tests use, at `rate`: 30 % throttles (`Retry-After: 1` for a third of
    /// them), 25 % 503, 10 % 500, 15 % resets before and 15 % after the request is carried
    /// out, 5 % one-second stalls.
    pub fn mixed(rate: f64) -> FaultPlan {
        FaultPlan {
            rate,
            kinds: vec![
                (FaultKind::Throttle { retry_after_s: None }, 20),
                (FaultKind::Throttle { retry_after_s: Some(1) }, 10),
                (FaultKind::Status(503), 25),
                (FaultKind::Status(500), 10),
                (FaultKind::ResetBefore, 15),
                (FaultKind::ResetAfter, 15),
                (FaultKind::Stall(Duration::from_secs(1)), 5),
            ],
            qualifies: every_request,
            seed: 0,
        }
    }

    /// Only requests `qualifies` picks may fail (say, not the token endpoint).
    pub fn qualifying(mut self, qualifies: Qualifies) -> FaultPlan {
        self.qualifies = qualifies;
        self
    }

    /// The random draws' seed (the same seed and the same request order give the same faults).
    pub fn seed(mut self, seed: u64) -> FaultPlan {
        self.seed = seed;
        self
    }
}

/// One fault that was injected.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    /// The request's method.
    pub method: String,
    /// Its path.
    pub path: String,
    /// What was done to it.
    pub kind: FaultKind,
}

#[derive(Default)]
struct Inner {
    plan: Option<FaultPlan>,
    rng: Option<fastrand::Rng>,
    requests: usize,
    injected: Vec<Injected>,
}

/// The shared handle: the server's layer draws from it, the test starts, stops and reads it.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Faults")
            .field("on", &inner.plan.is_some())
            .field("requests", &inner.requests)
            .field("injected", &inner.injected.len())
            .finish()
    }
}

impl Faults {
    /// A handle that injects nothing until [`Faults::start`].
    pub fn new() -> Faults {
        Faults::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Injects faults by `plan` from now on (counts start again).
    pub fn start(&self, plan: FaultPlan) {
        let mut inner = self.lock();
        inner.rng = Some(fastrand::Rng::with_seed(plan.seed));
        inner.plan = Some(plan);
        inner.requests = 0;
        inner.injected.clear();
    }

    /// Injects nothing from now on (what was injected stays readable).
    pub fn stop(&self) {
        self.lock().plan = None;
    }

    /// The faults injected since [`Faults::start`].
    pub fn injected(&self) -> Vec<Injected> {
        self.lock().injected.clone()
    }

    /// How many requests the layer saw since [`Faults::start`] (faulted or not).
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Draws the fault (if any) for one request.
    fn draw(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let mut inner = self.lock();
        let plan = inner.plan.clone()?;
        inner.requests += 1;
        if !(plan.qualifies)(method, path) {
            return None;
        }
        let rng = inner.rng.get_or_insert_with(|| fastrand::Rng::with_seed(plan.seed));
        if rng.f64() >= plan.rate {
            return None;
        }
        let total: u32 = plan.kinds.iter().map(|(_, w)| w).sum();
        let mut pick = rng.u32(0..total.max(1));
        let kind = plan
            .kinds
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map(|(k, _)| k.clone())?;
        inner.injected.push(Injected {
            method: method.to_string(),
            path: path.to_string(),
            kind: kind.clone(),
        });
        Some(kind)
    }

    /// `router` with this handle's faults in front of every route, error answers rendered by
    /// `dialect` (which receives the status and the fault; a `Retry-After` header is added to
    /// throttles that carry one).
    pub fn wrap<S: Clone + Send + Sync + 'static>(&self, router: Router<S>, dialect: Dialect) -> Router<S> {
        router.layer(axum::middleware::from_fn_with_state((self.clone(), dialect), inject))
    }
}

async fn inject(State((faults, dialect)): State<(Faults, Dialect)>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let Some(kind) = faults.draw(&method, &path) else {
        return next.run(req).await;
    };
    tracing::debug!(%method, %path, ?kind, "injecting a fault");
    match kind {
        FaultKind::Status(status) => {
            drain(req).await;
            dialect(status, &kind)
        }
        FaultKind::Throttle { retry_after_s } => {
            drain(req).await;
            let mut answer = dialect(429, &kind);
            if let Some(s) = retry_after_s
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                answer.headers_mut().insert("retry-after", v);
            }
            answer
        }
        FaultKind::ResetBefore => reset(&method, &path, "before"),
        FaultKind::ResetAfter => {
            let answer = next.run(req).await;
            drop(answer);
            reset(&method, &path, "after")
        }
        FaultKind::Stall(d) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
    }
}

/// Reads the request's body, as a server that refuses the request does: answering before a
/// streamed upload's body is read lets hyper close the connection under the client, which
/// then sees a broken connection instead of the status (depending on timing).
async fn drain(req: Request) {
    let _ = axum::body::to_bytes(req.into_body(), usize::MAX).await;
}

/// Drops the connection: hyper closes the socket of a connection whose task panics.
fn reset(method: &Method, path: &str, when: &str) -> ! {
    // resume_unwind: no panic message on stderr for an injected fault.
    let _ = (method, path, when);
    std::panic::resume_unwind(Box::new(format!("injected connection reset {when} {method} {path}")))
}
