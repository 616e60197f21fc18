//! The `notification:` section (DESIGN.md §7): contacts, groups, webhooks,
//! subscriptions and channel settings.
//!
//! Contacts, groups and webhooks share one set of names, since
//! subscriptions (`who`) and rules (`notify`) name them. A contact counts
//! as notified when a subscription names it, or names or a rule notifies a
//! group it belongs to; a notified contact with an email needs
//! `channels.email`, one with a phone needs `channels.sms`.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use super::alerts::sub;
use super::Ctx;
use crate::alert::*;
use crate::error::Diagnostic;
use crate::locate::Seg;
use crate::spec::*;

/// What a name of the section stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameKind {
    /// A contact.
    Contact,
    /// A group.
    Group,
    /// A webhook.
    Webhook,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            NameKind::Contact => "contact",
            NameKind::Group => "group",
            NameKind::Webhook => "webhook",
        }
    }
}

/// A validated section, with what the checks across files need.
pub(super) struct CheckedNotification {
    /// The valid parts of the section.
    pub(super) notification: Notification,
    /// Every name written, valid or not (so a bad entry does not also make
    /// each use of its name an error).
    pub(super) names: HashMap<String, NameKind>,
    /// Where each valid contact's email was written.
    emails: HashMap<String, Diagnostic>,
    /// Where each valid contact's phone was written.
    phones: HashMap<String, Diagnostic>,
}

impl CheckedNotification {
    /// "groups: a, b; webhooks: c", for messages about unknown names.
    pub(super) fn groups_and_webhooks(&self) -> String {
        let list = |kind: NameKind| {
            let mut names: Vec<&str> = self
                .names
                .iter()
                .filter(|(_, k)| **k == kind)
                .map(|(n, _)| n.as_str())
                .collect();
            names.sort_unstable();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        format!(
            "defined groups: {}; webhooks: {}",
            list(NameKind::Group),
            list(NameKind::Webhook)
        )
    }

    /// Errors for the email and SMS channels that notified contacts need but
    /// that are not configured; `notified` are the names rules notify.
    pub(super) fn missing_channels(&self, notified: &HashSet<&str>) -> Vec<Diagnostic> {
        let n = &self.notification;
        let mut reached: HashSet<&str> = HashSet::new();
        for s in &n.subscriptions {
            reached.insert(&s.who);
        }
        let named: HashSet<&str> = reached
            .iter()
            .copied()
            .chain(notified.iter().copied())
            .collect();
        for g in n.groups.iter().filter(|g| named.contains(g.name.as_str())) {
            reached.extend(g.contacts.iter().map(String::as_str));
        }
        let mut out = Vec::new();
        let first_with = |places: &HashMap<String, Diagnostic>| {
            n.contacts
                .iter()
                .filter(|c| reached.contains(c.name.as_str()))
                .find_map(|c| places.get(&c.name).map(|d| (c.name.clone(), d.clone())))
        };
        if n.email.is_none() {
            if let Some((name, mut d)) = first_with(&self.emails) {
                d.message = format!(
                    "contact `{name}` has an email and is notified, but no email server is set: add `channels: {{ email: {{ host: <smtp host>, port: 25, from: <sender address> }} }}` to `notification:`, or remove the email"
                );
                out.push(d);
            }
        }
        if n.sms.is_none() {
            if let Some((name, mut d)) = first_with(&self.phones) {
                d.message = format!(
                    "contact `{name}` has a phone and is notified, but no SMS gateway is set: add `channels: {{ sms: {{ url: <gateway URL>, body: <template with {{{{phone}}}} and {{{{text}}}}> }} }}` to `notification:`, or remove the phone"
                );
                out.push(d);
            }
        }
        out
    }
}

impl Ctx<'_> {
    /// Validates a `notification:` section.
    pub(super) fn notification(&mut self, spec: &NotificationSpec) -> CheckedNotification {
        let base = vec![Seg::from("notification")];
        let mut checked = CheckedNotification {
            notification: Notification::default(),
            names: HashMap::new(),
            emails: HashMap::new(),
            phones: HashMap::new(),
        };
        // Where each name was first written, for duplicate messages.
        let mut lines: HashMap<String, usize> = HashMap::new();
        let mut name = |this: &mut Self, path: &[Seg], text: &str, kind: NameKind| {
            let p = sub(path, "name");
            if !valid_name(text) {
                this.error(
                    &p,
                    format!(
                        "{} name `{text}` must be 2 to 40 characters: a letter or CJK character first, then letters, CJK characters, digits, `.` and `_`",
                        kind.noun()
                    ),
                );
            }
            if let Some(first) = checked.names.get(text) {
                this.error(
                    &p,
                    format!(
                        "name `{text}` is already used by the {} at line {}; contacts, groups and webhooks need distinct names (subscriptions and `notify` refer to them by name)",
                        first.noun(),
                        lines[text]
                    ),
                );
            } else {
                checked.names.insert(text.to_string(), kind);
                lines.insert(text.to_string(), this.loc.value(&p).line);
            }
        };

        let contacts_path = sub(&base, "contacts");
        let mut emails: HashMap<String, &str> = HashMap::new();
        let mut phones: HashMap<&str, &str> = HashMap::new();
        let mut contacts = Vec::with_capacity(spec.contacts.len());
        for (k, c) in spec.contacts.iter().enumerate() {
            let p = sub(&contacts_path, k);
            let before = self.diags.len();
            name(self, &p, &c.name, NameKind::Contact);
            if c.email.is_none() && c.phone.is_none() {
                self.error(
                    &p,
                    format!(
                        "contact `{}` cannot be reached: add `email:`, `phone:` or both",
                        c.name
                    ),
                );
            }
            if let Some(email) = &c.email {
                let at = sub(&p, "email");
                if !valid_email(email) {
                    self.error(
                        &at,
                        format!("invalid email address `{email}`; write it as name@example.com"),
                    );
                } else if let Some(other) = emails.insert(email.to_lowercase(), &c.name) {
                    self.error(
                        &at,
                        format!("email `{email}` already belongs to contact `{other}`; an email belongs to one contact only (put both contacts in a group instead)"),
                    );
                }
            }
            if let Some(phone) = &c.phone {
                let at = sub(&p, "phone");
                if !valid_phone(&phone.0) {
                    self.error(
                        &at,
                        format!("invalid phone `{}`: write an optional `+` then 5 to 20 digits, without spaces or dashes (e.g. \"+8613800000000\")", phone.0),
                    );
                } else if let Some(other) = phones.insert(&phone.0, &c.name) {
                    self.error(
                        &at,
                        format!("phone `{}` already belongs to contact `{other}`; a phone belongs to one contact only (put both contacts in a group instead)", phone.0),
                    );
                }
            }
            if self.diags.len() > before {
                continue;
            }
            if c.email.is_some() {
                let d = self.diag_at(&sub(&p, "email"), String::new());
                checked.emails.insert(c.name.clone(), d);
            }
            if c.phone.is_some() {
                let d = self.diag_at(&sub(&p, "phone"), String::new());
                checked.phones.insert(c.name.clone(), d);
            }
            contacts.push(Contact {
                name: c.name.clone(),
                email: c.email.clone(),
                phone: c.phone.as_ref().map(|p| p.0.clone()),
            });
        }

        let contact_names: Vec<&str> = spec.contacts.iter().map(|c| c.name.as_str()).collect();
        let groups_path = sub(&base, "groups");
        let mut groups = Vec::with_capacity(spec.groups.len());
        for (k, g) in spec.groups.iter().enumerate() {
            let p = sub(&groups_path, k);
            let before = self.diags.len();
            name(self, &p, &g.name, NameKind::Group);
            if g.contacts.is_empty() && g.robots.is_empty() {
                self.error(
                    &p,
                    format!(
                        "group `{}` reaches nobody: add `contacts:` or `robots:`",
                        g.name
                    ),
                );
            }
            let mut members: Vec<String> = Vec::with_capacity(g.contacts.len());
            for (j, member) in g.contacts.iter().enumerate() {
                if !contact_names.contains(&member.as_str()) {
                    let known = if contact_names.is_empty() {
                        "no contact is defined: add it under `contacts:`".to_string()
                    } else {
                        format!("defined contacts: {}", contact_names.join(", "))
                    };
                    self.error(
                        &sub(&sub(&p, "contacts"), j),
                        format!(
                            "group `{}` lists `{member}`, which is no contact; {known}",
                            g.name
                        ),
                    );
                } else if !members.contains(member) {
                    members.push(member.clone());
                }
            }
            let mut robots = Vec::with_capacity(g.robots.len());
            for (j, r) in g.robots.iter().enumerate() {
                let at = sub(&sub(&sub(&p, "robots"), j), "url");
                if self.http_url(&at, &r.url, "robot URL") {
                    robots.push(Robot {
                        url: r.url.clone(),
                        secret: r.secret.clone(),
                    });
                }
            }
            if self.diags.len() == before {
                groups.push(Group {
                    name: g.name.clone(),
                    contacts: members,
                    robots,
                });
            }
        }

        let webhooks_path = sub(&base, "webhooks");
        let mut webhooks = Vec::with_capacity(spec.webhooks.len());
        for (k, w) in spec.webhooks.iter().enumerate() {
            let p = sub(&webhooks_path, k);
            let before = self.diags.len();
            name(self, &p, &w.name, NameKind::Webhook);
            self.http_url(&sub(&p, "url"), &w.url, "webhook URL");
            let headers = self.headers(&sub(&p, "headers"), &w.headers);
            let format = match w.format.as_deref() {
                None | Some("vigil") => WebhookFormat::Vigil,
                Some("alertmanager") => WebhookFormat::Alertmanager,
                Some(other) => {
                    self.error(
                        &sub(&p, "format"),
                        format!("unknown webhook format `{other}`; use `vigil` (vigil's JSON object) or `alertmanager` (Alertmanager's webhook payload)"),
                    );
                    WebhookFormat::Vigil
                }
            };
            if self.diags.len() == before {
                webhooks.push(Webhook {
                    name: w.name.clone(),
                    url: w.url.clone(),
                    headers,
                    access_key: w.access_key.clone(),
                    secret: w.secret.clone(),
                    global: w.global,
                    format,
                });
            }
        }

        let subs_path = sub(&base, "subscriptions");
        let mut subscriptions = Vec::with_capacity(spec.subscriptions.len());
        for (k, s) in spec.subscriptions.iter().enumerate() {
            let p = sub(&subs_path, k);
            let before = self.diags.len();
            if !checked.names.contains_key(&s.who) {
                let mut all: Vec<&str> = checked.names.keys().map(String::as_str).collect();
                all.sort_unstable();
                let known = if all.is_empty() {
                    "none is defined".to_string()
                } else {
                    format!("defined: {}", all.join(", "))
                };
                self.error(
                    &sub(&p, "who"),
                    format!(
                        "subscription for `{}`, which is no group, contact or webhook; {known}",
                        s.who
                    ),
                );
            }
            let levels = match &s.levels {
                None => Level::ALL.to_vec(),
                Some(list) if list.is_empty() => {
                    self.error(
                        &sub(&p, "levels"),
                        "no level: list levels (P0 … P4) or `all`, or leave `levels` out for all"
                            .to_string(),
                    );
                    Vec::new()
                }
                Some(list) => {
                    let mut levels = Vec::new();
                    for (j, text) in list.iter().enumerate() {
                        match (text.as_str(), Level::parse(text)) {
                            ("all", _) => levels.extend(Level::ALL),
                            (_, Some(l)) => levels.push(l),
                            (_, None) => self.error(
                                &sub(&sub(&p, "levels"), j),
                                format!("unknown level `{text}`; use P0, P1, P2, P3, P4 or all"),
                            ),
                        }
                    }
                    levels.sort_unstable();
                    levels.dedup();
                    levels
                }
            };
            if self.diags.len() == before {
                subscriptions.push(Subscription {
                    who: s.who.clone(),
                    levels,
                    throttle: s.throttle.unwrap_or(true),
                });
            }
        }

        let channels = spec.channels.clone().unwrap_or_default();
        let channels_path = sub(&base, "channels");
        let email = channels
            .email
            .as_ref()
            .and_then(|e| self.email_channel(&sub(&channels_path, "email"), e));
        let sms = channels
            .sms
            .as_ref()
            .and_then(|s| self.sms_channel(&sub(&channels_path, "sms"), s));
        if let Some(url) = &spec.dashboard_url {
            self.http_url(&sub(&base, "dashboard_url"), url, "dashboard_url");
        }
        checked.notification = Notification {
            contacts,
            groups,
            webhooks,
            subscriptions,
            email,
            sms,
            dashboard_url: spec.dashboard_url.clone(),
        };
        checked
    }

    fn email_channel(&mut self, path: &[Seg], e: &EmailSpec) -> Option<EmailChannel> {
        let before = self.diags.len();
        if e.host.trim().is_empty() || e.host.chars().any(char::is_whitespace) {
            self.error(
                &sub(path, "host"),
                format!("invalid SMTP host `{}`: write a host name or address, such as smtp.example.com", e.host),
            );
        }
        let tls = match e.tls.as_deref() {
            None | Some("none") => SmtpTls::None,
            Some("starttls") => SmtpTls::Starttls,
            Some("tls") => SmtpTls::Tls,
            Some(other) => {
                self.error(
                    &sub(path, "tls"),
                    format!("unknown tls `{other}`; use none (plain SMTP), starttls or tls"),
                );
                SmtpTls::None
            }
        };
        let port = match e.port {
            None => match tls {
                SmtpTls::None => 25,
                SmtpTls::Starttls => 587,
                SmtpTls::Tls => 465,
            },
            Some(p) => u16::try_from(p).ok().filter(|p| *p > 0).unwrap_or_else(|| {
                self.error(
                    &sub(path, "port"),
                    format!("port {p} is out of range; use 1 to 65535"),
                );
                0
            }),
        };
        if !valid_email(&e.from) {
            self.error(
                &sub(path, "from"),
                format!(
                    "invalid sender address `{}`; write it as vigil@example.com",
                    e.from
                ),
            );
        }
        match (&e.username, &e.password) {
            (Some(_), None) => self.key_error(
                &sub(path, "username"),
                "a login needs both `username` and `password`: add `password`".to_string(),
            ),
            (None, Some(_)) => self.key_error(
                &sub(path, "password"),
                "a login needs both `username` and `password`: add `username`".to_string(),
            ),
            _ => {}
        }
        if self.diags.len() > before {
            return None;
        }
        Some(EmailChannel {
            host: e.host.clone(),
            port,
            tls,
            from: e.from.clone(),
            username: e.username.clone(),
            password: e.password.clone(),
        })
    }

    fn sms_channel(&mut self, path: &[Seg], s: &SmsSpec) -> Option<SmsChannel> {
        let before = self.diags.len();
        self.http_url(&sub(path, "url"), &s.url, "SMS gateway URL");
        let method = s.method.as_deref().unwrap_or("POST").to_ascii_uppercase();
        if !["POST", "PUT", "GET"].contains(&method.as_str()) {
            self.error(
                &sub(path, "method"),
                format!("unknown method `{method}`; use POST, PUT or GET"),
            );
        }
        let body = s.body.clone().unwrap_or_default();
        if method == "GET" && !body.is_empty() {
            self.key_error(
                &sub(path, "body"),
                "a GET request has no body: put `{{phone}}` and `{{text}}` in `url`, or use POST"
                    .to_string(),
            );
        }
        let both = format!("{}{body}", s.url);
        if !both.contains("{{phone}}") || !both.contains("{{text}}") {
            let at = if s.body.is_some() { "body" } else { "url" };
            self.error(
                &sub(path, at),
                "the gateway must receive the phone number and the text: use both `{{phone}}` and `{{text}}` in `body` (or in `url` for GET)".to_string(),
            );
        }
        let headers = self.headers(&sub(path, "headers"), &s.headers);
        if self.diags.len() > before {
            return None;
        }
        Some(SmsChannel {
            url: s.url.clone(),
            method,
            body,
            headers,
        })
    }

    /// Checks an http(s) URL; reports and returns false when it is not one.
    fn http_url(&mut self, path: &[Seg], url: &str, what: &str) -> bool {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty()
                && !r.starts_with('/')
                && !r.chars().any(|c| c.is_whitespace() || c.is_control())
        });
        if !ok {
            self.error(
                path,
                format!("{what} `{url}` must be an http:// or https:// URL with a host, such as http://127.0.0.1:9000/hook"),
            );
        }
        ok
    }

    /// Request headers: token names, values without control characters.
    fn headers(
        &mut self,
        path: &[Seg],
        headers: &IndexMap<String, Scalar>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let p = sub(path, name.as_str());
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            if !token {
                self.key_error(
                    &p,
                    format!("invalid header name `{name}`: use letters, digits and `-` (e.g. X-Api-Key)"),
                );
            } else if value.0.chars().any(char::is_control) {
                self.error(
                    &p,
                    format!("the value of header `{name}` has a control character (such as a line break); write it on one line"),
                );
            } else {
                out.push((name.clone(), value.0.clone()));
            }
        }
        out
    }
}

/// A name of DESIGN.md §7: 2–40 characters, a letter or CJK character,
/// then letters, CJK characters, digits, `.` and `_`.
fn valid_name(name: &str) -> bool {
    let count = name.chars().count();
    let mut chars = name.chars();
    (2..=40).contains(&count)
        && chars.next().is_some_and(char::is_alphabetic)
        && chars.all(|c| c.is_alphabetic() || c.is_ascii_digit() || c == '.' || c == '_')
}

/// `local@domain.tld`, without spaces or quoting.
fn valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// An optional `+`, then 5 to 20 digits.
fn valid_phone(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or(text);
    (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_design_7() {
        for good in ["al", "alice", "张三", "a.b_c9", "Ops.Team_2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["a", "9lives", "_x", "bob-smith", "a b", &"x".repeat(41)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_name(&"张".repeat(40)));
    }

    #[test]
    fn email_and_phone_shapes() {
        assert!(valid_email("alice@example.com"));
        assert!(valid_email("a.b+tag@mail.example.cn"));
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@@b.com",
            "a..b@c.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
        assert!(valid_phone("+8613800000000"));
        assert!(valid_phone("12345"));
        for bad in ["1234", "+", "138-0000-0000", "+86 138", &"1".repeat(21)] {
            assert!(!valid_phone(bad), "{bad}");
        }
    }
}
