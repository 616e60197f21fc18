//! What a notification says: title and text for people, from the rule's
//! message settings. `title` and `text` are minijinja templates over
//! `monitor`, `alert`, `level`, `state`, `minute` (local time of the
//! rule's timezone), `value`, `threshold`, `condition`, `keys` (a map),
//! `lines` and the named groups that `extract` finds in the first attached
//! line (for match_alert: `text: "order {{ order }} failed: {{ reason }}"`
//! with `extract: "order=(?P<order>\d+) .*reason=(?P<reason>.*)"`).
//! A template that fails to render is sent as written, with a warning.

use chrono::TimeZone;
use minijinja::{Environment, Value};
use vigil_config::alert::{Channel, Level, Notification};

use crate::alerter::Watched;
use crate::eval::{Crossing, Keys};
use crate::notice::{AlertState, Notice};

/// What a notice is about.
pub struct About<'a> {
    /// The rule and its monitor.
    pub watched: &'a Watched,
    /// The evaluated minute, epoch seconds.
    pub minute: i64,
    /// The key.
    pub keys: &'a Keys,
    /// Firing or resolved.
    pub state: AlertState,
    /// The channel.
    pub channel: Channel,
    /// What crossed the threshold (firing only).
    pub crossing: Option<&'a Crossing>,
    /// Attached lines.
    pub lines: &'a [String],
}

/// Renders `template` over `ctx`; on error, the template as written.
fn render(template: &str, ctx: &Value) -> String {
    let env = Environment::new();
    env.render_str(template, ctx).unwrap_or_else(|e| {
        log::warn!("alert message template `{template}`: {e}");
        template.to_string()
    })
}

/// Builds the notice for `about` with the settings of `n`.
pub fn notice(about: &About, n: &Notification) -> Notice {
    let rule = &about.watched.rule;
    let local = rule
        .timezone
        .timestamp_opt(about.minute, 0)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default();
    let mut vars = serde_json::Map::new();
    if let (Some(re), Some(first)) = (&rule.message.extract, about.lines.first()) {
        if let Some(caps) = re.captures(first) {
            for name in re.capture_names().flatten() {
                if let Some(m) = caps.name(name) {
                    vars.insert(name.to_string(), m.as_str().into());
                }
            }
        }
    }
    let keys: serde_json::Map<String, serde_json::Value> = about
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().into()))
        .collect();
    for (k, v) in [
        ("monitor", rule.monitor.as_str().into()),
        ("alert", rule.name.as_str().into()),
        ("level", rule.level.name().into()),
        ("state", about.state.name().into()),
        ("minute", local.as_str().into()),
        ("value", about.crossing.map(|c| c.value).into()),
        ("threshold", about.crossing.map(|c| c.threshold).into()),
        (
            "condition",
            about.crossing.map(|c| c.condition.clone()).into(),
        ),
        ("keys", keys.into()),
        ("lines", about.lines.to_vec().into()),
    ] {
        vars.insert(k.to_string(), v);
    }
    let ctx = Value::from_serialize(&vars);
    let title = match &rule.message.title {
        Some(t) => render(t, &ctx),
        None => format!("{}/{}", rule.monitor, rule.name),
    };
    let key_text: Vec<String> = about.keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut text = String::new();
    let urgent = matches!(rule.level, Level::P0 | Level::P1);
    if let (true, AlertState::Firing, Some(e)) = (urgent, about.state, &rule.message.emergency) {
        text.push_str(&render(e, &ctx));
        text.push('\n');
    }
    match (about.state, about.crossing) {
        (AlertState::Firing, Some(c)) => text.push_str(&format!(
            "{} {title} FIRING at {local}: {} (value {})",
            rule.level, c.condition, c.value
        )),
        _ => text.push_str(&format!("{} {title} RESOLVED at {local}", rule.level)),
    }
    if !key_text.is_empty() {
        text.push_str(&format!("; {}", key_text.join(", ")));
    }
    if let Some(custom) = &rule.message.text {
        text.push('\n');
        text.push_str(&render(custom, &ctx));
    }
    let link = rule.message.link.clone().or_else(|| {
        n.dashboard_url
            .as_ref()
            .map(|base| format!("{}/monitors/{}", base.trim_end_matches('/'), rule.monitor))
    });
    Notice {
        alert: rule.name.clone(),
        monitor: rule.monitor.clone(),
        app: about.watched.app.clone(),
        level: rule.level.name().to_string(),
        state: about.state,
        minute: about.minute,
        keys: about.keys.clone(),
        value: about.crossing.map(|c| c.value),
        threshold: about.crossing.map(|c| c.threshold),
        condition: about
            .crossing
            .map(|c| c.condition.clone())
            .unwrap_or_default(),
        channel: about.channel.name().to_string(),
        title,
        text,
        lines: about.lines.to_vec(),
        link,
    }
}
