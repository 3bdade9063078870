//! Criterion benches of the hot paths: DNS response from the prepared answers of 10,000
//! names, answer building per snapshot, a whole publish (operator switch to snapshot) with
//! 10,000 groups, snapshot load, and a state-machine step.
//!
//! Run: `cargo bench --bench hot_paths` (add `-- dns` to pick). Whole-system comparisons
//! against HAProxy, Knot and NSD are in `benches/compare.sh`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use failoverd::config::{AllDown, Config, Failback};
use failoverd::dns::{respond, AnswerBuilder, Tally, Transport};
use failoverd::group::machine::{Machine, Policy};
use failoverd::group::snapshot::GroupSnap;
use failoverd::group::supervisor::{Command, Services, Supervisor};
use failoverd::group::Health;
use failoverd::store::events::EventLog;

/// A zone with `n` groups `g0..g{n-1}`, each a main and a backup.
fn config(n: usize) -> Config {
    let mut text = String::from(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nzone = \"failover.example.test.\"\n\
         nameservers = [{ name = \"ns1.failover.example.test.\", addresses = [\"127.0.0.1\"] }]\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[group]]\nname = \"g{i}\"\n[group.health]\nport = 80\n\
             [[group.target]]\nname = \"main\"\naddress = \"192.0.2.{}\"\n\
             [[group.target]]\nname = \"backup\"\naddress = [\"198.51.100.{}\", \"2001:db8::{:x}\"]\n",
            i % 250 + 1,
            i % 250 + 1,
            i + 1
        ));
    }
    Config::parse(&text).expect("bench config")
}

/// A DNS query in wire form, with an EDNS OPT record when `edns`.
fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

fn services() -> Services {
    Services {
        cluster: None,
        store: None,
        events: Arc::new(EventLog::open(None, 16)),
        notices: None,
        gates: None,
        derive: Some(failoverd::dns::deriver),
    }
}

fn supervisor(config: &Config) -> failoverd::group::snapshot::SnapshotReader {
    let (_sup, _handle, reader) = Supervisor::new(config, None, &[], services());
    reader
}

fn dns(c: &mut Criterion) {
    let config = config(10_000);
    let reader = supervisor(&config);
    let snap = reader.load_full();
    let derived = snap.derived.clone();
    let answers = derived
        .as_ref()
        .and_then(|d| d.get::<failoverd::dns::Answers>());
    let mut out = Vec::with_capacity(4096);
    let mut tally = Tally::new();
    let cases = [
        ("a", query("G500.Failover.Example.Test.", 1, true)),
        (
            "aaaa_nodata",
            query("g500.failover.example.test.", 28, false),
        ),
        ("nxdomain", query("nope.failover.example.test.", 1, true)),
        ("refused", query("www.example.org.", 1, false)),
    ];
    for (name, q) in &cases {
        c.bench_function(&format!("dns/respond/{name}"), |b| {
            b.iter(|| respond(answers, black_box(q), Transport::Udp, &mut out, &mut tally))
        });
    }
    // A publish of 10,000 groups where one group's active targets flip each time.
    let mut builder = AnswerBuilder::new(&config).unwrap().unwrap();
    builder.build_all(1, &snap.groups);
    let mut flipped = snap.groups.clone();
    let mut g: GroupSnap = (*flipped[500]).clone();
    g.active = vec![1];
    flipped[500] = Arc::new(g);
    let variants = [snap.groups.clone(), flipped];
    let mut version = 1;
    c.bench_function("dns/build/10000_groups_one_changed", |b| {
        b.iter(|| {
            version += 1;
            let groups = &variants[(version % 2) as usize];
            black_box(builder.build(version, groups, [500]))
        })
    });
}

/// One operator switch through the supervisor of 10,000 groups: the command, the rebuild
/// of that group, its DNS name, the snapshot store and the reply.
fn publish(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = config(10_000);
    let (sup, handle, _reader) = Supervisor::new(&config, None, &[], services());
    let cancel = tokio_util::sync::CancellationToken::new();
    rt.spawn(sup.run(cancel.clone()));
    let mut to_backup = true;
    c.bench_function("publish/10000_groups_one_switch", |b| {
        b.iter(|| {
            let target = if to_backup { "backup" } else { "main" };
            to_backup = !to_backup;
            let switch = Command::Switch {
                group: "g500".into(),
                target: target.into(),
                force: true,
            };
            rt.block_on(handle.command(switch, "bench"))
                .expect("switch")
        })
    });
    cancel.cancel();
}

fn snapshot(c: &mut Criterion) {
    let reader = supervisor(&config(10_000));
    c.bench_function("snapshot/load_and_find_group", |b| {
        b.iter(|| {
            let snap = reader.load();
            black_box(snap.find_group(500, "g500"))
        })
    });
}

fn machine(c: &mut Criterion) {
    let policy = Policy {
        failback: Failback::Auto,
        failback_hold: Duration::ZERO,
        all_down: AllDown::FailStatic,
        flap_limit: 3,
        flap_window: Duration::from_secs(60),
        gated: false,
    };
    let mut m = Machine::new(&[1, 1, 2, 2], policy);
    let now = tokio::time::Instant::now();
    for t in 0..4 {
        m.set_health(t, Health::Up, now);
    }
    let mut up = false;
    c.bench_function("machine/step_flip_one_target", |b| {
        b.iter(|| {
            up = !up;
            let h = if up { Health::Up } else { Health::Down };
            black_box(m.set_health(0, h, now))
        })
    });
    c.bench_function("machine/tick_no_change", |b| {
        b.iter(|| black_box(m.tick(now)))
    });
}

criterion_group!(benches, dns, publish, snapshot, machine);
criterion_main!(benches);
