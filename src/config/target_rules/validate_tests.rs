//! Unit tests of the config rules that the fixtures in config/invalid do not reach.
use super::*;

/// A config with one group "web": the admin address, the `[group.health]` body, one
/// listener address and the target's `address` (a TOML value).
/// A token secret for configs whose admin address is not loopback.
const SECRET_ENV: &str = "FAILOVERD_VALIDATE_TEST_SECRET";

fn config(admin: &str, health: &str, listener: &str, address: &str) -> String {
    std::env::set_var(SECRET_ENV, "0123456789abcdef0123");
    format!(
        r#"
[admin]
listen = "{admin}"

[[admin.token]]
name = "ops"
role = "operate"
secret_env = "{SECRET_ENV}"

[[group]]
name = "web"

[group.health]
{health}

[[group.listener]]
listen = "{listener}"
target_port = 80

[[group.target]]
name = "main"
address = {address}
"#
    )
}

fn error(text: &str) -> String {
    Config::parse(text)
        .expect_err("config must be rejected")
        .to_string()
}

#[test]
fn base_config_is_valid() {
    let text = config(
        "127.0.0.1:9090",
        "kind = \"tcp\"",
        "127.0.0.1:8080",
        "\"192.0.2.1\"",
    );
    Config::parse(&text).unwrap();
}

#[test]
fn unknown_kind_is_reported_before_kind_specific_fields() {
    let text = config(
        "127.0.0.1:9090",
        "kind = \"htp\"\npath = \"/health\"",
        "127.0.0.1:8080",
        "\"192.0.2.1\"",
    );
    assert_eq!(
        error(&text),
        r#"group "web": health.kind "htp" is not one of "tcp", "http", "https", "tls""#
    );
}

#[test]
fn wildcard_listen_overlaps_a_specific_address_on_the_same_port() {
    let text = config(
        "127.0.0.1:8080",
        "kind = \"tcp\"",
        "0.0.0.0:8080",
        "\"192.0.2.1\"",
    );
    assert_eq!(
        error(&text),
        "group \"web\": listen address 0.0.0.0:8080 overlaps 127.0.0.1:8080 of admin \
         (a wildcard address takes the port on every address)"
    );
    let text = config("[::]:9090", "kind = \"tcp\"", "[::1]:9090", "\"192.0.2.1\"");
    assert!(error(&text).contains("listen address [::1]:9090 overlaps [::]:9090 of admin"));
}

#[test]
fn listen_addresses_that_can_coexist_are_accepted() {
    // Other port; other family (IPv6 listeners are bound v6-only); port 0 is never shared.
    for (admin, listener) in [
        ("0.0.0.0:9090", "127.0.0.1:8080"),
        ("0.0.0.0:8080", "[::]:8080"),
        ("127.0.0.1:0", "0.0.0.0:0"),
        ("127.0.0.1:8080", "127.0.0.2:8080"),
    ] {
        let text = config(admin, "kind = \"tcp\"", listener, "\"192.0.2.1\"");
        Config::parse(&text).unwrap_or_else(|e| panic!("{admin} + {listener}: {e}"));
    }
}

#[test]
fn names_with_more_than_one_final_dot_are_rejected() {
    let dns =
        "[dns]\nlisten = [\"127.0.0.1:5353\"]\nnameservers = [{ name = \"ns1.example.test.\" }]";
    let base = config(
        "127.0.0.1:9090",
        "kind = \"tcp\"",
        "127.0.0.1:8080",
        "\"192.0.2.1\"",
    );
    let text = format!("{dns}\nzone = \"failover.example.test..\"\n{base}");
    assert_eq!(
        error(&text),
        r#"dns: zone "failover.example.test.." is not a valid domain name"#
    );
    let text = format!("{dns}\nzone = \"failover.example.test.\"\n{base}")
        .replace("name = \"web\"", "name = \"web\"\ndns_name = \"www..\"");
    assert_eq!(
        error(&text),
        r#"group "web": dns_name "www.." is not a valid domain name"#
    );
    let text = config(
        "127.0.0.1:9090",
        "kind = \"tcp\"",
        "127.0.0.1:8080",
        "\"host.example.test..\"",
    );
    assert_eq!(
        error(&text),
        r#"group "web": target.address "host.example.test.." is not a valid domain name"#
    );
    // One final dot is fine, and is dropped from a hostname target.
    let text = config(
        "127.0.0.1:9090",
        "kind = \"tcp\"",
        "127.0.0.1:8080",
        "\"Host.Example.Test.\"",
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(
        config.groups[0].targets[0].address,
        TargetAddress::Host("host.example.test".into())
    );
}

#[test]
fn repeated_ip_in_an_address_list_is_rejected() {
    let text = config(
        "127.0.0.1:9090",
        "kind = \"tcp\"",
        "127.0.0.1:8080",
        r#"["192.0.2.1", "192.0.2.2", "192.0.2.1"]"#,
    );
    assert_eq!(
        error(&text),
        r#"group "web": target "main": address 192.0.2.1 is listed twice (entries 1 and 3)"#
    );
}

#[test]
fn admin_tokens_are_checked_and_required_off_loopback() {
    let open = "[admin]\nlisten = \"0.0.0.0:9090\"\n[[group]]\nname = \"g\"\nhealth.port = 1\n[[group.target]]\nname = \"a\"\naddress = \"192.0.2.1\"\n";
    assert!(error(open).contains("is not a loopback address and no [[admin.token]] is configured"));
    let with = |token: &str| {
        format!("[admin]\nlisten = \"127.0.0.1:9090\"\n[[admin.token]]\n{token}\n[[group]]\nname = \"g\"\nhealth.port = 1\n[[group.target]]\nname = \"a\"\naddress = \"192.0.2.1\"\n")
    };
    std::env::set_var("FAILOVERD_SHORT_SECRET", "short");
    let cases = [
        (
            "name = \"x\"\nrole = \"admin\"\nsecret_env = \"FAILOVERD_SHORT_SECRET\"",
            "role \"admin\" is not one of",
        ),
        (
            "name = \"x\"\nrole = \"read\"",
            "set exactly one of secret_file and secret_env",
        ),
        (
            "name = \"x\"\nrole = \"read\"\nsecret_env = \"FAILOVERD_SHORT_SECRET\"",
            "must be at least 16 characters",
        ),
        (
            "name = \"x\"\nrole = \"read\"\nsecret_env = \"FAILOVERD_UNSET_VARIABLE_XYZ\"",
            "secret_env FAILOVERD_UNSET_VARIABLE_XYZ is not set",
        ),
        (
            "name = \"x\"\nrole = \"read\"\nsecret_file = \"/nonexistent/secret\"",
            "secret_file /nonexistent/secret",
        ),
    ];
    for (token, expected) in cases {
        let e = error(&with(token));
        assert!(
            e.starts_with("admin: token 1: ") && e.contains(expected),
            "{token}: {e}"
        );
    }
    // The secret never appears in Debug output.
    std::env::set_var("FAILOVERD_LONG_SECRET", "a-very-secret-value-123");
    let cfg = Config::parse(&with(
        "name = \"x\"\nrole = \"read\"\nsecret_env = \"FAILOVERD_LONG_SECRET\"",
    ))
    .unwrap();
    assert!(!format!("{cfg:?}").contains("a-very-secret-value-123"));
    assert!(cfg.admin.tokens[0]
        .secret
        .matches("a-very-secret-value-123"));
    assert!(!cfg.admin.tokens[0].secret.matches("a-very-secret-value-12"));
}

/// `[cluster]` with its defaults, and with TLS and credentials from files.
#[test]
fn cluster_defaults_and_files() {
    let base = config(
        "127.0.0.1:9090",
        "kind = \"tcp\"",
        "127.0.0.1:8080",
        "\"192.0.2.1\"",
    );
    let plain = format!(
        "[cluster]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n\
         instance = \"ns1\"\n{base}"
    );
    let c = Config::parse(&plain).unwrap().cluster.expect("cluster");
    assert_eq!(c.prefix, "/failoverd/");
    assert_eq!(c.lease_ttl, Duration::from_secs(5));
    assert!(c.tls.is_none() && c.auth.is_none());

    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (ca, pw) = (file("ca.pem", "x"), file("pw", "s3cret\n"));
    let (cert, key) = (file("c.pem", "x"), file("k.pem", "x"));
    let tls = format!(
        "[cluster]\nbackend = \"etcd\"\nendpoints = [\"https://10.0.0.5:2379\"]\n\
         instance = \"ns2\"\nprefix = \"/f/prod/\"\nlease_ttl = \"3s\"\nca_file = \"{ca}\"\n\
         cert_file = \"{cert}\"\nkey_file = \"{key}\"\nusername = \"fo\"\npassword_file = \"{pw}\"\n{base}"
    );
    let c = Config::parse(&tls).unwrap().cluster.expect("cluster");
    assert_eq!(
        (c.prefix.as_str(), c.instance.as_str()),
        ("/f/prod/", "ns2")
    );
    let auth = c.auth.expect("auth");
    assert_eq!(auth.user, "fo");
    assert!(
        auth.password.matches("s3cret"),
        "the first line, without its newline"
    );
    assert!(c.tls.expect("tls").identity.is_some());

    let empty = file("empty", "");
    let bad = tls.replace(&pw, &empty);
    assert!(error(&bad).contains("is empty"), "{}", error(&bad));
    let mixed = plain.replace("http://127.0.0.1:2379", "http://127.0.0.1:2379?x=1");
    assert!(
        error(&mixed).contains("must be http://HOST:PORT"),
        "{}",
        error(&mixed)
    );
}
