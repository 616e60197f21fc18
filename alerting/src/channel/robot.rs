//! DingTalk-style chat robots: a markdown message POSTed to the robot's
//! webhook URL.
//!
//! With a secret, the URL gets `timestamp=<ms>&sign=<s>` where `s` is the
//! URL-encoded base64 HMAC-SHA256, keyed with the secret, of
//! `timestamp + "\n" + secret`. The robot answers 200 with
//! `{"errcode":0}` when it took the message; another `errcode` is a
//! refusal ([`SendError::RobotRefused`]).

use std::fmt::Write as _;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use vigil_config::alert::Notification;

use super::{answer, excerpt, headline, keys_text, link, minute_rfc3339, number_text, SendError};
use crate::notice::{Notice, Recipient};

/// What a robot answers.
#[derive(Debug, Deserialize)]
struct Reply {
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: String,
}

/// POSTs `notice` to the robot at `url`; its secret comes from the group
/// that lists it.
pub(super) fn send(
    http: &ureq::Agent,
    url: &str,
    notice: &Notice,
    notification: &Notification,
    now_ms: u128,
) -> Result<(), SendError> {
    let recipient = Recipient::Robot {
        url: url.to_string(),
    }
    .describe();
    let robot = notification
        .groups
        .iter()
        .flat_map(|g| &g.robots)
        .find(|r| r.url == url)
        .ok_or_else(|| SendError::NotConfigured {
            recipient: recipient.clone(),
            what: "no group lists this robot".into(),
        })?;
    let target = match &robot.secret {
        Some(secret) => signed_url(url, secret, now_ms),
        None => url.to_string(),
    };
    let body = json!({
        "msgtype": "markdown",
        "markdown": {
            "title": headline(notice),
            "text": markdown(notice, link(notice, notification).as_deref()),
        },
    })
    .to_string();
    let reply = answer(
        &recipient,
        http.post(&target)
            .header("Content-Type", "application/json; charset=UTF-8")
            .send(body.as_bytes()),
    )?;
    match serde_json::from_str::<Reply>(&reply) {
        Ok(Reply {
            errcode: Some(0), ..
        }) => Ok(()),
        Ok(Reply {
            errcode: Some(errcode),
            errmsg,
        }) => Err(SendError::RobotRefused {
            recipient,
            errcode,
            message: errmsg,
        }),
        Ok(Reply { errcode: None, .. }) | Err(_) => Err(SendError::RobotAnswer {
            recipient,
            message: excerpt(&reply),
        }),
    }
}

/// `url` with `timestamp` and `sign` appended.
fn signed_url(url: &str, secret: &str, now_ms: u128) -> String {
    // Invariant: HMAC accepts keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC key of any length");
    mac.update(format!("{now_ms}\n{secret}").as_bytes());
    let sign = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}timestamp={now_ms}&sign={}",
        utf8_percent_encode(&sign, NON_ALPHANUMERIC)
    )
}

/// The message: headline, facts, text, attached lines (quoted) and link.
fn markdown(notice: &Notice, link: Option<&str>) -> String {
    let mut out = format!("#### {}\n\n", headline(notice));
    let mut fact = |label: &str, value: &str| {
        // Invariant: writing to a String cannot fail.
        writeln!(out, "- **{label}**: {value}").expect("write to String");
    };
    fact("Level", &notice.level);
    fact("State", notice.state.name());
    fact("Minute", &minute_rfc3339(notice.minute));
    fact("Condition", &notice.condition);
    fact("Value", &number_text(notice.value));
    fact("Threshold", &number_text(notice.threshold));
    if !notice.keys.is_empty() {
        fact("Keys", &keys_text(notice));
    }
    if !notice.text.is_empty() {
        writeln!(out, "\n{}", notice.text).expect("write to String");
    }
    if !notice.lines.is_empty() {
        out.push('\n');
        for line in &notice.lines {
            writeln!(out, "> {line}").expect("write to String");
        }
    }
    if let Some(link) = link {
        writeln!(out, "\n[Dashboard]({link})").expect("write to String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_goes_into_the_query() {
        let url = signed_url(
            "https://robot/send?access_token=t",
            "SEC",
            1_700_000_000_000,
        );
        assert!(url.starts_with("https://robot/send?access_token=t&timestamp=1700000000000&sign="));
        let bare = signed_url("https://robot/send", "SEC", 1);
        assert!(bare.starts_with("https://robot/send?timestamp=1&sign="));
    }
}
