//! The agent's labels: given on the command line, defaulted from the
//! environment.
//!
//! `--labels app=pay,idc=sh1` style pairs are parsed by [`parse_pairs`];
//! [`resolve`] fills what is missing from the environment, read through a
//! lookup function so tests can inject one ([`system_env`] is the real one):
//!
//! - `instance`: `NODE_NAME`, else `POD_NAME`, else `HOSTNAME` (a DaemonSet
//!   passes node and pod names through the downward API);
//! - `idc`, `ldc`: `VIGIL_IDC`, `VIGIL_LDC`;
//! - `node`, `pod` (in [`Labels::extra`]): `NODE_NAME`, `POD_NAME` when set;
//! - any other pair goes to [`Labels::extra`].

use vigil_model::wire::Labels;

/// Why labels could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// An item of the list is not `key=value`.
    #[error("label `{item}`: expected key=value")]
    NotAPair {
        /// The item.
        item: String,
    },
    /// A key with characters other than letters, digits, `_`, `-`, `.`, or
    /// not starting with a letter or `_`.
    #[error("label key `{key}`: use letters, digits, `_`, `-` and `.`, starting with a letter")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// A key without a value.
    #[error("label `{key}`: empty value")]
    EmptyValue {
        /// The key.
        key: String,
    },
    /// The same key twice.
    #[error("label `{key}` given twice")]
    Duplicate {
        /// The key.
        key: String,
    },
    /// No `instance` label and none of `NODE_NAME`, `POD_NAME`, `HOSTNAME`
    /// nor /etc/hostname names the machine.
    #[error("no instance label: pass instance=… or set NODE_NAME, POD_NAME or HOSTNAME")]
    NoInstance,
}

/// Parses a comma-separated list of `key=value` pairs (spaces around items,
/// keys and values are trimmed; an empty list is allowed).
///
/// # Errors
///
/// The first malformed item, bad key, empty value or repeated key.
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, LabelError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once('=').ok_or_else(|| LabelError::NotAPair {
            item: item.to_string(),
        })?;
        let (key, value) = (key.trim(), value.trim());
        let mut chars = key.chars();
        let starts_well = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
            return Err(LabelError::InvalidKey {
                key: key.to_string(),
            });
        }
        if value.is_empty() {
            return Err(LabelError::EmptyValue {
                key: key.to_string(),
            });
        }
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(LabelError::Duplicate {
                key: key.to_string(),
            });
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

/// Builds the labels from explicit `pairs` (from [`parse_pairs`]) and the
/// environment read through `env`; see the [module docs](self) for the
/// defaults. Empty environment values count as unset.
///
/// # Errors
///
/// [`LabelError::NoInstance`] if no instance name can be found.
pub fn resolve(
    pairs: Vec<(String, String)>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Labels, LabelError> {
    let env = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut labels = Labels::default();
    let mut instance = None;
    for (key, value) in pairs {
        match key.as_str() {
            "instance" => instance = Some(value),
            "idc" => labels.idc = Some(value),
            "ldc" => labels.ldc = Some(value),
            _ => {
                labels.extra.insert(key, value);
            }
        }
    }
    let node = env("NODE_NAME");
    let pod = env("POD_NAME");
    labels.instance = instance
        .or_else(|| node.clone())
        .or_else(|| pod.clone())
        .or_else(|| env("HOSTNAME"))
        .ok_or(LabelError::NoInstance)?;
    labels.idc = labels.idc.or_else(|| env("VIGIL_IDC"));
    labels.ldc = labels.ldc.or_else(|| env("VIGIL_LDC"));
    if let Some(node) = node {
        labels.extra.entry("node".to_string()).or_insert(node);
    }
    if let Some(pod) = pod {
        labels.extra.entry("pod".to_string()).or_insert(pod);
    }
    Ok(labels)
}

/// The process environment, where `HOSTNAME` falls back to the content of
/// /etc/hostname (shells set `HOSTNAME`, but do not export it).
pub fn system_env(name: &str) -> Option<String> {
    let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if value.is_none() && name == "HOSTNAME" {
        return std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
    }
    value
}
