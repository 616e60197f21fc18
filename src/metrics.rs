//! The built-in monitors `system`, `jvm` and `port`: agents' samples rolled
//! up into per-minute rows (per series, the average of the minute's samples
//! and `<name>_max`), keyed by instance and the series' own keys.

use std::collections::{BTreeMap, BTreeSet};

use vigil_model::wire::Sample;
use vigil_model::{MinuteRow, Value};

/// The built-in metrics monitors.
pub const MONITORS: [&str; 3] = ["system", "jvm", "port"];

/// A series: instance, then the sample's keys in name order.
type Series = Vec<(String, String)>;

/// One value's samples in one minute.
#[derive(Debug, Clone, Copy)]
struct Acc {
    sum: f64,
    n: u64,
    max: f64,
}

/// Per series, per value name.
type Minute = BTreeMap<Series, BTreeMap<String, Acc>>;

/// See the [module docs](self).
#[derive(Debug, Default)]
pub struct Rollup {
    /// Per (monitor, minute start in s): minutes not written yet.
    open: BTreeMap<(String, i64), Minute>,
    /// Minutes written, kept while late samples may still amend them.
    written: BTreeMap<(String, i64), Minute>,
    /// Written minutes that received samples since.
    dirty: BTreeSet<(String, i64)>,
    /// The newest sample of every series.
    latest: BTreeMap<(String, Series), (i64, BTreeMap<String, f64>)>,
}

impl Rollup {
    /// Adds a sample of `instance` received at `now_ms`; samples of an
    /// unknown monitor, with a non-finite value, or of a minute already
    /// final (ended more than `final_after_ms` ago and no longer kept) are
    /// refused with the reason.
    pub fn push(
        &mut self,
        instance: &str,
        s: &Sample,
        now_ms: i64,
        final_after_ms: i64,
    ) -> Result<(), String> {
        if !MONITORS.contains(&s.monitor.as_str()) {
            return Err(format!("unknown metrics monitor `{}`", s.monitor));
        }
        if let Some((name, _)) = s.values.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!(
                "{}: value `{name}` is not a finite number",
                s.monitor
            ));
        }
        let mut series: Series = vec![("instance".to_string(), instance.to_string())];
        series.extend(s.keys.iter().map(|(k, v)| (k.clone(), v.clone())));
        let minute = s.time_ms.div_euclid(60_000) * 60;
        let id = (s.monitor.clone(), minute);
        let slot = if let Some(m) = self.written.get_mut(&id) {
            self.dirty.insert(id);
            m
        } else if (minute + 60) * 1000 + final_after_ms <= now_ms && !self.open.contains_key(&id) {
            return Err(format!(
                "{}: sample of a final minute ({minute}), dropped as late",
                s.monitor
            ));
        } else {
            self.open.entry(id).or_default()
        };
        let accs = slot.entry(series.clone()).or_default();
        for (name, &v) in &s.values {
            let a = accs.entry(name.clone()).or_insert(Acc {
                sum: 0.0,
                n: 0,
                max: f64::NEG_INFINITY,
            });
            a.sum += v;
            a.n += 1;
            a.max = a.max.max(v);
        }
        let latest = self
            .latest
            .entry((s.monitor.clone(), series))
            .or_insert((i64::MIN, BTreeMap::new()));
        if s.time_ms >= latest.0 {
            *latest = (s.time_ms, s.values.clone());
        }
        Ok(())
    }

    /// The minutes due at `now_ms` (ended `close_after_ms` ago), and the
    /// written ones amended since, as whole minutes of rows per monitor;
    /// written minutes older than `lateness_ms` are forgotten.
    pub fn close(
        &mut self,
        now_ms: i64,
        close_after_ms: i64,
        lateness_ms: i64,
    ) -> Vec<(String, Vec<MinuteRow>)> {
        let due: Vec<(String, i64)> = self
            .open
            .keys()
            .filter(|(_, minute)| (minute + 60) * 1000 + close_after_ms <= now_ms)
            .cloned()
            .collect();
        let mut out: BTreeMap<String, Vec<MinuteRow>> = BTreeMap::new();
        for id in due {
            if let Some(m) = self.open.remove(&id) {
                out.entry(id.0.clone())
                    .or_default()
                    .extend(rows(&id.0, id.1, &m));
                self.written.insert(id, m);
            }
        }
        for id in std::mem::take(&mut self.dirty) {
            if let Some(m) = self.written.get(&id) {
                out.entry(id.0.clone())
                    .or_default()
                    .extend(rows(&id.0, id.1, m));
            }
        }
        self.written
            .retain(|(_, minute), _| (minute + 60) * 1000 + close_after_ms + lateness_ms > now_ms);
        out.into_iter().collect()
    }

    /// The minute in progress of `monitor`, as rows.
    pub fn peek(&self, monitor: &str) -> Vec<MinuteRow> {
        self.open
            .iter()
            .filter(|((m, _), _)| m == monitor)
            .flat_map(|((m, minute), series)| rows(m, *minute, series))
            .collect()
    }

    /// The newest sample of every series of `monitor`: time (epoch ms),
    /// keys (instance first) and values.
    pub fn latest(&self, monitor: &str) -> Vec<(i64, &Series, &BTreeMap<String, f64>)> {
        self.latest
            .iter()
            .filter(|((m, _), _)| m == monitor)
            .map(|((_, series), (t, values))| (*t, series, values))
            .collect()
    }
}

/// The rows of one minute: per series, every value's average and maximum.
fn rows(monitor: &str, minute: i64, m: &Minute) -> Vec<MinuteRow> {
    m.iter()
        .map(|(series, accs)| {
            let mut row = MinuteRow::new(monitor, minute, series.clone());
            for (name, a) in accs {
                row.values
                    .push((name.clone(), Value::Float(a.sum / a.n as f64)));
                row.values
                    .push((format!("{name}_max"), Value::Float(a.max)));
            }
            row
        })
        .collect()
}

/// The rows of a metrics monitor in `view`, from its rows per instance:
/// `instance` is replaced by the instance's IDC or LDC label (from
/// `labels_of`, `unknown` when it has none) or dropped (total), and the
/// rows that then share a minute and keys are combined: `<name>_max` is the
/// largest, every other value the mean over the instances (the typical
/// node: `cpu_util` of an IDC is its instances' average).
pub fn view_rows(
    rows: Vec<MinuteRow>,
    view: vigil_model::View,
    labels_of: impl Fn(&str) -> Option<vigil_model::wire::Labels>,
) -> Vec<MinuteRow> {
    use vigil_model::View;
    if view == View::Instance {
        return rows;
    }
    type Group = (i64, Vec<(String, String)>);
    let mut groups: BTreeMap<Group, (String, BTreeMap<String, Acc>)> = BTreeMap::new();
    for row in rows {
        let mut keys = Vec::with_capacity(row.keys.len());
        for (k, v) in row.keys {
            if k != "instance" {
                keys.push((k, v));
            } else if view != View::Total {
                let label = labels_of(&v)
                    .and_then(|l| view.label_of(&l))
                    .unwrap_or_else(|| "unknown".to_string());
                keys.insert(0, (view.name().to_string(), label));
            }
        }
        let slot = groups
            .entry((row.minute, keys))
            .or_insert_with(|| (row.monitor.clone(), BTreeMap::new()));
        for (name, value) in row.values {
            if let Some(v) = value.as_f64() {
                let acc = slot.1.entry(name).or_insert(Acc {
                    sum: 0.0,
                    n: 0,
                    max: f64::NEG_INFINITY,
                });
                acc.sum += v;
                acc.n += 1;
                acc.max = acc.max.max(v);
            }
        }
    }
    groups
        .into_iter()
        .map(|((minute, keys), (monitor, values))| {
            let mut row = MinuteRow::new(&monitor, minute, keys);
            for (name, a) in values {
                let v = if name.ends_with("_max") {
                    a.max
                } else {
                    a.sum / a.n as f64
                };
                row.values.push((name, Value::Float(v)));
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_combine_instances_by_label() {
        use vigil_model::wire::Labels;
        use vigil_model::View;
        let row = |instance: &str, cpu: f64, max: f64| {
            let mut r = MinuteRow::new("system", 60, vec![("instance".into(), instance.into())]);
            r.values.push(("cpu_util".into(), Value::Float(cpu)));
            r.values.push(("cpu_util_max".into(), Value::Float(max)));
            r
        };
        let rows = vec![
            row("a", 10.0, 30.0),
            row("b", 20.0, 25.0),
            row("c", 60.0, 90.0),
        ];
        let labels = |i: &str| {
            (i != "c").then(|| Labels {
                instance: i.to_string(),
                idc: Some("hz".into()),
                ldc: None,
                extra: Default::default(),
            })
        };
        let idc = view_rows(rows.clone(), View::Idc, labels);
        assert_eq!(idc.len(), 2);
        assert_eq!(idc[0].keys, vec![("idc".to_string(), "hz".to_string())]);
        assert_eq!(idc[0].values[0].1, Value::Float(15.0));
        assert_eq!(idc[0].values[1].1, Value::Float(30.0));
        assert_eq!(idc[1].keys[0].1, "unknown");
        let total = view_rows(rows.clone(), View::Total, labels);
        assert_eq!(total.len(), 1);
        assert!(total[0].keys.is_empty());
        assert_eq!(total[0].values[0].1, Value::Float(30.0));
        assert_eq!(total[0].values[1].1, Value::Float(90.0));
        assert_eq!(view_rows(rows.clone(), View::Instance, labels).len(), 3);
    }

    fn sample(time_ms: i64, partition: &str, util: f64) -> Sample {
        Sample {
            monitor: "system".into(),
            time_ms,
            keys: [("partition".to_string(), partition.to_string())].into(),
            values: [("partition_util".to_string(), util)].into(),
        }
    }

    #[test]
    fn minutes_average_and_max_per_series() {
        let mut r = Rollup::default();
        let t0 = 1_795_140_000_000;
        let fin = 121_000;
        for (t, p, v) in [
            (0, "/", 10.0),
            (10_000, "/", 20.0),
            (50_000, "/data", 5.0),
            (60_000, "/", 40.0),
        ] {
            r.push("n1", &sample(t0 + t, p, v), t0 + t, fin).unwrap();
        }
        let disk = Sample {
            monitor: "disk".into(),
            ..sample(t0, "/", 1.0)
        };
        assert!(r.push("n1", &disk, t0, fin).is_err());
        assert!(r.push("n1", &sample(t0, "/", f64::NAN), t0, fin).is_err());
        assert!(r.close(t0 + 60_000, 1_000, 120_000).is_empty());
        let out = r.close(t0 + 61_000, 1_000, 120_000);
        assert_eq!(out.len(), 1);
        let rows = &out[0].1;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].key("partition"), Some("/"));
        assert_eq!(rows[0].key("instance"), Some("n1"));
        assert_eq!(rows[0].value("partition_util"), Some(Value::Float(15.0)));
        assert_eq!(
            rows[0].value("partition_util_max"),
            Some(Value::Float(20.0))
        );
        // A late sample rewrites its minute whole; later ones are forgotten.
        r.push("n2", &sample(t0 + 30_000, "/", 50.0), t0 + 62_000, fin)
            .unwrap();
        let again = r.close(t0 + 62_000, 1_000, 120_000);
        assert_eq!(again[0].1.len(), 3);
        assert_eq!(r.latest("system").len(), 3);
        assert_eq!(r.peek("system").len(), 1);
        assert!(r.close(t0 + 200_000, 1_000, 120_000).len() == 1);
        // Past the lateness window a sample is refused: it would replace
        // the stored minute with itself alone.
        assert!(r
            .push("n1", &sample(t0, "/", 1.0), t0 + 200_000, fin)
            .is_err());
        assert!(r.open.is_empty());
    }
}
