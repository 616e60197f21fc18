//! Who a rule's notifications reach on each channel: the groups, contacts
//! and webhooks the rule names, global webhooks, and subscriptions for the
//! rule's level (DESIGN.md §7). A subscription decides whether throttling
//! applies to its recipients; everyone else is throttled.

use std::collections::BTreeMap;

use vigil_config::alert::{AlertRule, Channel, Notification};

use crate::notice::Recipient;

/// Recipients of one channel, each with whether throttling applies.
pub type Reached = BTreeMap<Recipient, bool>;

/// Adds what `name` (a group, contact or webhook) reaches on `channel`.
fn add_named(n: &Notification, name: &str, channel: Channel, throttle: bool, out: &mut Reached) {
    let mut add = |r: Recipient| {
        out.insert(r, throttle);
    };
    if let Some(group) = n.group(name) {
        for contact in group.contacts.iter().filter_map(|c| n.contact(c)) {
            add_contact(contact, channel, &mut add);
        }
        if channel == Channel::Im {
            for robot in &group.robots {
                add(Recipient::Robot {
                    url: robot.url.clone(),
                });
            }
        }
    }
    if let Some(contact) = n.contact(name) {
        add_contact(contact, channel, &mut add);
    }
    if channel == Channel::Webhook && n.webhook(name).is_some() {
        add(Recipient::Webhook {
            name: name.to_string(),
        });
    }
}

fn add_contact(
    contact: &vigil_config::alert::Contact,
    channel: Channel,
    add: &mut impl FnMut(Recipient),
) {
    match channel {
        Channel::Email => {
            if let Some(address) = &contact.email {
                add(Recipient::Email {
                    address: address.clone(),
                });
            }
        }
        Channel::Sms => {
            if let Some(phone) = &contact.phone {
                add(Recipient::Sms {
                    phone: phone.clone(),
                });
            }
        }
        Channel::Im | Channel::Webhook => {}
    }
}

/// Everyone `rule` reaches on `channel`.
pub fn reached(n: &Notification, rule: &AlertRule, channel: Channel) -> Reached {
    let mut out = Reached::new();
    for name in &rule.notify {
        add_named(n, name, channel, true, &mut out);
    }
    if channel == Channel::Webhook {
        for hook in n.webhooks.iter().filter(|w| w.global) {
            out.insert(
                Recipient::Webhook {
                    name: hook.name.clone(),
                },
                true,
            );
        }
    }
    for sub in &n.subscriptions {
        if !sub.levels.contains(&rule.level) {
            continue;
        }
        let mut theirs = Reached::new();
        add_named(n, &sub.who, channel, sub.throttle, &mut theirs);
        out.extend(theirs);
    }
    out
}
