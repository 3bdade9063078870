//! The admin API as the tests read it: `Failoverd` methods for GET, POST, a group's JSON
//! (once, or polled until a condition holds) and the scrape; accessors of the group JSON.

use std::time::Duration;

use serde_json::Value;

use super::http::{http_post, http_request};
use super::poll::eventually;
use super::process::Failoverd;

impl Failoverd {
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = http_request(self.admin, "GET", path, None, self.token.as_deref()).await;
        let r = r.expect("admin request");
        (r.status, r.body)
    }

    /// `POST path` with a JSON body (and a bearer token): (status, body).
    pub async fn post(&self, path: &str, json_body: &str, token: Option<&str>) -> (u16, String) {
        http_post(self.admin, path, json_body, token)
            .await
            .expect("admin request")
    }

    pub async fn group(&self, name: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/groups/{name}")).await;
        assert_eq!(status, 200, "GET group {name}: {body}");
        serde_json::from_str(&body).expect("group JSON")
    }

    /// Polls the group until `cond` holds; returns the group JSON.
    pub async fn wait_group(
        &self,
        name: &str,
        limit: Duration,
        what: &str,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(limit, what, || async {
            let g = self.group(name).await;
            cond(&g).then_some(g)
        })
        .await
    }

    /// Polls the group until its targets `main` and `backup` are both up; returns the
    /// group JSON.
    pub async fn wait_both_up(&self, name: &str, limit: Duration) -> Value {
        self.wait_group(name, limit, "main and backup up", |g| {
            health(g, "main") == "up" && health(g, "backup") == "up"
        })
        .await
    }

    /// Every event the process kept (up to 1,000), oldest first.
    pub async fn events(&self) -> Vec<Value> {
        let (status, body) = self.get("/v1/events?limit=1000").await;
        assert_eq!(status, 200, "GET /v1/events: {body}");
        parse_json("events", &body)["events"]
            .as_array()
            .expect("events array")
            .clone()
    }

    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        body
    }
}

/// `body` as JSON; panics naming `what` and showing the body when it is not.
pub fn parse_json(what: &str, body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body:?}"))
}

/// The active targets of a group, by name.
pub fn active(g: &Value) -> Vec<String> {
    g["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The target `name` of a group.
pub fn target<'a>(g: &'a Value, name: &str) -> &'a Value {
    g["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no target {name} in {g}"))
}

/// The health verdict of a group's target: `up`, `down` or `unknown`.
pub fn health(g: &Value, name: &str) -> String {
    target(g, name)["health"].as_str().unwrap().to_string()
}
