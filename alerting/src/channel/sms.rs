//! Text messages through an HTTP SMS gateway.
//!
//! The gateway's URL and body are minijinja templates over `phone` and
//! `text` (an unknown variable is an error, not an empty string). In the
//! URL every value is percent-encoded; in a JSON body (one that starts
//! with `{`) every value is JSON-escaped, so a quote or newline in the
//! text cannot break the document; any other body gets the values as they
//! are (use `|urlencode` in a form body). `GET` sends no body. The text is
//! the notice's, on one line, cut to [`MAX_SMS_CHARS`] with an ellipsis.

use minijinja::{context, Environment, Error, Output, State, UndefinedBehavior, Value};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use vigil_config::alert::Notification;

use super::{answer, has_header, headline, SendError};
use crate::notice::Notice;

/// Longest text sent, in characters: one GSM-7 segment (160) with room
/// for the signature many gateways append.
pub const MAX_SMS_CHARS: usize = 140;

/// How values are escaped where a template prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// As they are.
    None,
    /// The inside of a JSON string.
    Json,
    /// Percent-encoded, for a URL.
    Url,
}

/// Sends `notice` to `phone` through the configured gateway.
pub(super) fn send(
    http: &ureq::Agent,
    phone: &str,
    notice: &Notice,
    notification: &Notification,
) -> Result<(), SendError> {
    let recipient = format!("sms {phone}");
    let gateway = notification
        .sms
        .as_ref()
        .ok_or_else(|| SendError::NotConfigured {
            recipient: recipient.clone(),
            what: "no SMS gateway (notification channel `sms`)".into(),
        })?;
    let invalid = |reason: String| SendError::Invalid {
        recipient: recipient.clone(),
        reason,
    };
    let text = sms_text(notice);
    let json = gateway.body.trim_start().starts_with('{');
    let url = render(&gateway.url, phone, &text, Escape::Url)
        .map_err(|e| invalid(format!("url template: {e:#}")))?;
    let body_escape = if json { Escape::Json } else { Escape::None };
    let body = render(&gateway.body, phone, &text, body_escape)
        .map_err(|e| invalid(format!("body template: {e:#}")))?;
    let content_type = if json {
        "application/json; charset=UTF-8"
    } else {
        "text/plain; charset=UTF-8"
    };
    let result = match gateway.method.to_ascii_uppercase().as_str() {
        "GET" => {
            let mut request = http.get(&url);
            for (header, value) in &gateway.headers {
                request = request.header(header, value);
            }
            request.call()
        }
        method @ ("POST" | "PUT") => {
            let mut request = if method == "POST" {
                http.post(&url)
            } else {
                http.put(&url)
            };
            if !has_header(&gateway.headers, "content-type") {
                request = request.header("Content-Type", content_type);
            }
            for (header, value) in &gateway.headers {
                request = request.header(header, value);
            }
            request.send(body.as_bytes())
        }
        other => return Err(invalid(format!("method {other:?} (use POST, PUT or GET)"))),
    };
    answer(&recipient, result).map(drop)
}

/// The notice's text (or its headline when it has none) on one line, at
/// most [`MAX_SMS_CHARS`] characters.
fn sms_text(notice: &Notice) -> String {
    let text = if notice.text.trim().is_empty() {
        headline(notice)
    } else {
        notice.text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    shorten(&text, MAX_SMS_CHARS)
}

/// `text` cut to `max` characters, the last one an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Renders `template` over `phone` and `text`, escaping what it prints.
fn render(template: &str, phone: &str, text: &str, escape: Escape) -> Result<String, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if escape != Escape::None {
        env.set_formatter(move |out: &mut Output, _: &State, value: &Value| {
            let printed = value.to_string();
            match escape {
                Escape::Json => out.write_str(&json_inner(&printed))?,
                Escape::Url => {
                    write!(out, "{}", utf8_percent_encode(&printed, NON_ALPHANUMERIC))?;
                }
                Escape::None => out.write_str(&printed)?,
            }
            Ok(())
        });
    }
    env.render_str(template, context! { phone, text })
}

/// `text` escaped as the inside of a JSON string (without the quotes).
fn json_inner(text: &str) -> String {
    let quoted = serde_json::Value::from(text).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_short_texts_and_cuts_long_ones() {
        assert_eq!(shorten("short", 140), "short");
        let long = "é".repeat(200);
        let cut = shorten(&long, 140);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn json_body_escapes_values() {
        let body = render(
            r#"{"to":"{{phone}}","text":"{{text}}"}"#,
            "+86 138",
            "a \"quoted\"\nline \\ ok",
            Escape::Json,
        )
        .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["to"], "+86 138");
        assert_eq!(parsed["text"], "a \"quoted\"\nline \\ ok");
    }

    #[test]
    fn url_values_are_percent_encoded() {
        let url = render(
            "http://gw/send?to={{phone}}&msg={{text}}",
            "+86 138",
            "a&b=c",
            Escape::Url,
        )
        .unwrap();
        assert_eq!(url, "http://gw/send?to=%2B86%20138&msg=a%26b%3Dc");
    }

    #[test]
    fn unknown_variables_are_errors() {
        assert!(render("{{phon}}", "1", "t", Escape::None).is_err());
    }
}
