//! The packaging checked with the tools that will read it: the alert rules with promtool
//! (syntax, and their unit tests), the compose file with docker-compose, the systemd unit
//! with systemd-analyze (verify, and its exposure), the kit's config with failoverd's own
//! validation, and `ctl ready`, the container's health check. The image itself is built
//! and run by docker/test-image.sh (podman, root), which .ci/run calls.

use std::process::{Command, Output};

use crate::harness::*;

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    if !require("promtool (Debian prometheus)", has_command("promtool")) {
        return;
    }
    let out = run(
        "promtool",
        &["check", "rules", "docker/prometheus/alerts.yml"],
    );
    assert!(out.status.success(), "promtool check rules: {}", text(&out));
    assert!(
        text(&out).contains("SUCCESS: 10 rules found"),
        "{}",
        text(&out)
    );
    let out = run(
        "promtool",
        &["test", "rules", "docker/prometheus/alerts_test.yml"],
    );
    assert!(out.status.success(), "promtool test rules: {}", text(&out));
}

#[test]
fn compose_file_is_valid_and_names_what_exists() {
    if !require("docker-compose", has_command("docker-compose")) {
        return;
    }
    for (args, services) in [
        (
            &[][..],
            &["main", "backup", "failoverd", "prometheus", "grafana"][..],
        ),
        (
            &["--profile", "etcd"][..],
            &["etcd1", "etcd2", "etcd3", "ns1", "ns2", "ns3"][..],
        ),
    ] {
        let mut all = vec!["-f", "docker/compose.yaml"];
        all.extend(args);
        all.push("config");
        let out = run("docker-compose", &all);
        assert!(
            out.status.success(),
            "docker-compose {all:?}: {}",
            text(&out)
        );
        let resolved = String::from_utf8_lossy(&out.stdout);
        for service in services {
            let key = format!("\n  {service}:\n");
            assert!(
                resolved.contains(&key),
                "{args:?}: no service {service}\n{resolved}"
            );
        }
    }
    // Every file the kit mounts or builds from is in the repository.
    for file in [
        "docker/failoverd.toml",
        "docker/stacks/main.conf",
        "docker/stacks/backup.conf",
        "docker/prometheus/prometheus.yml",
        "docker/grafana/provisioning/datasources/prometheus.yml",
        "docker/grafana/provisioning/dashboards/failoverd.yml",
        "docker/etcd/Dockerfile",
    ] {
        assert!(repo_path(file).is_file(), "{file} is missing");
    }
}

/// The kit's configs are valid as failoverd reads them (their state directory is the
/// image's volume, which only the container has: docker/test-image.sh runs one there), and
/// Prometheus scrapes each instance where it listens.
#[test]
fn compose_configs_are_valid() {
    let load = |file: &str| {
        failoverd::config::Config::load(&repo_path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let single = load("docker/failoverd.toml");
    assert_eq!(single.admin.listen.to_string(), "127.0.0.1:8439");
    let scrape = std::fs::read_to_string(repo_path("docker/prometheus/prometheus.yml")).unwrap();
    for n in 1..=3 {
        let file = format!("docker/cluster/ns{n}.toml");
        let config = load(&file);
        let cluster = config.cluster.as_ref().expect("[cluster]");
        assert_eq!(cluster.instance, format!("ns{n}"));
        assert_eq!(cluster.endpoints.len(), 3);
        let admin = config.admin.listen.to_string();
        assert_eq!(admin, format!("127.0.1.{n}:8439"));
        assert!(
            scrape.contains(&format!("\"{admin}\"")),
            "Prometheus does not scrape {admin}"
        );
    }
    assert!(
        scrape.contains("\"127.0.0.1:8439\""),
        "Prometheus does not scrape the kit's failoverd"
    );
}

/// `systemd-analyze verify` on the unit as shipped but for the binary's path (verify wants
/// it to exist; the host has none in /usr/local/bin). It exits 0 even on unknown keys and
/// bad values, so any word from it is a failure.
#[test]
fn systemd_unit_verifies_and_is_hardened() {
    if !require(
        "systemd-analyze (Debian systemd)",
        has_command("systemd-analyze"),
    ) {
        return;
    }
    let unit = std::fs::read_to_string(repo_path("packaging/failoverd.service")).unwrap();
    assert_eq!(
        unit.matches("/usr/local/bin/failoverd ").count(),
        2,
        "ExecStartPre, ExecStart"
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("failoverd.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/failoverd ", &format!("{BIN} ")),
    )
    .unwrap();
    let copy = copy.to_str().unwrap();
    let out = run("systemd-analyze", &["verify", copy]);
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "verify: {}",
        text(&out)
    );

    // The exposure score, 0 (locked down) to 10; the threshold is in tenths.
    let out = run(
        "systemd-analyze",
        &["security", "--offline=yes", "--threshold=20", copy],
    );
    let report = text(&out);
    assert!(out.status.success(), "exposure above 2.0:\n{report}");
    assert!(report.contains("Overall exposure level"), "{report}");
}

/// `ctl ready`, the image's health check: 0 and "ready" while failoverd serves, 1 when
/// nothing answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_ready_is_the_health_check() {
    let (port, _main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let check = "kind = \"tcp\"\ninterval = \"1s\"\ntimeout = \"500ms\"";
    let f = Failoverd::start(&two_stack_config(port, "127.0.0.2", "127.0.0.3", "", check)).await;
    let url = format!("http://{}", f.admin);
    let out = run(BIN, &["ctl", "--admin", &url, "ready"]);
    assert!(out.status.success(), "ctl ready: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\n");

    let closed = refusing_port("127.0.0.1");
    let url = format!("http://{}", closed.addr);
    let out = run(BIN, &["ctl", "--admin", &url, "ready"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
