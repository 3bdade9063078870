//! `failoverd ctl drill G [--to T] [--hold 30s]`: starts the drill, follows its report
//! until it ends (it runs in failoverd: stopping ctl does not stop it), prints the report.
//! Exit 0 when the drill went well, 1 when it failed.

use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};

use super::client::{encode, Client, CtlError};
use super::render::text;

/// How often the report is read while the drill runs.
const POLL: Duration = Duration::from_millis(250);

pub async fn drill(
    client: &Client,
    group: &str,
    to: Option<&str>,
    hold: &str,
) -> Result<String, CtlError> {
    let path = format!("/v1/groups/{}/drill", encode(group));
    let body = json!({ "to": to, "hold": hold });
    client.call(Method::POST, &path, Some(&body)).await?;
    loop {
        tokio::time::sleep(POLL).await;
        let report = client.call(Method::GET, &path, None).await?.json;
        if report["state"] != "running" {
            let out = render(&report);
            return match report["state"].as_str() {
                Some("ok") => Ok(out),
                _ => Err(CtlError::Failed(format!("the drill failed\n{out}"))),
            };
        }
    }
}

/// The report as lines: the drill, each step with its time, the failed connections.
pub fn render(r: &Value) -> String {
    let mut out = format!(
        "drill of {} to {} and back to {}: {}\n",
        text(&r["group"]),
        text(&r["to"]),
        r["back_to"]
            .as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        text(&r["state"])
    );
    for s in r["steps"].as_array().into_iter().flatten() {
        let mark = if s["ok"] == true { "ok  " } else { "FAIL" };
        out.push_str(&format!(
            "  {mark} {:<12} {:>7} ms  {}\n",
            text(&s["name"]),
            text(&s["ms"]),
            text(&s["detail"])
        ));
    }
    out.push_str(&format!(
        "  client connections that failed during the drill: {}\n",
        text(&r["failed_connections"])
    ));
    if let Some(reason) = r["reason"].as_str() {
        out.push_str(&format!("  reason: {reason}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_step_by_step() {
        let r = json!({ "group": "db", "to": "replica", "back_to": ["primary"], "state": "ok",
            "steps": [{ "name": "switch", "ok": true, "ms": 812, "detail": "replica active, epoch 3" },
                      { "name": "dns", "ok": true, "ms": 2, "detail": "db.fo.test. answers 127.0.0.3" }],
            "failed_connections": 0, "reason": null });
        assert_eq!(
            render(&r),
            "drill of db to replica and back to primary: ok\n  \
             ok   switch           812 ms  replica active, epoch 3\n  \
             ok   dns                2 ms  db.fo.test. answers 127.0.0.3\n  \
             client connections that failed during the drill: 0\n"
        );
    }
}
