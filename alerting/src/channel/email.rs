//! Email over SMTP (lettre, blocking): one multipart message with a
//! plain-text and an HTML part, both listing the rule, level, state, value,
//! threshold, keys, the attached lines and the dashboard link.
//!
//! `tls: none` talks plain SMTP, `starttls` upgrades the connection and
//! refuses to go on without TLS, `tls` speaks TLS from the first byte;
//! certificates are verified against the bundled Mozilla roots.

use std::fmt::Write as _;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use vigil_config::alert::{EmailChannel, Notification, SmtpTls};
use vigil_model::html::escape;

use super::{headline, keys_text, link, minute_rfc3339, number_text, SendError, REQUEST_TIMEOUT};
use crate::notice::Notice;

/// Sends `notice` to `address` through the configured SMTP server.
pub(super) fn send(
    address: &str,
    notice: &Notice,
    notification: &Notification,
) -> Result<(), SendError> {
    let recipient = format!("email {address}");
    let smtp = notification
        .email
        .as_ref()
        .ok_or_else(|| SendError::NotConfigured {
            recipient: recipient.clone(),
            what: "no SMTP server (notification channel `email`)".into(),
        })?;
    let invalid = |reason: String| SendError::Invalid {
        recipient: recipient.clone(),
        reason,
    };
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| invalid(format!("sender {:?}: {e}", smtp.from)))?;
    let to: Mailbox = address
        .parse()
        .map_err(|e| invalid(format!("address {address:?}: {e}")))?;
    let rows = rows(notice);
    let link = link(notice, notification);
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(headline(notice))
        .multipart(MultiPart::alternative_plain_html(
            plain(notice, &rows, link.as_deref()),
            html(notice, &rows, link.as_deref()),
        ))
        .map_err(|e| invalid(e.to_string()))?;
    let smtp_error = |source| SendError::Smtp {
        recipient: recipient.clone(),
        source,
    };
    transport(smtp)
        .map_err(smtp_error)?
        .send(&message)
        .map(drop)
        .map_err(smtp_error)
}

/// A transport for one message (no pool: alerts are rare), each SMTP step
/// bounded by [`REQUEST_TIMEOUT`].
fn transport(smtp: &EmailChannel) -> Result<SmtpTransport, lettre::transport::smtp::Error> {
    let builder = match smtp.tls {
        SmtpTls::None => SmtpTransport::builder_dangerous(smtp.host.as_str()),
        SmtpTls::Starttls => SmtpTransport::starttls_relay(&smtp.host)?,
        SmtpTls::Tls => SmtpTransport::relay(&smtp.host)?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(REQUEST_TIMEOUT));
    if let Some(user) = &smtp.username {
        let password = smtp.password.clone().unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// The facts both parts list, as (label, value).
fn rows(notice: &Notice) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Rule", notice.title.clone()),
        ("Monitor", notice.monitor.clone()),
    ];
    if let Some(app) = &notice.app {
        rows.push(("App", app.clone()));
    }
    rows.extend([
        ("Level", notice.level.clone()),
        ("State", notice.state.name().to_string()),
        ("Minute", minute_rfc3339(notice.minute)),
        ("Condition", notice.condition.clone()),
        ("Value", number_text(notice.value)),
        ("Threshold", number_text(notice.threshold)),
    ]);
    if !notice.keys.is_empty() {
        rows.push(("Keys", keys_text(notice)));
    }
    rows
}

/// The plain-text part.
fn plain(notice: &Notice, rows: &[(&str, String)], link: Option<&str>) -> String {
    let mut out = format!("{}\n\n", headline(notice));
    for (label, value) in rows {
        // Invariant: writing to a String cannot fail.
        writeln!(out, "{:<10} {value}", format!("{label}:")).expect("write to String");
    }
    if !notice.text.is_empty() {
        writeln!(out, "\n{}", notice.text).expect("write to String");
    }
    if !notice.lines.is_empty() {
        out.push_str("\nLines:\n");
        for line in &notice.lines {
            writeln!(out, "  {line}").expect("write to String");
        }
    }
    if let Some(link) = link {
        writeln!(out, "\nDashboard: {link}").expect("write to String");
    }
    out
}

/// The HTML part: the same content, every value escaped.
fn html(notice: &Notice, rows: &[(&str, String)], link: Option<&str>) -> String {
    let colour = match notice.level.as_str() {
        "P0" => "#d32f2f",
        "P1" => "#ef6c00",
        _ => "#455a64",
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n\
         <h2 style=\"color:{colour}\">{}</h2>\n<table>\n",
        escape(&headline(notice))
    );
    for (label, value) in rows {
        writeln!(
            out,
            "<tr><th align=\"left\">{label}</th><td>{}</td></tr>",
            escape(value)
        )
        .expect("write to String");
    }
    out.push_str("</table>\n");
    if !notice.text.is_empty() {
        writeln!(
            out,
            "<p>{}</p>",
            escape(&notice.text).replace('\n', "<br>\n")
        )
        .expect("write to String");
    }
    if !notice.lines.is_empty() {
        out.push_str("<h3>Lines</h3>\n<pre>");
        for line in &notice.lines {
            writeln!(out, "{}", escape(line)).expect("write to String");
        }
        out.push_str("</pre>\n");
    }
    if let Some(link) = link {
        let link = escape(link);
        writeln!(out, "<p><a href=\"{link}\">Dashboard</a>: {link}</p>").expect("write to String");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
