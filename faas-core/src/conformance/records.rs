//! Conformance checks of the records rollouts keep their state and lease in: conditional
//! writes that only one writer wins, on every provider whose capability has them.

use super::{Fixture, cap};
use crate::records::{RecordTag, WriteCondition};
use crate::{Error, Provider};

/// Create, compare-and-swap and delete are conditional: creating twice, writing or deleting
/// with a stale tag is [`Error::Conflict`]; a read gives the last write's bytes and tag; a
/// missing record reads as `None` and deletes quietly.
pub async fn records_are_conditional(p: &dyn Provider, fx: &Fixture) {
    let key = format!("conformance/{}-{:08x}.json", fx.prefix, fastrand::u32(..));
    assert!(p.read_record(&key).await.expect("read missing").is_none());
    let first = p
        .write_record(&key, b"{\"n\":1}", &WriteCondition::Absent)
        .await
        .expect("create");
    let again = p.write_record(&key, b"{\"n\":2}", &WriteCondition::Absent).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "create twice: {again:?}");
    let read = p.read_record(&key).await.expect("read").expect("exists");
    assert_eq!((read.body.as_slice(), &read.tag), (&b"{\"n\":1}"[..], &first));
    let second = p
        .write_record(&key, b"{\"n\":3}", &WriteCondition::Matches(first.clone()))
        .await
        .expect("compare and swap");
    assert_ne!(second, first, "a new write has a new tag");
    let stale = p
        .write_record(&key, b"{\"n\":4}", &WriteCondition::Matches(first.clone()))
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "stale write: {stale:?}");
    let stale_delete = p.delete_record(&key, &first).await;
    assert!(
        matches!(stale_delete, Err(Error::Conflict { .. })),
        "stale delete: {stale_delete:?}"
    );
    assert_eq!(
        p.read_record(&key).await.expect("read").expect("kept").body,
        b"{\"n\":3}"
    );
    p.delete_record(&key, &second).await.expect("delete");
    assert!(p.read_record(&key).await.expect("read deleted").is_none());
    p.delete_record(&key, &second)
        .await
        .expect("deleting a missing record is quiet");
    let bad = p.read_record("../outside").await;
    assert!(matches!(bad, Err(Error::InvalidInput { .. })), "{bad:?}");
}

/// Where the capability has no records (or no alarms), those calls are `Unsupported`.
pub async fn records_and_alarms_unsupported_say_so(p: &dyn Provider, _fx: &Fixture) {
    let c = cap(p);
    if !c.records {
        let e = p
            .read_record("conformance/x.json")
            .await
            .expect_err("records unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        let e = p
            .delete_record("conformance/x.json", &RecordTag("t".into()))
            .await
            .expect_err("records unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    if !c.alarms {
        let e = p.alarm_states(&["x".into()]).await.expect_err("alarms unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
}
