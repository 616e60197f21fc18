//! The deployment files of `deploy/` keep what deploy/README.md promises:
//! every Kubernetes manifest parses and has the kinds, images, probes,
//! mounts, resources and environment described; the ConfigMap's monitors
//! pass `vigil check`; manifests and systemd units run existing subcommands
//! with existing flags; the Dockerfile builds the binary CI tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{repo, BIN};

fn deploy() -> PathBuf {
    repo().join("deploy")
}

/// Every `deploy/kubernetes/*.yaml`, by file name (one document each).
fn manifests() -> BTreeMap<String, Value> {
    let mut docs = BTreeMap::new();
    for entry in fs::read_dir(deploy().join("kubernetes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let doc: Value =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        docs.insert(name, doc);
    }
    docs
}

/// The value at a dotted path (`spec.template.spec`), numbers indexing
/// arrays; panics naming the path when it is missing.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) => cur.get(i),
            Err(_) => cur.get(part),
        }
        .unwrap_or_else(|| panic!("no {path} (at {part}) in {v}"));
    }
    cur
}

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn list<'a>(v: &'a Value, path: &str) -> &'a Vec<Value> {
    at(v, path)
        .as_array()
        .unwrap_or_else(|| panic!("{path} is not a list"))
}

/// The only container of a workload's pod template.
fn container(doc: &Value) -> &Value {
    let containers = list(doc, "spec.template.spec.containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// A container's arguments.
fn args(c: &Value) -> Vec<String> {
    list(c, "args")
        .iter()
        .map(|a| a.as_str().expect("string arguments").to_string())
        .collect()
}

/// The value after `--flag` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == name)
        .unwrap_or_else(|| panic!("no {name} in {args:?}"));
    args.get(i + 1)
        .unwrap_or_else(|| panic!("{name} without a value"))
}

/// The long flags `vigil <sub> --help` lists as options.
fn help_flags(sub: &str) -> BTreeSet<String> {
    let out = Command::new(BIN).args([sub, "--help"]).output().unwrap();
    assert!(out.status.success(), "vigil {sub} --help failed");
    let help = String::from_utf8(out.stdout).unwrap();
    let mut flags = BTreeSet::new();
    for line in help.lines().map(str::trim_start) {
        if !line.starts_with('-') {
            continue;
        }
        for word in line.split_whitespace().take_while(|w| w.starts_with('-')) {
            if let Some(name) = word.trim_end_matches(',').strip_prefix("--") {
                flags.insert(format!("--{name}"));
            }
        }
    }
    assert!(flags.contains("--help"), "{help}");
    flags
}

/// Checks that `args` (subcommand first) name an existing subcommand and
/// only its flags.
fn assert_known_flags(args: &[String], what: &str) {
    let known = help_flags(&args[0]);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let name = a.split('=').next().unwrap();
        assert!(
            known.contains(name),
            "{what}: vigil {} has no {name} (has {known:?})",
            args[0]
        );
    }
}

/// The mount in `c` of the pod volume that `matches`.
fn mount_of<'a>(doc: &'a Value, matches: impl Fn(&Value) -> bool, what: &str) -> &'a Value {
    let volume = list(doc, "spec.template.spec.volumes")
        .iter()
        .find(|v| matches(v))
        .unwrap_or_else(|| panic!("no volume for {what}"));
    let name = text(volume, "name");
    list(container(doc), "volumeMounts")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("volume {name} ({what}) is not mounted"))
}

fn host_path_mount<'a>(doc: &'a Value, host: &str) -> &'a Value {
    mount_of(doc, |v| v["hostPath"]["path"] == host, host)
}

fn read_only(mount: &Value) -> bool {
    mount["readOnly"] == true
}

/// The environment variable `name` of `c`.
fn env<'a>(c: &'a Value, name: &str) -> &'a Value {
    list(c, "env")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

/// Checks that `name` comes from a key of the Secret of secret.yaml.
fn assert_from_secret(c: &Value, name: &str, docs: &BTreeMap<String, Value>) {
    let secret = &docs["secret.yaml"];
    let r = at(env(c, name), "valueFrom.secretKeyRef");
    assert_eq!(r["name"], secret["metadata"]["name"], "{name}");
    let key = text(r, "key");
    assert!(
        secret["stringData"].get(key).is_some(),
        "{name}: the Secret has no key {key}"
    );
}

/// Checks an HTTP probe on `path` at `port` (given as a number or a
/// container port name).
fn assert_health_probe(c: &Value, probe: &str, path: &str, port: u64) {
    let get = at(c, &format!("{probe}.httpGet"));
    assert_eq!(get["path"], path, "{probe}");
    let resolved = match &get["port"] {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(name) => list(c, "ports")
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("{probe}: no port named {name}")),
        other => panic!("{probe}: port {other}"),
    };
    assert_eq!(resolved, port, "{probe}");
}

#[test]
fn kustomization_lists_every_manifest_of_the_expected_kind() {
    let docs = manifests();
    let kustomization = &docs["kustomization.yaml"];
    let listed: BTreeSet<&str> = list(kustomization, "resources")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let files: BTreeSet<&str> = docs
        .keys()
        .map(String::as_str)
        .filter(|f| *f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, files);
    let kinds = [
        ("namespace.yaml", "v1", "Namespace"),
        ("secret.yaml", "v1", "Secret"),
        ("configmap.yaml", "v1", "ConfigMap"),
        ("collector-pvc.yaml", "v1", "PersistentVolumeClaim"),
        ("collector-deployment.yaml", "apps/v1", "Deployment"),
        ("collector-service.yaml", "v1", "Service"),
        ("agent-daemonset.yaml", "apps/v1", "DaemonSet"),
    ];
    assert_eq!(kinds.len(), files.len(), "a manifest is not checked");
    for (file, api, kind) in kinds {
        let doc = &docs[file];
        assert_eq!((text(doc, "apiVersion"), text(doc, "kind")), (api, kind));
        assert!(!text(doc, "metadata.name").is_empty(), "{file}");
    }
    // No RBAC: neither workload talks to the Kubernetes API.
    for file in ["agent-daemonset.yaml", "collector-deployment.yaml"] {
        assert_eq!(
            at(
                &docs[file],
                "spec.template.spec.automountServiceAccountToken"
            ),
            false
        );
    }
    assert_eq!(
        text(kustomization, "namespace"),
        text(&docs["namespace.yaml"], "metadata.name")
    );
    // Both workloads run the one image that the kustomization retags.
    let image = text(&list(kustomization, "images")[0], "name");
    for file in ["agent-daemonset.yaml", "collector-deployment.yaml"] {
        let used = text(container(&docs[file]), "image");
        assert_eq!(used.split(':').next(), Some(image), "{file}");
    }
}

#[test]
fn agent_daemonset_has_what_the_readme_promises() {
    let docs = manifests();
    let ds = &docs["agent-daemonset.yaml"];
    let c = container(ds);
    let args = args(c);
    assert_eq!(args[0], "agent");
    assert_known_flags(&args, "agent-daemonset.yaml");

    // Every node.
    let tolerations = list(ds, "spec.template.spec.tolerations");
    assert!(tolerations
        .iter()
        .any(|t| t["operator"] == "Exists" && t.get("key").is_none() && t.get("effect").is_none()));

    // The host's /proc, log folders and /tmp, read-only, where the flags say.
    let proc = host_path_mount(ds, "/proc");
    assert!(read_only(proc));
    assert_eq!(flag(&args, "--proc-root"), text(proc, "mountPath"));
    assert_eq!(flag(&args, "--proc-root"), "/host/proc");
    let tmp = host_path_mount(ds, "/tmp");
    assert!(read_only(tmp));
    assert_eq!(flag(&args, "--jvm-tmp-dir"), text(tmp, "mountPath"));
    for logs in ["/var/log", "/home/admin/logs"] {
        let m = host_path_mount(ds, logs);
        assert!(read_only(m), "{logs}");
        assert_eq!(text(m, "mountPath"), logs, "same path as on the node");
    }
    // The state (checkpoints, disk buffer) survives the pod, writable.
    let state = flag(&args, "--state");
    let state_mount = list(c, "volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == state)
        .expect("the state folder is mounted");
    assert!(!read_only(state_mount));
    let state_volume = list(ds, "spec.template.spec.volumes")
        .iter()
        .find(|v| v["name"] == state_mount["name"])
        .unwrap();
    assert!(state_volume.get("hostPath").is_some(), "on the node");
    // Every other host folder is read-only.
    for v in list(ds, "spec.template.spec.volumes") {
        if v.get("hostPath").is_some() && v["name"] != state_mount["name"] {
            let m = list(c, "volumeMounts")
                .iter()
                .find(|m| m["name"] == v["name"])
                .unwrap();
            assert!(read_only(m), "{v}");
        }
    }

    // Health endpoint and probes.
    assert_eq!(flag(&args, "--listen"), "0.0.0.0:8687");
    assert_health_probe(c, "livenessProbe", "/livez", 8687);
    assert_health_probe(c, "readinessProbe", "/healthz", 8687);

    // The measured footprint.
    assert_eq!(text(c, "resources.requests.cpu"), "20m");
    assert_eq!(text(c, "resources.requests.memory"), "32Mi");
    assert_eq!(text(c, "resources.limits.cpu"), "100m");
    assert_eq!(text(c, "resources.limits.memory"), "64Mi");

    // Labels through the downward API, the token from the Secret.
    for (name, field) in [
        ("NODE_NAME", "spec.nodeName"),
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        assert_eq!(
            text(env(c, name), "valueFrom.fieldRef.fieldPath"),
            field,
            "{name}"
        );
    }
    assert_from_secret(c, "VIGIL_INGEST_TOKEN", &docs);

    // Root for reading other users' files, but no other power.
    assert_eq!(at(c, "securityContext.runAsUser"), 0);
    assert_eq!(at(c, "securityContext.readOnlyRootFilesystem"), true);
    assert_eq!(at(c, "securityContext.allowPrivilegeEscalation"), false);
    assert_eq!(
        at(c, "securityContext.capabilities.drop"),
        &serde_json::json!(["ALL"])
    );

    // It ships to the collector's Service.
    let svc = &docs["collector-service.yaml"];
    let url = format!(
        "http://{}.{}.svc:{}",
        text(svc, "metadata.name"),
        text(&docs["namespace.yaml"], "metadata.name"),
        at(svc, "spec.ports.0.port")
    );
    assert_eq!(flag(&args, "--collector"), url);
}

#[test]
fn collector_deployment_has_what_the_readme_promises() {
    let docs = manifests();
    let d = &docs["collector-deployment.yaml"];
    assert_eq!(at(d, "spec.replicas"), 1);
    assert_eq!(text(d, "spec.strategy.type"), "Recreate");
    let c = container(d);
    let args = args(c);
    assert_eq!(args[0], "collector");
    assert_known_flags(&args, "collector-deployment.yaml");

    // --data on the PersistentVolumeClaim.
    let pvc = text(&docs["collector-pvc.yaml"], "metadata.name");
    let data = mount_of(
        d,
        |v| v["persistentVolumeClaim"]["claimName"] == pvc,
        "the PVC",
    );
    assert_eq!(flag(&args, "--data"), text(data, "mountPath"));
    assert!(!read_only(data));
    assert_eq!(
        list(&docs["collector-pvc.yaml"], "spec.accessModes"),
        &vec![Value::from("ReadWriteOnce")]
    );
    // --config from the ConfigMap, at /etc/vigil.
    let cm = text(&docs["configmap.yaml"], "metadata.name");
    let config = mount_of(d, |v| v["configMap"]["name"] == cm, "the ConfigMap");
    assert_eq!(flag(&args, "--config"), text(config, "mountPath"));
    assert_eq!(text(config, "mountPath"), "/etc/vigil");
    assert!(read_only(config));

    assert_eq!(flag(&args, "--listen"), "0.0.0.0:8686");
    assert_health_probe(c, "livenessProbe", "/healthz", 8686);
    assert_health_probe(c, "readinessProbe", "/healthz", 8686);
    assert_health_probe(c, "startupProbe", "/healthz", 8686);
    assert_from_secret(c, "VIGIL_INGEST_TOKEN", &docs);
    assert_from_secret(c, "VIGIL_API_TOKEN", &docs);
    for key in [
        "resources.requests.cpu",
        "resources.requests.memory",
        "resources.limits.memory",
    ] {
        assert!(!text(c, key).is_empty(), "{key}");
    }

    // Not root.
    let pod = at(d, "spec.template.spec.securityContext");
    assert_eq!(pod["runAsNonRoot"], true);
    assert!(pod["runAsUser"].as_u64().unwrap() > 0);
    assert_eq!(at(c, "securityContext.allowPrivilegeEscalation"), false);
    assert_eq!(at(c, "securityContext.readOnlyRootFilesystem"), true);

    // The Service reaches the pods on the API port.
    let svc = &docs["collector-service.yaml"];
    for (k, v) in at(svc, "spec.selector").as_object().unwrap() {
        assert_eq!(&at(d, "spec.template.metadata.labels")[k], v, "{k}");
    }
    let target = at(svc, "spec.ports.0.targetPort");
    let port = list(c, "ports")
        .iter()
        .find(|p| &p["name"] == target || &p["containerPort"] == target)
        .expect("the Service's target port is a container port");
    assert_eq!(port["containerPort"], 8686);
}

#[test]
fn configmap_monitors_pass_vigil_check() {
    let docs = manifests();
    let dir = tempfile::tempdir().unwrap();
    let data = at(&docs["configmap.yaml"], "data").as_object().unwrap();
    assert!(data.keys().any(|k| k.ends_with(".yaml")));
    for (name, text) in data {
        fs::write(dir.path().join(name), text.as_str().unwrap()).unwrap();
    }
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(dir.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("ok, 5 monitors"), "{said}");
}

/// A systemd unit: settings per section, continuation lines joined.
fn unit(name: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = fs::read_to_string(deploy().join("systemd").join(name)).unwrap();
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        if let Some(s) = line.strip_prefix('[') {
            section = s.trim_end_matches(']').to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}: {line}"));
        sections
            .entry(section.clone())
            .or_default()
            .insert(k.to_string(), v.to_string());
    }
    sections
}

#[test]
fn systemd_units_run_existing_flags_hardened() {
    for (name, sub, dir_flag) in [
        ("vigil-collector.service", "collector", "--data"),
        ("vigil-agent.service", "agent", "--state"),
    ] {
        let u = unit(name);
        let service = &u["Service"];
        assert!(!u["Unit"]["Description"].is_empty());
        assert_eq!(u["Install"]["WantedBy"], "multi-user.target");
        let user = &service["User"];
        assert!(!user.is_empty() && user != "root", "{name}: User={user}");
        assert_eq!(service["Restart"], "on-failure", "{name}");
        assert_eq!(service["ProtectSystem"], "strict", "{name}");
        assert_eq!(service["NoNewPrivileges"], "true", "{name}");

        let exec: Vec<String> = service["ExecStart"]
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert_eq!(exec[0], "/usr/local/bin/vigil", "{name}");
        assert_eq!(exec[1], sub, "{name}");
        assert_known_flags(&exec[1..], name);
        // The one folder it writes is writable.
        let dir = flag(&exec, dir_flag);
        assert!(
            service["ReadWritePaths"]
                .split_whitespace()
                .any(|p| p == dir),
            "{name}: {dir} not in ReadWritePaths"
        );
        // Its environment file has an example defining what ExecStart uses.
        let env_file = PathBuf::from(&service["EnvironmentFile"]);
        let example = deploy().join("systemd").join(format!(
            "{}.example",
            env_file.file_name().unwrap().to_str().unwrap()
        ));
        let example = fs::read_to_string(&example)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", example.display()));
        let defined: BTreeSet<&str> = example
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
            .collect();
        assert!(defined.contains("VIGIL_INGEST_TOKEN"), "{name}");
        for word in &exec {
            if let Some(var) = word.strip_prefix("${") {
                let var = var.trim_end_matches('}');
                assert!(defined.contains(var), "{name}: {var} not in {example}");
            }
        }
    }
    // The agent is not root: it gets exactly the capability to read others'
    // files.
    let agent = unit("vigil-agent.service");
    assert_eq!(
        agent["Service"]["AmbientCapabilities"],
        "CAP_DAC_READ_SEARCH"
    );
    assert_eq!(
        agent["Service"]["CapabilityBoundingSet"],
        "CAP_DAC_READ_SEARCH"
    );
}

#[test]
fn dockerfile_builds_the_binary_ci_tests() {
    let text = fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let from: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        from,
        ["FROM rust:1-bookworm AS build", "FROM debian:bookworm-slim"]
    );
    assert!(text.contains("cargo build --release --locked --bin vigil"));
    assert!(text.contains("target/release/vigil"));
    assert!(text.contains("--no-install-recommends ca-certificates"));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("COPY --from=build ") && l.ends_with(" /usr/local/bin/vigil")));
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    assert_eq!(lines.last(), Some(&r#"CMD ["--help"]"#));
    assert!(lines.contains(&r#"ENTRYPOINT ["vigil"]"#));

    // The build context keeps out build output, data and history, and
    // nothing the build needs.
    let ignore = fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let ignored: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["target/", "data/", ".git"] {
        assert!(ignored.contains(needed), "{needed}");
    }
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .unwrap();
    for name in members
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .chain(["Cargo.lock", "Cargo.toml", "src", "config"])
    {
        assert!(
            !ignored.contains(name) && !ignored.contains(format!("{name}/").as_str()),
            "{name} is needed by the build"
        );
    }
}
