//! vigil-agent: placeholder crate, built by a later issue.
