//! A Lambda function built with the `lambda_runtime` crate. Package the binary as `bootstrap`
//! for `provided.al2023`; the local provider runs it through the Runtime API, unchanged.
//!
//! ```text
//! cargo build -p examples --example hello-rust
//! ```
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("fail").and_then(Value::as_bool) == Some(true) {
        return Err("asked to fail".into());
    }
    let name = payload.get("name").and_then(Value::as_str).unwrap_or("world");
    Ok(json!({
        "statusCode": 200,
        "message": format!("Hello, {name}!"),
        "request_id": context.request_id,
        "deadline_ms": context.deadline,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
