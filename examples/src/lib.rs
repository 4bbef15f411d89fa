//! Runnable examples for faas; see the `[[example]]` targets.
