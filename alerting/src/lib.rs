//! vigil-alerting: placeholder crate, built by a later issue.
