//! `vigil config export` and `vigil config import`: carry applications and
//! monitors from one configuration folder to another (a test environment's
//! to production's) as one YAML file.
//!
//! Export prints the selected `apps:` entries and monitors as they were
//! written, with relative paths made absolute, so that the file means the
//! same wherever it is imported. Import validates the file together with
//! the target folder (errors point into the file), prints what changes by
//! name with a unified diff of each changed entry, and writes the file's
//! entries into the folder's [`IMPORTED`] through a temporary file and a
//! rename: an entry replaces the entry of the same name that an earlier
//! import wrote there. Files written by hand are never rewritten, so an
//! entry that one of them defines is refused as a duplicate name. A running
//! collector picks the new file up by its file-change reload.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use similar::TextDiff;
use vigil_config::apps::MonitorToggle;
use vigil_config::spec::{BuiltinAlertsSpec, ConfigSpec, KindSpec};
use vigil_config::{AppSpec, Error};

use crate::check::load_options;

/// The file of the configuration folder that imports write.
pub const IMPORTED: &str = "imported.yaml";

/// `vigil config …`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print, as YAML that `vigil config import` accepts, one application
    /// (its `apps:` entry, the monitors labelled `app: NAME` and archives of
    /// them) or the whole configuration (with the built-in alert rules and
    /// the notification section). Relative paths are made absolute.
    #[command(group(clap::ArgGroup::new("selection").required(true).args(["app", "all"])))]
    Export {
        /// A YAML file, or a folder of them.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
        /// The application to export.
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
        /// Export everything.
        #[arg(long)]
        all: bool,
    },
    /// Validate FILE together with the configuration folder PATH, print
    /// what it adds, changes and removes, and write its entries into
    /// PATH/imported.yaml (replacing entries of the same name an earlier
    /// import wrote). A file with problems changes nothing. Monitors of
    /// applications that PATH does not have are reported and refused unless
    /// --new-apps.
    Import {
        /// The configuration folder to import into.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
        /// The file to import, as `vigil config export` prints it.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Validate and print the changes, but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also create monitors labelled with an application that neither
        /// PATH nor FILE has an `apps:` entry or a monitor for.
        #[arg(long)]
        new_apps: bool,
    },
}

/// Runs `vigil config …`.
pub fn run(command: ConfigCommand) -> Result<ExitCode> {
    match command {
        ConfigCommand::Export { config, app, .. } => {
            // clap lets exactly one of --app and --all through.
            let selection = match app {
                Some(name) => Selection::App(name),
                None => Selection::All,
            };
            export(&config, &selection)
        }
        ConfigCommand::Import {
            config,
            file,
            dry_run,
            new_apps,
        } => import(&Import {
            folder: config,
            file,
            dry_run,
            new_apps,
        }),
    }
}

/// What `vigil config export` prints.
enum Selection {
    /// One application.
    App(String),
    /// The whole configuration.
    All,
}

fn export(config: &Path, selection: &Selection) -> Result<ExitCode> {
    let files = read_files(config)?;
    if files.is_empty() {
        bail!(
            "{}: no configuration file (*.yaml, *.yml)",
            config.display()
        );
    }
    if let Err(e) = vigil_config::load_texts(&files, &load_options()) {
        return refuse(e, &format!("fix {} before exporting it", config.display()));
    }
    let specs = parse_specs(&files)?;
    let out = match selection {
        Selection::All => ConfigSpec {
            monitors: specs.iter().flat_map(|s| s.monitors.clone()).collect(),
            apps: specs.iter().flat_map(|s| s.apps.clone()).collect(),
            alerts: merged_alerts(&specs),
            notification: specs.iter().find_map(|s| s.notification.clone()),
            dashboards: specs.iter().flat_map(|s| s.dashboards.clone()).collect(),
        },
        Selection::App(name) => app_spec(&specs, name)?,
    };
    let what = match selection {
        Selection::All => "--all".to_string(),
        Selection::App(name) => format!("--app {name}"),
    };
    print!(
        "# Written by `vigil config export {what}` from {}.\n# Import it with `vigil config import --config <folder> <this file>`.\n{}",
        absolute(config)?.display(),
        yaml(&out)?
    );
    Ok(ExitCode::SUCCESS)
}

/// The `apps:` entry of application `name`, its monitors and archives of them.
fn app_spec(specs: &[ConfigSpec], name: &str) -> Result<ConfigSpec> {
    let apps: Vec<AppSpec> = specs
        .iter()
        .flat_map(|s| &s.apps)
        .filter(|a| a.name == name)
        .cloned()
        .collect();
    let mut monitors: Vec<_> = specs
        .iter()
        .flat_map(|s| &s.monitors)
        .filter(|m| m.app.as_deref() == Some(name))
        .cloned()
        .collect();
    if apps.is_empty() && monitors.is_empty() {
        let mut known: Vec<&str> = specs
            .iter()
            .flat_map(|s| {
                let entries = s.apps.iter().map(|a| a.name.as_str());
                entries.chain(s.monitors.iter().filter_map(|m| m.app.as_deref()))
            })
            .collect();
        known.sort_unstable();
        known.dedup();
        bail!(
            "no application `{name}`: no `apps:` entry and no monitor with `app: {name}`; applications: {}",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        );
    }
    let mut names: HashSet<String> = monitors.iter().map(|m| m.name.clone()).collect();
    names.extend(apps.iter().flat_map(|a| a.monitor_specs()).map(|m| m.name));
    monitors.extend(
        specs
            .iter()
            .flat_map(|s| &s.monitors)
            .filter(|m| m.kind == KindSpec::Archive && m.app.as_deref() != Some(name))
            .filter(|m| m.archive.as_ref().is_some_and(|a| names.contains(&a.of)))
            .cloned(),
    );
    Ok(ConfigSpec {
        monitors,
        apps,
        alerts: None,
        notification: None,
        dashboards: Vec::new(),
    })
}

/// What `vigil config import` is asked to do.
struct Import {
    folder: PathBuf,
    file: PathBuf,
    dry_run: bool,
    new_apps: bool,
}

fn import(opts: &Import) -> Result<ExitCode> {
    let folder = &opts.folder;
    if !folder.is_dir() {
        bail!(
            "{} is not a folder: import writes {IMPORTED} into a configuration folder (create it first)",
            folder.display()
        );
    }
    let file_dir = parent(&absolute(&opts.file)?);
    if file_dir == absolute(folder)? {
        bail!(
            "{} is inside the configuration folder, whose YAML files are all loaded as they are: import it from another folder",
            opts.file.display()
        );
    }
    let text = std::fs::read_to_string(&opts.file)
        .with_context(|| format!("cannot read {}", opts.file.display()))?;
    let imported_path = folder.join(IMPORTED);
    let target = read_files(folder)?;
    let lopts = load_options();
    if !target.is_empty() {
        if let Err(e) = vigil_config::load_texts(&target, &lopts) {
            return refuse(
                e,
                &format!("fix {} before importing into it", folder.display()),
            );
        }
    }
    let (earlier, hand): (Vec<_>, Vec<_>) = target
        .iter()
        .cloned()
        .partition(|(p, _)| *p == imported_path);

    let mut incoming: ConfigSpec = match serde_yaml_ng::from_str(&text) {
        Ok(spec) => spec,
        // Validation reports what does not fit the format at its position.
        Err(parse) => {
            return match vigil_config::load_texts(&[(opts.file.clone(), text)], &lopts) {
                Err(e) => refuse(e, &unchanged(folder)),
                Ok(_) => Err(parse).with_context(|| format!("cannot read {}", opts.file.display())),
            };
        }
    };
    absolutize(&mut incoming, &file_dir);
    let mut kept = match earlier.first() {
        Some((path, earlier_text)) => {
            let mut spec: ConfigSpec = serde_yaml_ng::from_str(earlier_text)
                .with_context(|| format!("cannot read {}", path.display()))?;
            absolutize(&mut spec, &parent(&absolute(path)?));
            spec
        }
        None => ConfigSpec::default(),
    };
    replace_in(&mut kept, &incoming);

    // The file as written (so that errors point into it) with the folder's
    // other files and what stays of the earlier imports.
    let mut texts = hand.clone();
    if !is_empty(&kept) {
        texts.push((imported_path.clone(), yaml(&kept)?));
    }
    texts.push((opts.file.clone(), text));
    if let Err(e) = vigil_config::load_texts(&texts, &lopts) {
        return refuse(e, &unchanged(folder));
    }

    let before_specs = parse_specs(&target)?;
    let unknown = unknown_apps(&before_specs, &incoming);
    let merged = ConfigSpec {
        monitors: [kept.monitors, incoming.monitors].concat(),
        apps: [kept.apps, incoming.apps].concat(),
        alerts: incoming.alerts.or(kept.alerts),
        notification: incoming.notification.or(kept.notification),
        dashboards: [kept.dashboards, incoming.dashboards].concat(),
    };
    let new_text = format!(
        "# Written by `vigil config import`: an import replaces the entries of the\n# same name here. Edit the files written by hand, not this one.\n{}",
        yaml(&merged)?
    );
    let mut after = hand.clone();
    after.push((imported_path.clone(), new_text.clone()));
    vigil_config::load_texts(&after, &lopts)
        .with_context(|| format!("the merged {IMPORTED} does not load"))?;

    let mut after_specs = parse_specs(&hand)?;
    after_specs.push(merged);
    let changed = print_changes(&entries(&before_specs)?, &entries(&after_specs)?);

    if !unknown.is_empty() {
        let verdict = if opts.new_apps {
            "created, as --new-apps asks"
        } else {
            "refused"
        };
        eprintln!(
            "monitors of applications that {} does not have, {verdict}:",
            folder.display()
        );
        for (monitor, app) in &unknown {
            eprintln!("  {monitor} (app `{app}`)");
        }
        if !opts.new_apps {
            eprintln!(
                "import each application's `apps:` entry with them (`vigil config export --app NAME`), or add --new-apps to create them; {}",
                unchanged(folder)
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    if opts.dry_run {
        println!("dry run: {}", unchanged(folder));
        return Ok(ExitCode::SUCCESS);
    }
    if !changed {
        println!("{} already has every entry of the file", folder.display());
        return Ok(ExitCode::SUCCESS);
    }
    vigil_model::fsutil::write_atomic(&imported_path, new_text.as_bytes())
        .with_context(|| format!("cannot write {}", imported_path.display()))?;
    println!(
        "wrote {} (a running collector reloads it within seconds)",
        imported_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes from `kept` the entries that `incoming` brings again.
fn replace_in(kept: &mut ConfigSpec, incoming: &ConfigSpec) {
    let monitors: HashSet<&str> = incoming.monitors.iter().map(|m| m.name.as_str()).collect();
    let apps: HashSet<&str> = incoming.apps.iter().map(|a| a.name.as_str()).collect();
    kept.monitors
        .retain(|m| !monitors.contains(m.name.as_str()));
    kept.apps.retain(|a| !apps.contains(a.name.as_str()));
    if incoming.alerts.is_some() {
        kept.alerts = None;
    }
    if incoming.notification.is_some() {
        kept.notification = None;
    }
}

fn is_empty(spec: &ConfigSpec) -> bool {
    spec.monitors.is_empty()
        && spec.apps.is_empty()
        && spec.alerts.is_none()
        && spec.notification.is_none()
}

/// Monitors of `incoming` labelled with an application that neither the
/// target nor `incoming` has an `apps:` entry for, and that no monitor of
/// the target is labelled with: `(monitor, app)`.
fn unknown_apps(target: &[ConfigSpec], incoming: &ConfigSpec) -> Vec<(String, String)> {
    let mut known: HashSet<&str> = incoming.apps.iter().map(|a| a.name.as_str()).collect();
    for spec in target {
        known.extend(spec.apps.iter().map(|a| a.name.as_str()));
        known.extend(spec.monitors.iter().filter_map(|m| m.app.as_deref()));
    }
    incoming
        .monitors
        .iter()
        .filter_map(|m| {
            let app = m.app.as_deref()?;
            (!known.contains(app)).then(|| (m.name.clone(), app.to_string()))
        })
        .collect()
}

/// One entry of a configuration as YAML text: an app, a monitor (written
/// by hand or made by an app's preset), the built-in alert rules or the
/// notification section.
struct Entry {
    what: &'static str,
    name: String,
    text: String,
}

/// The entries of configuration files, in order.
fn entries(specs: &[ConfigSpec]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for spec in specs {
        for app in &spec.apps {
            out.push(Entry {
                what: "app",
                name: app.name.clone(),
                text: yaml(app)?,
            });
        }
        let made = spec.apps.iter().flat_map(AppSpec::monitor_specs);
        for m in spec.monitors.iter().cloned().chain(made) {
            out.push(Entry {
                what: "monitor",
                name: m.name.clone(),
                text: yaml(&m)?,
            });
        }
    }
    if let Some(alerts) = merged_alerts(specs) {
        out.push(Entry {
            what: "section",
            name: "alerts".to_string(),
            text: yaml(&alerts)?,
        });
    }
    if let Some(n) = specs.iter().find_map(|s| s.notification.as_ref()) {
        out.push(Entry {
            what: "section",
            name: "notification".to_string(),
            text: yaml(n)?,
        });
    }
    Ok(out)
}

/// Prints what is added, changed and removed, then a unified diff of each
/// changed entry; returns whether anything changes.
fn print_changes(before: &[Entry], after: &[Entry]) -> bool {
    let find = |list: &[Entry], e: &Entry| -> Option<usize> {
        list.iter()
            .position(|o| o.what == e.what && o.name == e.name)
    };
    let (mut added, mut changed, mut removed) = (0, 0, 0);
    let mut diffs = String::new();
    for e in after {
        match find(before, e) {
            None => {
                added += 1;
                println!("added    {} {}", e.what, e.name);
            }
            Some(i) if before[i].text != e.text => {
                changed += 1;
                println!("changed  {} {}", e.what, e.name);
                let old = format!("{} {} (before)", e.what, e.name);
                let new = format!("{} {} (after)", e.what, e.name);
                let diff = TextDiff::from_lines(&before[i].text, &e.text);
                diffs.push_str(&diff.unified_diff().header(&old, &new).to_string());
            }
            Some(_) => {}
        }
    }
    for e in before {
        if find(after, e).is_none() {
            removed += 1;
            println!("removed  {} {}", e.what, e.name);
        }
    }
    println!("{added} added, {changed} changed, {removed} removed");
    if !diffs.is_empty() {
        print!("\n{diffs}");
    }
    added + changed + removed > 0
}

/// The top-level `alerts:` sections of several files as one: their rules
/// add up, and `defaults: false` in any of them switches the pack off.
fn merged_alerts(specs: &[ConfigSpec]) -> Option<BuiltinAlertsSpec> {
    let sections: Vec<&BuiltinAlertsSpec> =
        specs.iter().filter_map(|s| s.alerts.as_ref()).collect();
    if sections.is_empty() {
        return None;
    }
    let defaults = sections
        .iter()
        .filter_map(|a| a.defaults)
        .reduce(|a, b| a && b);
    Some(BuiltinAlertsSpec {
        defaults,
        rules: sections.iter().flat_map(|a| a.rules.clone()).collect(),
    })
}

/// Makes the relative paths of `spec` (monitor sources, apps' log roots
/// and override paths) absolute against `dir`, the folder of its file.
fn absolutize(spec: &mut ConfigSpec, dir: &Path) {
    let abs = |p: &mut String| {
        if !Path::new(p.as_str()).is_absolute() {
            *p = dir.join(p.as_str()).to_string_lossy().into_owned();
        }
    };
    for m in &mut spec.monitors {
        if let Some(source) = &mut m.source {
            source.paths.iter_mut().for_each(abs);
        }
    }
    for app in &mut spec.apps {
        if let Some(root) = &mut app.log_root {
            abs(root);
        }
        for toggle in app.monitors.values_mut() {
            if let MonitorToggle::Override(o) = toggle {
                if let Some(paths) = &mut o.paths {
                    paths.iter_mut().for_each(abs);
                }
            }
        }
    }
}

/// The configuration files of `path` with their texts; none for a folder
/// without YAML files.
fn read_files(path: &Path) -> Result<Vec<(PathBuf, String)>> {
    let files = match vigil_config::validate::config_files(path) {
        Ok(files) => files,
        Err(Error::NoFiles(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            Ok((f, text))
        })
        .collect()
}

/// The specs of valid configuration files, with relative paths made
/// absolute.
fn parse_specs(files: &[(PathBuf, String)]) -> Result<Vec<ConfigSpec>> {
    files
        .iter()
        .map(|(path, text)| {
            let mut spec: ConfigSpec = serde_yaml_ng::from_str(text)
                .with_context(|| format!("cannot read {}", path.display()))?;
            absolutize(&mut spec, &parent(&absolute(path)?));
            Ok(spec)
        })
        .collect()
}

fn yaml<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_yaml_ng::to_string(value).context("cannot write YAML")
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// The folder of an absolute file path.
fn parent(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn unchanged(folder: &Path) -> String {
    format!("nothing written, {} is unchanged", folder.display())
}

/// Prints the problems of a configuration and `advice`; exit status 1.
fn refuse(e: Error, advice: &str) -> Result<ExitCode> {
    match e {
        Error::Invalid(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!(
                "{} error{} found; {advice}",
                diags.len(),
                if diags.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::FAILURE)
        }
        other => Err(other.into()),
    }
}
