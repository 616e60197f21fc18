//! The host metrics sampler: against this machine's /proc (values checked
//! against a second, simpler reading of the same files taken around the
//! sampler's calls), and against fake proc roots whose counters the tests
//! write, where the expected rates are exact.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vigil_agent::metrics::system::{SystemOptions, SystemSampler, MONITOR};
use vigil_agent::metrics::{Sampled, Sampler};
use vigil_model::wire::Sample;

// ---------------------------------------------------------------------------
// Helpers

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The sample with exactly these keys.
fn find<'a>(s: &'a Sampled, keys: &[(&str, &str)]) -> Option<&'a Sample> {
    let keys: BTreeMap<String, String> = keys
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.samples.iter().find(|x| x.keys == keys)
}

/// The node-wide sample.
fn node(s: &Sampled) -> &BTreeMap<String, f64> {
    &find(s, &[]).expect("a node-wide sample").values
}

fn assert_close(name: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{name}: got {got}, want {want} ± {tolerance}"
    );
}

/// Asserts that `got` lies within [min(a, b) − slack, max(a, b) + slack]:
/// a gauge read between two readings `a` and `b` of the test's own.
fn assert_between(name: &str, got: f64, a: f64, b: f64, slack: f64) {
    let (lo, hi) = (a.min(b) - slack, a.max(b) + slack);
    assert!(
        (lo..=hi).contains(&got),
        "{name}: got {got}, want within [{lo}, {hi}] (readings {a}, {b}, slack {slack})"
    );
}

// ---------------------------------------------------------------------------
// The test's own reading of /proc: deliberately simple, a second
// implementation.

/// The 8 first fields of the `cpu` line (user nice system idle iowait irq
/// softirq steal) and the number of `cpuN` lines.
fn own_cpu() -> ([u64; 8], usize) {
    let text = fs::read_to_string("/proc/stat").unwrap();
    let mut total = [0u64; 8];
    let mut cores = 0;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let name = f.next().unwrap_or("");
        if name == "cpu" {
            for (slot, v) in total.iter_mut().zip(f) {
                *slot = v.parse().unwrap();
            }
        } else if name.starts_with("cpu") {
            cores += 1;
        }
    }
    (total, cores)
}

/// Percentages of the test's own: (util, user, sys, wait, steal).
fn own_cpu_percent(a: &[u64; 8], b: &[u64; 8]) -> [f64; 5] {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| (y - x) as f64).collect();
    let total: f64 = d.iter().sum();
    let busy = d[0] + d[1] + d[2] + d[5] + d[6];
    [busy, d[0], d[2], d[4], d[7]].map(|x| x * 100.0 / total)
}

/// /proc/meminfo line value in bytes.
fn own_meminfo() -> (f64, f64) {
    let text = fs::read_to_string("/proc/meminfo").unwrap();
    let get = |key: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap();
        let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024.0
    };
    let total = get("MemTotal");
    (
        total,
        total - get("MemFree") - get("Buffers") - get("Cached"),
    )
}

fn own_loadavg() -> Vec<f64> {
    fs::read_to_string("/proc/loadavg")
        .unwrap()
        .split_whitespace()
        .take(3)
        .map(|v| v.parse().unwrap())
        .collect()
}

/// Sum of received + sent bytes over all interfaces of /proc/net/dev.
fn own_net_bytes() -> (u64, u64) {
    let text = fs::read_to_string("/proc/net/dev").unwrap();
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let (_, counters) = line.split_once(':').unwrap();
        let f: Vec<u64> = counters
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        rx += f[0];
        tx += f[8];
    }
    (rx, tx)
}

/// `Tcp: ActiveOpens` of /proc/net/snmp.
fn own_active_opens() -> u64 {
    let text = fs::read_to_string("/proc/net/snmp").unwrap();
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let names: Vec<&str> = tcp.next().unwrap().split_whitespace().collect();
    let values: Vec<&str> = tcp.next().unwrap().split_whitespace().collect();
    let i = names.iter().position(|n| *n == "ActiveOpens").unwrap();
    values[i].parse().unwrap()
}

/// One data row of `df -P <args> <path>`, split into fields (the mount
/// point, last, may contain spaces).
fn df(args: &[&str], path: &Path) -> Vec<String> {
    let out = Command::new("df")
        .arg("-P")
        .args(args)
        .arg(path)
        .output()
        .expect("df runs");
    assert!(out.status.success(), "df failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text.lines().nth(1).unwrap();
    row.split_whitespace().map(str::to_string).collect()
}

/// From `df -P -T -B1`: (fstype, size, used, available, mount point).
fn df_bytes(path: &Path) -> (String, f64, f64, f64, String) {
    let f = df(&["-T", "-B1"], path);
    let n = |i: usize| f[i].parse::<f64>().unwrap();
    (f[1].clone(), n(2), n(3), n(4), f[6..].join(" "))
}

/// From `df -P -i`: (inodes, free inodes).
fn df_inodes(path: &Path) -> (f64, f64) {
    let f = df(&["-i"], path);
    (f[1].parse().unwrap(), f[3].parse().unwrap())
}

// ---------------------------------------------------------------------------
// This machine

/// One sampler, two calls about a second apart, checked against the test's
/// own readings taken right around them.
#[test]
fn real_proc_agrees_with_a_second_reading() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let options = SystemOptions {
        // Loopback counted, so that the test can make traffic it knows of.
        skip_interfaces: Vec::new(),
        ..SystemOptions::default()
    };
    let mut sampler = SystemSampler::new(options);

    let (cpu_before, cores) = own_cpu();
    let mem_before = own_meminfo();
    let load_before = own_loadavg();
    let df_before = df_bytes(tmp.path());
    let inodes_before = df_inodes(tmp.path());
    let (rx_outer_0, tx_outer_0) = own_net_bytes();
    let opens_outer_0 = own_active_opens();
    let t1 = epoch_ms();
    let first = sampler.sample(t1);
    let (rx_inner_0, tx_inner_0) = own_net_bytes();
    let opens_inner_0 = own_active_opens();
    let mem_after = own_meminfo();
    let load_after = own_loadavg();
    let df_after = df_bytes(tmp.path());
    let inodes_after = df_inodes(tmp.path());

    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert!(first.samples.iter().all(|s| s.monitor == MONITOR));
    assert!(first.samples.iter().all(|s| s.time_ms == t1));
    let n1 = node(&first);
    // Gauges only on the first call.
    for rate in ["cpu_util", "traffic_bytin", "tcp_active", "udp_idgm"] {
        assert!(!n1.contains_key(rate), "{rate} on the first call");
    }
    assert!(first.samples.iter().all(|s| !s.keys.contains_key("disk")));

    // Cores: exact.
    assert_eq!(n1["cpu_total_cores"], cores as f64);
    // Memory: the total is fixed; used memory moves with every allocation
    // on the machine (other builds run here), so it must lie between the
    // test's readings just before and just after, give or take 16 MiB.
    assert_eq!(n1["mem_total"], mem_before.0);
    assert_between(
        "mem_used",
        n1["mem_used"],
        mem_before.1,
        mem_after.1,
        16.0 * 1048576.0,
    );
    assert_close(
        "mem_util",
        n1["mem_util"],
        n1["mem_used"] / n1["mem_total"] * 100.0,
        1e-9,
    );
    // Load: the kernel updates it every 5 s; equal to one of the readings
    // around the call, within 0.05.
    for (i, name) in ["load_load1", "load_load5", "load_load15"]
        .iter()
        .enumerate()
    {
        assert_between(name, n1[*name], load_before[i], load_after[i], 0.05);
    }

    // The partition of the temp dir (df's "Mounted on"): total exact,
    // used/free between df's readings give or take 64 MiB (builds write to
    // this disk), inode total exact, free inodes within 10 000.
    let (fstype, size, ..) = df_before.clone();
    let mount = df_before.4.clone();
    let part = match find(&first, &[("partition", &mount)]) {
        Some(p) => p.values.clone(),
        None => {
            // Not a real file system here (a container's overlay, a tmpfs):
            // it must then be reported when its type is asked for.
            let mut by_type = SystemSampler::new(SystemOptions {
                fs_types: Some(vec![fstype.clone()]),
                ..SystemOptions::default()
            });
            let s = by_type.sample(t1);
            find(&s, &[("partition", &mount)])
                .unwrap_or_else(|| panic!("no partition {mount} ({fstype}): {s:?}"))
                .values
                .clone()
        }
    };
    let mib64 = 64.0 * 1048576.0;
    assert_eq!(part["partition_btotl"], size);
    assert_between(
        "partition_bused",
        part["partition_bused"],
        df_before.2,
        df_after.2,
        mib64,
    );
    assert_between(
        "partition_bfree",
        part["partition_bfree"],
        df_before.3,
        df_after.3,
        mib64,
    );
    assert_close(
        "partition_util",
        part["partition_util"],
        df_before.2 / (df_before.2 + df_before.3) * 100.0,
        0.1,
    );
    assert_eq!(part["partition_itotl"], inodes_before.0);
    assert_between(
        "partition_ifree",
        part["partition_ifree"],
        inodes_before.1,
        inodes_after.1,
        10_000.0,
    );

    // Traffic the test knows of: 1 MiB over loopback, and 5 connections.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut total = 0;
        for _ in 0..5 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            conn.read_to_end(&mut buf).unwrap();
            total += buf.len();
        }
        total
    });
    for _ in 0..5 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&vec![7u8; 1 << 18]).unwrap();
    }
    assert_eq!(server.join().unwrap(), 5 << 18);
    let sleep_until = t1 + 1000;
    let left = sleep_until - epoch_ms();
    if left > 0 {
        thread::sleep(Duration::from_millis(left as u64));
    }

    let (rx_inner_1, tx_inner_1) = own_net_bytes();
    let opens_inner_1 = own_active_opens();
    let (cpu_inner_1, _) = own_cpu();
    let t2 = epoch_ms().max(t1 + 1);
    let second = sampler.sample(t2);
    let (cpu_after, _) = own_cpu();
    let (rx_outer_1, tx_outer_1) = own_net_bytes();
    let opens_outer_1 = own_active_opens();

    assert!(second.errors.is_empty(), "{:?}", second.errors);
    let n2 = node(&second);
    let secs = (t2 - t1) as f64 / 1000.0;

    // CPU: the sampler's window [t1, t2] lies within the test's [before,
    // after], a few ms longer at each end: with 100 ticks/s per core the
    // shares over ~1 s can differ by a few ticks out of ~100 per core, so
    // 5 points.
    let own = own_cpu_percent(&cpu_before, &cpu_after);
    let inner = own_cpu_percent(&cpu_before, &cpu_inner_1);
    for (i, name) in ["cpu_util", "cpu_user", "cpu_sys", "cpu_wait", "cpu_steal"]
        .iter()
        .enumerate()
    {
        let v = n2[*name];
        assert!((0.0..=100.0).contains(&v), "{name} = {v}");
        assert!(
            (v - own[i]).abs() <= 5.0 || (v - inner[i]).abs() <= 5.0,
            "{name}: got {v}, own readings {} / {}",
            own[i],
            inner[i]
        );
    }

    // Counters only grow: the sampler's delta over [t1, t2] lies between
    // the test's deltas over the window just inside and the one just
    // outside it, exactly (the rate times the interval gives it back).
    let bytes_in = (n2["traffic_bytin"] * secs).round() as u64;
    let bytes_out = (n2["traffic_bytout"] * secs).round() as u64;
    assert!(
        (rx_inner_1 - rx_inner_0..=rx_outer_1 - rx_outer_0).contains(&bytes_in),
        "bytes in {bytes_in} not in [{}, {}]",
        rx_inner_1 - rx_inner_0,
        rx_outer_1 - rx_outer_0
    );
    assert!(
        (tx_inner_1 - tx_inner_0..=tx_outer_1 - tx_outer_0).contains(&bytes_out),
        "bytes out {bytes_out}"
    );
    assert!(bytes_in >= 5 << 18, "the test's own traffic: {bytes_in}");
    let opens = (n2["tcp_active"] * secs).round() as u64;
    assert!(
        (opens_inner_1 - opens_inner_0..=opens_outer_1 - opens_outer_0).contains(&opens),
        "active opens {opens}"
    );
    assert!(opens >= 5);
    assert!((0.0..=100.0).contains(&n2["tcp_retran"]));
    for name in [
        "traffic_pktin",
        "traffic_pktout",
        "traffic_pktdrp",
        "traffic_pkterr",
        "tcp_pasive",
        "tcp_AtmpFail",
        "tcp_lisove",
        "tcp_CurrEstab",
        "udp_idgm",
        "udp_odgm",
        "udp_idmerr",
        "udp_noport",
    ] {
        let v = n2.get(name).copied();
        assert!(v.is_some_and(|v| v >= 0.0), "{name} = {v:?}");
    }

    // Disks: whole disks of /sys/block only, no loop or ram devices, all
    // eight figures, none negative.
    let whole: Vec<String> = fs::read_dir("/sys/block")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let disks: Vec<&Sample> = second
        .samples
        .iter()
        .filter(|s| s.keys.contains_key("disk"))
        .collect();
    for d in &disks {
        let name = &d.keys["disk"];
        assert!(whole.contains(name), "{name} is not a whole disk");
        assert!(!name.starts_with("loop") && !name.starts_with("ram"));
        assert_eq!(d.values.len(), 8, "{name}: {:?}", d.values);
        assert!(d.values.values().all(|v| *v >= 0.0), "{:?}", d.values);
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

// ---------------------------------------------------------------------------
// Fake proc roots

/// A temp dir with `proc/` and `sys/` trees the tests write.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc")).unwrap();
        fs::create_dir_all(dir.path().join("sys")).unwrap();
        Fake { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn options(&self) -> SystemOptions {
        SystemOptions {
            proc_root: self.path("proc"),
            sys_root: self.path("sys"),
            ..SystemOptions::default()
        }
    }

    /// A complete root: every file the sampler reads, at round `r` of
    /// [`Counts`].
    fn complete(&self, c: &Counts) {
        self.write("proc/stat", &stat(c.cpu));
        self.write("proc/loadavg", "0.50 1.25 2.00 1/100 42\n");
        self.write(
            "proc/meminfo",
            "MemTotal:        8000000 kB\nMemFree:         2000000 kB\n\
             MemAvailable:    5000000 kB\nBuffers:          500000 kB\n\
             Cached:          1500000 kB\nSwapCached:            0 kB\n",
        );
        self.write("proc/net/dev", &net_dev(&c.net));
        self.write("proc/net/snmp", &snmp(&c.tcp, &c.udp));
        self.write("proc/net/netstat", &netstat(c.listen_overflows));
        self.write("proc/diskstats", &diskstats(&c.disks));
        self.write(
            "proc/self/mounts",
            "/dev/vda / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n\
             tmpfs /run tmpfs rw 0 0\n",
        );
        for d in ["sda", "nvme0n1", "loop0"] {
            fs::create_dir_all(self.path(&format!("sys/block/{d}"))).unwrap();
        }
    }
}

/// The counters of one round of a fake root.
#[derive(Clone)]
struct Counts {
    /// user nice system idle iowait irq softirq steal.
    cpu: [u64; 8],
    /// Interface → rx bytes, packets, errs, drop, tx bytes, packets, errs, drop.
    net: Vec<(&'static str, [u64; 8])>,
    /// ActiveOpens PassiveOpens AttemptFails CurrEstab OutSegs RetransSegs.
    tcp: [u64; 6],
    /// InDatagrams NoPorts InErrors OutDatagrams.
    udp: [u64; 4],
    listen_overflows: u64,
    /// Disk → reads, sectors read, read ms, writes, sectors written, write
    /// ms, io ms, weighted ms.
    disks: Vec<(&'static str, [u64; 8])>,
}

fn stat(cpu: [u64; 8]) -> String {
    let line = |name: &str, div: u64| {
        let f: Vec<String> = cpu.iter().map(|v| (v / div).to_string()).collect();
        format!("{name} {} 0 0\n", f.join(" "))
    };
    format!(
        "{}{}{}{}intr 1 0\nctxt 100\nbtime 1700000000\nprocesses 10\n\
         procs_running 1\nprocs_blocked 0\nsoftirq 0 0\n",
        line("cpu ", 1),
        line("cpu0", 3),
        line("cpu1", 3),
        line("cpu2", 3)
    )
}

fn net_dev(net: &[(&str, [u64; 8])]) -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for (name, c) in net {
        s += &format!(
            "{name:>6}: {} {} {} {} 0 0 0 0 {} {} {} {} 0 0 0 0\n",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        );
    }
    s
}

fn snmp(tcp: &[u64; 6], udp: &[u64; 4]) -> String {
    format!(
        "Ip: Forwarding DefaultTTL InReceives\nIp: 1 64 1000\n\
         Icmp: InMsgs InErrors\nIcmp: 0 0\n\
         Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
         Tcp: 1 200 120000 -1 {} {} {} 0 {} 5000 {} {} 0 0 0\n\
         Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
         Udp: {} {} {} {} 0 0 0 0 0\n\
         UdpLite: InDatagrams NoPorts\nUdpLite: 0 0\n",
        tcp[0], tcp[1], tcp[2], tcp[3], tcp[4], tcp[5], udp[0], udp[1], udp[2], udp[3]
    )
}

fn netstat(listen_overflows: u64) -> String {
    format!(
        "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops\n\
         TcpExt: 0 0 {listen_overflows} 0\n\
         IpExt: InNoRoutes InTruncatedPkts\nIpExt: 0 0\n"
    )
}

fn diskstats(disks: &[(&str, [u64; 8])]) -> String {
    let mut s = String::new();
    for (i, (name, c)) in disks.iter().enumerate() {
        s += &format!(
            "{:4} {:7} {name} {} 0 {} {} {} 0 {} {} 0 {} {} 0 0 0 0 0 0\n",
            8, i, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        );
    }
    s
}

fn round_one() -> Counts {
    Counts {
        cpu: [300, 30, 150, 2400, 60, 15, 15, 30],
        net: vec![
            ("lo", [9_000_000, 9000, 0, 0, 9_000_000, 9000, 0, 0]),
            ("eth0", [1000, 10, 1, 2, 500, 5, 0, 1]),
            ("eth1", [0, 0, 0, 0, 0, 0, 0, 0]),
        ],
        tcp: [100, 50, 3, 7, 2000, 10],
        udp: [500, 5, 1, 400],
        listen_overflows: 5,
        disks: vec![
            ("sda", [1000, 8000, 3000, 3000, 32000, 9000, 8000, 10000]),
            ("sda1", [900, 7000, 2000, 2000, 22000, 8000, 7000, 9000]),
            ("nvme0n1", [10, 80, 30, 30, 320, 90, 80, 100]),
            ("nvme0n1p1", [10, 80, 30, 30, 320, 90, 80, 100]),
            ("loop0", [5, 10, 1, 0, 0, 0, 1, 1]),
        ],
    }
}

/// Round one plus known increments, 2 s later.
fn round_two() -> Counts {
    let mut c = round_one();
    // +60 user, +20 system, +90 idle, +10 iowait, +5 irq, +5 softirq,
    // +10 steal: 200 ticks.
    c.cpu = [360, 30, 170, 2490, 70, 20, 20, 40];
    c.net = vec![
        ("lo", [19_000_000, 19000, 0, 0, 19_000_000, 19000, 0, 0]),
        ("eth0", [5000, 50, 3, 6, 2500, 25, 2, 3]),
        ("eth1", [2000, 0, 0, 0, 0, 0, 0, 0]),
        // New since round one: not counted.
        ("eth2", [1_000_000, 1000, 0, 0, 0, 0, 0, 0]),
    ];
    c.tcp = [120, 60, 7, 9, 2400, 14];
    c.udp = [700, 9, 3, 600];
    c.listen_overflows = 11;
    c.disks[0].1 = [1100, 8800, 3300, 3300, 35200, 9900, 8800, 11000];
    c
}

fn rates_of(options: SystemOptions, fake: &Fake) -> (Sampled, Sampled) {
    let mut s = SystemSampler::new(options);
    fake.complete(&round_one());
    let first = s.sample(1_000_000);
    fake.complete(&round_two());
    let second = s.sample(1_002_000);
    (first, second)
}

#[test]
fn fake_root_gauges_and_exact_rates() {
    let fake = Fake::new();
    let (first, second) = rates_of(fake.options(), &fake);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert!(second.errors.is_empty(), "{:?}", second.errors);

    // First call: gauges only.
    let n1 = node(&first);
    let gauges = BTreeMap::from([
        ("cpu_total_cores", 3.0),
        ("load_load1", 0.5),
        ("load_load5", 1.25),
        ("load_load15", 2.0),
        ("mem_total", 8_000_000.0 * 1024.0),
        // 8 000 000 − 2 000 000 − 500 000 − 1 500 000 kB.
        ("mem_used", 4_000_000.0 * 1024.0),
        ("mem_util", 50.0),
        ("tcp_CurrEstab", 7.0),
    ]);
    let got: BTreeMap<&str, f64> = n1.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(got, gauges);
    assert!(first.samples.iter().all(|s| !s.keys.contains_key("disk")));
    assert!(find(&first, &[("partition", "/")]).is_some());
    assert!(find(&first, &[("partition", "/run")]).is_none());

    // Second call, 2 s later.
    let n2 = node(&second);
    let want = [
        // cpu: of 200 ticks, busy 60+20+5+5 = 90.
        ("cpu_total_cores", 3.0),
        ("cpu_util", 45.0),
        ("cpu_user", 30.0),
        ("cpu_sys", 10.0),
        ("cpu_wait", 5.0),
        ("cpu_steal", 5.0),
        ("tcp_CurrEstab", 9.0),
        // eth0 +4000 and eth1 +2000 bytes in 2 s; lo skipped, eth2 new.
        ("traffic_bytin", 3000.0),
        ("traffic_bytout", 1000.0),
        ("traffic_pktin", 20.0),
        ("traffic_pktout", 10.0),
        // (+4 in, +2 out) / 2 s and (+2 in, +2 out) / 2 s.
        ("traffic_pktdrp", 3.0),
        ("traffic_pkterr", 2.0),
        ("tcp_active", 10.0),
        ("tcp_pasive", 5.0),
        ("tcp_AtmpFail", 2.0),
        ("tcp_lisove", 3.0),
        // 4 retransmitted of 400 sent.
        ("tcp_retran", 1.0),
        ("udp_idgm", 100.0),
        ("udp_odgm", 100.0),
        ("udp_idmerr", 1.0),
        ("udp_noport", 2.0),
    ];
    for (name, v) in want {
        assert_eq!(n2.get(name), Some(&v), "{name}");
    }

    // sda: +100 reads, +300 writes, +800/+3200 sectors, +300/+900 ms,
    // +800 io ms, +1000 weighted ms, over 2000 ms.
    let sda = &find(&second, &[("disk", "sda")]).expect("sda").values;
    let want = BTreeMap::from([
        ("io_rio".to_string(), 50.0),
        ("io_wio".to_string(), 150.0),
        ("io_rbytes".to_string(), 800.0 * 512.0 / 2.0),
        ("io_wbytes".to_string(), 3200.0 * 512.0 / 2.0),
        // 4000 sectors = 2000 KB over 400 IOs.
        ("io_rqsize".to_string(), 5.0),
        ("io_qusize".to_string(), 0.5),
        ("io_await".to_string(), 3.0),
        ("io_svctm".to_string(), 2.0),
    ]);
    assert_eq!(sda, &want);
    let nvme = &find(&second, &[("disk", "nvme0n1")])
        .expect("nvme0n1")
        .values;
    assert!(nvme.values().all(|v| *v == 0.0), "{nvme:?}");
    let disks: Vec<&str> = second
        .samples
        .iter()
        .filter_map(|s| s.keys.get("disk").map(String::as_str))
        .collect();
    assert_eq!(disks, ["nvme0n1", "sda"]);
}

#[test]
fn skipped_interfaces_take_globs() {
    let fake = Fake::new();
    let options = SystemOptions {
        skip_interfaces: vec!["lo".into(), "eth[1-9]".into()],
        ..fake.options()
    };
    let (_, second) = rates_of(options, &fake);
    // eth0 alone: 4000 bytes in, 2000 out over 2 s.
    assert_eq!(node(&second)["traffic_bytin"], 2000.0);
    assert_eq!(node(&second)["traffic_bytout"], 1000.0);

    let options = SystemOptions {
        skip_interfaces: Vec::new(),
        ..fake.options()
    };
    let (_, second) = rates_of(options, &fake);
    // lo counted too: +10 000 000 bytes.
    assert_eq!(node(&second)["traffic_bytin"], 3000.0 + 5_000_000.0);
}

#[test]
fn disks_are_told_from_partitions_without_sysfs() {
    let fake = Fake::new();
    let options = SystemOptions {
        sys_root: fake.path("no-sys"),
        ..fake.options()
    };
    let (_, second) = rates_of(options, &fake);
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    let disks: Vec<&str> = second
        .samples
        .iter()
        .filter_map(|s| s.keys.get("disk").map(String::as_str))
        .collect();
    assert_eq!(disks, ["nvme0n1", "sda"]);
}

#[test]
fn counters_that_go_down_give_no_value_that_round() {
    let fake = Fake::new();
    let mut s = SystemSampler::new(fake.options());
    fake.complete(&round_two());
    s.sample(1_000_000);
    // Everything back to round one's smaller counters (a reset), except
    // the UDP counters, which go on growing.
    let mut c = round_one();
    c.udp = [800, 10, 3, 650];
    fake.complete(&c);
    let reset = s.sample(1_002_000);
    assert!(reset.errors.is_empty(), "{:?}", reset.errors);
    let n = node(&reset);
    for name in [
        "cpu_util",
        "cpu_user",
        "traffic_bytin",
        "traffic_pktdrp",
        "tcp_active",
        "tcp_pasive",
        "tcp_retran",
        "tcp_lisove",
    ] {
        assert!(
            !n.contains_key(name),
            "{name} after a reset: {:?}",
            n.get(name)
        );
    }
    assert_eq!(n["udp_idgm"], 50.0);
    assert_eq!(n["udp_odgm"], 25.0);
    // Gauges are still there.
    assert_eq!(n["tcp_CurrEstab"], 7.0);
    assert_eq!(n["mem_util"], 50.0);
    // sda went down: no sample; nvme0n1 did not change: zeros.
    assert!(find(&reset, &[("disk", "sda")]).is_none());
    assert!(find(&reset, &[("disk", "nvme0n1")]).is_some());
    assert!(reset
        .samples
        .iter()
        .flat_map(|s| s.values.values())
        .all(|v| *v >= 0.0 && v.is_finite()));

    // The next round counts from the reset values again.
    fake.complete(&round_two());
    let after = s.sample(1_004_000);
    assert_eq!(node(&after)["tcp_active"], 10.0);
    assert_eq!(node(&after)["cpu_util"], 45.0);
}

#[test]
fn a_clock_that_does_not_advance_gives_gauges_only() {
    let fake = Fake::new();
    let mut s = SystemSampler::new(fake.options());
    fake.complete(&round_one());
    s.sample(1_000_000);
    fake.complete(&round_two());
    let same = s.sample(1_000_000);
    assert!(!node(&same).contains_key("cpu_util"));
    assert!(!node(&same).contains_key("traffic_bytin"));
    assert!(same.samples.iter().all(|s| !s.keys.contains_key("disk")));
    // The next call measures from the last one.
    fake.complete(&round_two());
    let next = s.sample(1_001_000);
    assert_eq!(node(&next)["traffic_bytin"], 0.0);
}

#[test]
fn missing_files_are_errors_naming_them() {
    let fake = Fake::new();
    let mut s = SystemSampler::new(fake.options());
    let first = s.sample(1_000_000);
    let second = s.sample(1_001_000);
    for sampled in [&first, &second] {
        assert!(sampled.samples.is_empty(), "{:?}", sampled.samples);
        for file in [
            "stat",
            "loadavg",
            "meminfo",
            "net/dev",
            "net/snmp",
            "net/netstat",
            "diskstats",
            "self/mounts",
        ] {
            let path = fake.path("proc").join(file);
            let path = path.display().to_string();
            assert!(
                sampled.errors.iter().any(|e| e.starts_with(&path)),
                "no error for {path}: {:?}",
                sampled.errors
            );
        }
        assert_eq!(sampled.errors.len(), 8, "{:?}", sampled.errors);
    }
}

#[test]
fn garbage_files_are_errors_and_the_rest_is_sampled() {
    let fake = Fake::new();
    fake.complete(&round_one());
    let garbage: [(&str, &[u8]); 7] = [
        ("proc/stat", b"cpu  1 2 x\n"),
        ("proc/meminfo", b"MemTotal: lots kB\n"),
        ("proc/net/dev", b"h1\nh2\n  eth0: 1 2 3\n"),
        ("proc/net/snmp", b"Tcp: ActiveOpens\nUdp: 1\n"),
        ("proc/net/netstat", b"\xff\xfe\x00binary\n"),
        ("proc/diskstats", b"8 0 sda one two\n"),
        ("proc/self/mounts", b"/dev/vda\n"),
    ];
    let mut s = SystemSampler::new(fake.options());
    for round in 0..2 {
        for (file, text) in garbage {
            fs::write(fake.path(file), text).unwrap();
        }
        let got = s.sample(1_000_000 + round * 1000);
        assert_eq!(got.errors.len(), garbage.len(), "{:?}", got.errors);
        for (file, _) in garbage {
            let path = fake.path(file).display().to_string();
            assert!(
                got.errors.iter().any(|e| e.starts_with(&path)),
                "no error for {path}: {:?}",
                got.errors
            );
        }
        // loadavg is fine: the load is there, and nothing else.
        let n = node(&got);
        let names: Vec<&str> = n.keys().map(String::as_str).collect();
        assert_eq!(names, ["load_load1", "load_load15", "load_load5"]);
        assert_eq!(got.samples.len(), 1);
    }
    // A loadavg of garbage too.
    fake.write("proc/loadavg", "-1 nan x\n");
    let got = s.sample(1_005_000);
    assert!(got.samples.is_empty());
    assert_eq!(got.errors.len(), garbage.len() + 1);
}

#[test]
fn partitions_by_type_under_a_host_root_with_escaped_names() {
    let fake = Fake::new();
    fake.complete(&round_one());
    // A container's view: the host's / is mounted at <tmp>/host.
    let host = fake.path("host");
    fs::create_dir_all(host.join("data")).unwrap();
    fs::create_dir_all(host.join("my disk")).unwrap();
    fake.write(
        "proc/self/mounts",
        "overlay / overlay rw 0 0\n\
         /dev/sdb1 /data xfs rw 0 0\n\
         /dev/sdb1 /data/bind xfs rw 0 0\n\
         tmpfs /my\\040disk tmpfs rw 0 0\n\
         /dev/sdc1 /gone ext4 rw 0 0\n",
    );
    let options = SystemOptions {
        host_root: host.clone(),
        ..fake.options()
    };
    let got = SystemSampler::new(options.clone()).sample(1);
    let parts: Vec<&str> = got
        .samples
        .iter()
        .filter_map(|s| s.keys.get("partition").map(String::as_str))
        .collect();
    assert_eq!(parts, ["/data"]);
    // statvfs of <host>/gone fails: named in the errors.
    let gone = host.join("gone").display().to_string();
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    assert!(got.errors[0].starts_with(&gone), "{:?}", got.errors);
    // Same numbers as df on that directory.
    let data = &find(&got, &[("partition", "/data")]).unwrap().values;
    let (_, size, ..) = df_bytes(&host.join("data"));
    assert_eq!(data["partition_btotl"], size);
    assert_eq!(data.len(), 7);
    for pct in ["partition_util", "partition_iutil"] {
        assert!((0.0..=100.0).contains(&data[pct]), "{pct}");
    }

    // Asked for by type: the tmpfs with a space in its name.
    let got = SystemSampler::new(SystemOptions {
        fs_types: Some(vec!["tmpfs".into()]),
        ..options
    })
    .sample(1);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let parts: Vec<&str> = got
        .samples
        .iter()
        .filter_map(|s| s.keys.get("partition").map(String::as_str))
        .collect();
    assert_eq!(parts, ["/my disk"]);
}

#[test]
fn a_namespace_pid_reads_that_process_view() {
    let fake = Fake::new();
    fake.complete(&round_one());
    fs::remove_file(fake.path("proc/net/dev")).unwrap();
    fake.write(
        "proc/1/net/dev",
        &net_dev(&[("eth0", [100, 1, 0, 0, 0, 0, 0, 0])]),
    );
    fake.write(
        "proc/1/net/snmp",
        &snmp(&[1, 1, 1, 42, 1, 1], &[1, 1, 1, 1]),
    );
    fake.write("proc/1/net/netstat", &netstat(0));
    fake.write("proc/1/mounts", "/dev/vda / ext4 rw 0 0\n");
    let mut s = SystemSampler::new(SystemOptions {
        ns_pid: Some(1),
        ..fake.options()
    });
    let first = s.sample(1_000);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(node(&first)["tcp_CurrEstab"], 42.0);
    assert!(find(&first, &[("partition", "/")]).is_some());
    fake.write(
        "proc/1/net/dev",
        &net_dev(&[("eth0", [1100, 2, 0, 0, 0, 0, 0, 0])]),
    );
    let second = s.sample(2_000);
    assert_eq!(node(&second)["traffic_bytin"], 1000.0);
}
