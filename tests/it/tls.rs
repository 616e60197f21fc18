//! HTTPS between agent and collector: the collector serves a certificate
//! signed by a private CA (made here with rcgen), an agent that trusts the
//! CA ships lines over it, and plain HTTP to the TLS port gets no answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

use crate::procs::{wait_for, Proc};
use crate::support::Sandbox;

const MONITORS: &str = r#"monitors:
  - name: pay
    kind: minute_stat
    source: { paths: [logs/pay.log], timezone: UTC }
    time: { column: time, format: normal }
    columns:
      time:   { split: ",", index: 0 }
      amount: { split: ",", index: 1, type: int }
    stats: [count, { sum: amount }]
"#;

/// A CA and a certificate for 127.0.0.1 signed by it, as PEM: (ca, cert, key).
fn certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// `GET path` over HTTPS trusting `ca`; the body as JSON.
fn get_tls(addr: &str, path: &str, ca: &str) -> Option<serde_json::Value> {
    use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};
    let roots = parse_pem(ca.as_bytes())
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
            _ => None,
        })
        .collect();
    let agent = ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(Arc::new(roots)))
                .build(),
        )
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    let mut answer = agent.get(format!("https://{addr}{path}")).call().ok()?;
    answer.body_mut().read_json().ok()
}

#[test]
fn agents_ship_over_https_to_a_collector_with_a_private_ca() {
    let sandbox = Sandbox::new();
    let (ca, cert, key) = certificates();
    std::fs::create_dir_all(sandbox.path("tls")).unwrap();
    std::fs::create_dir_all(sandbox.path("logs")).unwrap();
    let ca_file = sandbox.write("tls/ca.pem", &ca);
    let cert_file = sandbox.write("tls/cert.pem", &cert);
    let key_file = sandbox.write("tls/key.pem", &key);
    sandbox.write("monitors.yaml", MONITORS);
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let lines: String = (1..=50).map(|i| format!("{now},{i}\n")).collect();
    sandbox.write("logs/pay.log", lines);

    let collector = Proc::collector_tls(
        &sandbox.path("monitors.yaml"),
        &sandbox.path("data"),
        &cert_file,
        &key_file,
    );
    let addr = collector.addr.clone();
    let _agent = Proc::agent_at(
        &format!("https://{addr}"),
        &sandbox.path("agent"),
        "instance=tls-node",
        &[
            "--metrics-interval",
            "0",
            "--listen",
            "off",
            "--ca-file",
            ca_file.to_str().unwrap(),
        ],
    );
    let counters = wait_for(30, "50 lines over https", || {
        let c = get_tls(&addr, "/api/v1/monitors/pay/counters", &ca)?;
        (c["lines"] == 50).then_some(c)
    });
    assert_eq!(counters["parsed"], 50);
    let agents = get_tls(&addr, "/api/v1/agents", &ca).unwrap();
    assert_eq!(agents[0]["labels"]["instance"], "tls-node");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}
