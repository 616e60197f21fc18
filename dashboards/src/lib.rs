//! vigil-dashboards: placeholder crate, built by a later issue.
