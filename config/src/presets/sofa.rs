//! The SOFA preset: the framework's stat logs (DESIGN.md §5), one
//! comma-separated line per minute per key with a call count and the total
//! elapsed milliseconds of those calls, and its error log.
//!
//! | kind | file | keys |
//! |---|---|---|
//! | service | tracelog/rpc-server-stat.log | service, method |
//! | sal | tracelog/rpc-client-stat.log | to_app, service, method |
//! | pv | tracelog/sofa-mvc-stat.log | url |
//! | dal | tracelog/zdal-db-stat.log | datasource, table |
//! | cal | tracelog/zdal-tair-stat.log | cache |
//! | msgpub | tracelog/msg-pub-stat.log | topic |
//! | msgsub | tracelog/msg-sub-stat.log | topic |
//! | error | common-error.log | (none) |

use super::{Compute, Cut, PresetColumn, PresetKind};
use crate::spec::TypeSpec;

/// The kinds of the SOFA preset, in order.
pub const KINDS: &[PresetKind] = &[SERVICE, SAL, PV, DAL, CAL, MSGPUB, MSGSUB, ERROR];

/// A text field of the comma-separated line.
const fn text(name: &'static str, n: usize) -> PresetColumn {
    PresetColumn {
        name,
        cut: Cut::Field(n),
        ty: TypeSpec::String,
        success_when: None,
    }
}

/// An integer field of the comma-separated line.
const fn int(name: &'static str, n: usize) -> PresetColumn {
    PresetColumn {
        name,
        cut: Cut::Field(n),
        ty: TypeSpec::Int,
        success_when: None,
    }
}

/// Calls served: time, fromApp, toApp, service, method, count,
/// elapsed_total_ms, result Y/N, stress T/F, caller zone.
const SERVICE: PresetKind = PresetKind {
    name: "service",
    file: "tracelog/rpc-server-stat.log",
    columns: &[
        text("time", 0),
        text("from_app", 1),
        text("to_app", 2),
        text("service", 3),
        text("method", 4),
        int("count", 5),
        int("elapsed", 6),
        text("result", 7),
        text("stress", 8),
        text("caller_zone", 9),
    ],
    group_by: &["service", "method"],
    compute: Compute::Calls,
    multiline: None,
};

/// Calls made to other applications: time, fromApp, toApp, service,
/// method, count, elapsed_total_ms, result Y/N, stress T/F, target zone.
const SAL: PresetKind = PresetKind {
    name: "sal",
    file: "tracelog/rpc-client-stat.log",
    columns: &[
        text("time", 0),
        text("from_app", 1),
        text("to_app", 2),
        text("service", 3),
        text("method", 4),
        int("count", 5),
        int("elapsed", 6),
        text("result", 7),
        text("stress", 8),
        text("target_zone", 9),
    ],
    group_by: &["to_app", "service", "method"],
    compute: Compute::Calls,
    multiline: None,
};

/// Page views: time, app, url, http method, count, elapsed_total_ms,
/// result code, stress. `code` is the HTTP code as written; `result` is
/// `Y` for 1xx, 2xx and 302, else `N`.
const PV: PresetKind = PresetKind {
    name: "pv",
    file: "tracelog/sofa-mvc-stat.log",
    columns: &[
        text("time", 0),
        text("app", 1),
        text("url", 2),
        text("http_method", 3),
        int("count", 4),
        int("elapsed", 5),
        text("code", 6),
        PresetColumn {
            name: "result",
            cut: Cut::Field(6),
            ty: TypeSpec::String,
            success_when: Some(r"^(1\d\d|2\d\d|302)$"),
        },
        text("stress", 7),
    ],
    group_by: &["url"],
    compute: Compute::Calls,
    multiline: None,
};

/// Database calls: time, app, datasource, database, table, db type, count,
/// elapsed_total_ms, result Y/N, stress.
const DAL: PresetKind = PresetKind {
    name: "dal",
    file: "tracelog/zdal-db-stat.log",
    columns: &[
        text("time", 0),
        text("app", 1),
        text("datasource", 2),
        text("database", 3),
        text("table", 4),
        text("db_type", 5),
        int("count", 6),
        int("elapsed", 7),
        text("result", 8),
        text("stress", 9),
    ],
    group_by: &["datasource", "table"],
    compute: Compute::Calls,
    multiline: None,
};

/// Cache calls: time, app, cache name, count, elapsed_total_ms, result
/// Y/N, stress.
const CAL: PresetKind = PresetKind {
    name: "cal",
    file: "tracelog/zdal-tair-stat.log",
    columns: &[
        text("time", 0),
        text("app", 1),
        text("cache", 2),
        int("count", 3),
        int("elapsed", 4),
        text("result", 5),
        text("stress", 6),
    ],
    group_by: &["cache"],
    compute: Compute::Calls,
    multiline: None,
};

/// The columns of both message logs: time, app, topic, group, count,
/// elapsed_total_ms, result Y/N, stress.
const MSG_COLUMNS: &[PresetColumn] = &[
    text("time", 0),
    text("app", 1),
    text("topic", 2),
    text("group", 3),
    int("count", 4),
    int("elapsed", 5),
    text("result", 6),
    text("stress", 7),
];

/// Messages published.
const MSGPUB: PresetKind = PresetKind {
    name: "msgpub",
    file: "tracelog/msg-pub-stat.log",
    columns: MSG_COLUMNS,
    group_by: &["topic"],
    compute: Compute::Calls,
    multiline: None,
};

/// Messages consumed.
const MSGSUB: PresetKind = PresetKind {
    name: "msgsub",
    file: "tracelog/msg-sub-stat.log",
    columns: MSG_COLUMNS,
    group_by: &["topic"],
    compute: Compute::Calls,
    multiline: None,
};

/// Errors per minute: an event starts with its date; the lines of a Java
/// stack trace after it belong to it, so an exception counts once.
const ERROR: PresetKind = PresetKind {
    name: "error",
    file: "common-error.log",
    columns: &[PresetColumn {
        name: "time",
        cut: Cut::Regex(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d{3})?)"),
        ty: TypeSpec::String,
        success_when: None,
    }],
    group_by: &[],
    compute: Compute::Events,
    multiline: Some(r"^\d{4}-\d{2}-\d{2} "),
};
