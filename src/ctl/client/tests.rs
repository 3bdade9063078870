use super::*;

#[test]
fn admin_urls() {
    let u = AdminUrl::parse("http://127.0.0.1:9090", "--admin").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.https),
        ("127.0.0.1", 9090, false)
    );
    assert_eq!(u.url("/v1/groups"), "http://127.0.0.1:9090/v1/groups");
    let u = AdminUrl::parse("https://[::1]/failoverd/", "--admin").unwrap();
    assert_eq!((u.host.as_str(), u.port, u.https), ("::1", 443, true));
    assert_eq!(u.url("/v1/reload"), "https://[::1]/failoverd/v1/reload");
    for bad in [
        "127.0.0.1:9090",
        "ftp://host",
        "http://",
        "http://u:p@host",
        "not a url",
    ] {
        let err = AdminUrl::parse(bad, "--admin").unwrap_err();
        assert!(matches!(err, CtlError::Usage(_)), "{bad}: {err:?}");
        assert_eq!(err.exit_code(), 64);
    }
}

#[test]
fn names_are_encoded() {
    assert_eq!(encode("app-1_x.y~"), "app-1_x.y~");
    assert_eq!(encode("a/b c"), "a%2Fb%20c");
}

#[test]
fn durations_as_written() {
    assert_eq!(show_duration(Duration::from_secs(5)), "5s");
    assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    assert_eq!(show_duration(Duration::ZERO), "0ms");
}

#[test]
fn error_answers_without_json() {
    assert_eq!(
        fallback_message(StatusCode::BAD_GATEWAY, b""),
        "Bad Gateway"
    );
    assert_eq!(
        fallback_message(StatusCode::BAD_GATEWAY, b" upstream down\n"),
        "upstream down"
    );
}
