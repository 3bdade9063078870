//! A group flapping faster than its hooks run: the pending runs coalesce (at most one per
//! trigger), so the queue stays bounded and the hooks end with the latest state, each run
//! told when its event happened, not when it ran.

use std::time::Duration;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_hook_runs_of_a_flapping_group_coalesce() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let extra = r#"[[group.hook]]
name = "slow"
on = ["switch", "release"]
command = ["sh", "-c", "echo $TRIGGER $EPOCH >> {dir}/runs.log; sleep 1"]
timeout = "5s""#;
    let checks = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2";
    let f = Failoverd::start(&(header("") + &pair_group("app", port, extra, checks))).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;

    // 20 switches and 20 releases in well under a second; each hook run takes 1 s.
    for _ in 0..20 {
        for (path, body) in [
            ("/v1/groups/app/switch", "{\"target\": \"backup\"}"),
            ("/v1/groups/app/release", ""),
        ] {
            let (status, text) = f.post(path, body, None).await;
            assert_eq!(status, 200, "{path}: {text}");
        }
    }
    let final_epoch = f.group("app").await["epoch"].as_u64().expect("epoch");
    let log = f.dir.path().join("runs.log");
    // The last release's run is the last one, whatever was coalesced before it.
    let text = eventually(
        Duration::from_secs(15),
        "the latest release hook run",
        || async {
            let text = std::fs::read_to_string(&log).ok()?;
            let last = text.lines().last()?.to_string();
            (last == format!("release {final_epoch}")).then_some(text)
        },
    )
    .await;
    let runs = text.lines().count();
    assert!(
        (2..=3).contains(&runs),
        "{runs} runs for 40 notices:\n{text}"
    );
    // A run is recorded when it ends: wait for the last one's record.
    let evs = eventually(Duration::from_secs(10), "the last run recorded", || async {
        let evs = f.events().await;
        let recorded = evs.iter().filter(|e| e["kind"] == "hook").count();
        (recorded == runs).then_some(evs)
    })
    .await;
    let hooks: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "hook").collect();
    assert_eq!(hooks.len(), runs, "{hooks:?}");
    let coalesced: u64 = hooks
        .iter()
        .map(|h| h["details"]["coalesced"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(coalesced as usize + runs, 40, "{hooks:?}");
}
