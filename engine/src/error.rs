//! The engine's error type.

use thiserror::Error;

/// Why a monitor cannot be run by the engine, or why a batch was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The batch does not have the number of columns the contract requires.
    #[error("monitor {monitor}: batch has {found} columns, expected {expected}")]
    ColumnCount {
        /// The monitor's name.
        monitor: String,
        /// Columns the contract requires.
        expected: usize,
        /// Columns the batch has.
        found: usize,
    },
    /// A batch column has another Arrow type than the contract requires.
    #[error("monitor {monitor}: column `{column}` is {found}, expected {expected}")]
    ColumnType {
        /// The monitor's name.
        monitor: String,
        /// The column's name (`time` for column 0, `line` for the raw line).
        column: String,
        /// The required Arrow type.
        expected: String,
        /// The Arrow type found.
        found: String,
    },
    /// A batch column holds nulls, which the contract forbids.
    #[error("monitor {monitor}: column `{column}` has {nulls} nulls")]
    Nulls {
        /// The monitor's name.
        monitor: String,
        /// The column's name.
        column: String,
        /// How many nulls it holds.
        nulls: usize,
    },
    /// The monitor's settings are inconsistent (for example a sum over a
    /// string column); validation should have refused them.
    #[error("monitor {monitor}: {message}")]
    Invalid {
        /// The monitor's name.
        monitor: String,
        /// What is wrong.
        message: String,
    },
    /// The monitor asks for something this engine does not compute.
    #[error("monitor {monitor}: {what} is not supported")]
    Unsupported {
        /// The monitor's name.
        monitor: String,
        /// What is not supported.
        what: String,
    },
}

impl Error {
    /// An [`Error::Invalid`] for `monitor`.
    pub(crate) fn invalid(monitor: &str, message: impl Into<String>) -> Self {
        Error::Invalid {
            monitor: monitor.to_string(),
            message: message.into(),
        }
    }

    /// An [`Error::Unsupported`] for `monitor`.
    pub(crate) fn unsupported(monitor: &str, what: impl Into<String>) -> Self {
        Error::Unsupported {
            monitor: monitor.to_string(),
            what: what.into(),
        }
    }
}
