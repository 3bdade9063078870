//! The HTTP/1.1 GET of the `http` and `https` health checks, over a stream `probe.rs` has
//! already connected (and, for https, wrapped in TLS).
//!
//! `Prober::probe` calls [`get`] once per interval per address, under the check's overall
//! timeout; this file only judges one response (status range, body substring). Verdicts
//! from successive probes are computed elsewhere.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, CONNECTION, HOST, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::task::AbortOnDropHandle;

use super::probe::ProbeError;
use crate::config::HttpCheck;

/// How much of a body is searched for `body`: health pages are small, and a probe must not
/// read an endless stream.
const BODY_LIMIT: usize = 64 * 1024;

const AGENT: &str = concat!("failoverd-health/", env!("CARGO_PKG_VERSION"));

/// One GET of `check.path` with the given Host value; Ok when the status is in range and,
/// if `check.body` is set, the first [`BODY_LIMIT`] bytes of the body contain it.
pub(super) async fn get<S>(
    stream: S,
    check: &HttpCheck,
    host: HeaderValue,
) -> Result<(), ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(http_error)?;
    // hyper does the socket I/O in this future, so it runs on its own task while we await
    // the response here. Aborting it when this function ends (or is dropped by the
    // timeout) closes the socket at once: nothing outlives the probe.
    // Aborted when the request is done or dropped (a timeout): no task or socket outlives it.
    let _conn = AbortOnDropHandle::new(tokio::spawn(conn));

    let request = Request::builder()
        .method(Method::GET)
        .uri(check.path.as_str())
        .header(HOST, host)
        .header(USER_AGENT, AGENT)
        .header(CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| ProbeError::Http(format!("bad request: {e}")))?;
    let response = sender.send_request(request).await.map_err(http_error)?;

    let got = response.status().as_u16();
    if !(check.status_min..=check.status_max).contains(&got) {
        return Err(ProbeError::Status {
            got,
            min: check.status_min,
            max: check.status_max,
        });
    }
    let Some(expected) = &check.body else {
        return Ok(());
    };
    let needle = expected.as_bytes();
    if needle.is_empty() {
        return Ok(());
    }
    let mut body = response.into_body();
    let mut seen: Vec<u8> = Vec::new();
    while seen.len() < BODY_LIMIT {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(http_error)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        // Only the new bytes plus a needle-length overlap can hold a new match.
        let start = seen.len().saturating_sub(needle.len() - 1);
        let take = data.len().min(BODY_LIMIT - seen.len());
        seen.extend_from_slice(&data[..take]);
        if seen[start..].windows(needle.len()).any(|w| w == needle) {
            return Ok(());
        }
    }
    Err(ProbeError::Body {
        expected: expected.clone(),
    })
}

fn http_error(e: hyper::Error) -> ProbeError {
    ProbeError::Http(crate::http1::describe(&e))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::BODY_LIMIT;
    use crate::config::{CheckKind, HttpCheck, TlsCheck};
    use crate::health::probe::{ProbeError, Prober};
    use crate::health::test_support::{health, http_check, pem_file, pki, serve, tls_check, Seen};

    use crate::health::test_support::OK;
    const DOWN: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown";
    const NO_CONTENT: &str = "HTTP/1.1 204 No Content\r\n\r\n";
    const CHUNKED: &str =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nstatus:\r\n3\r\n ok\r\n0\r\n\r\n";

    async fn probe_http(
        response: &'static str,
        check: HttpCheck,
    ) -> (Result<(), ProbeError>, Seen) {
        let mut server = serve(response, None).await;
        let prober = Prober::new(&health(CheckKind::Http(check), Duration::from_secs(5))).unwrap();
        let result = prober.probe(server.addr, "127.0.0.1").await.map(|role| {
            assert_eq!(role, None, "an http check answers no role");
        });
        (result, server.seen.recv().await.unwrap())
    }

    #[tokio::test]
    async fn ok_response_with_body_passes_and_sends_expected_head() {
        let (result, seen) = probe_http(OK, http_check((200, 399), Some("status: ok"), None)).await;
        result.unwrap();
        assert!(
            seen.head.starts_with("get /healthz?full=1 http/1.1\r\n"),
            "{}",
            seen.head
        );
        let port = seen
            .head
            .split("host: 127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split("\r\n").next());
        assert!(
            port.is_some_and(|p| p.parse::<u16>().is_ok()),
            "{}",
            seen.head
        );
        let agent = format!(
            "user-agent: failoverd-health/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(seen.head.contains(&agent), "{}", seen.head);
        assert!(seen.head.contains("connection: close\r\n"), "{}", seen.head);
    }

    #[tokio::test]
    async fn configured_host_header_is_sent() {
        let (result, seen) = probe_http(
            OK,
            http_check((200, 399), None, Some("health.example:8080")),
        )
        .await;
        result.unwrap();
        assert!(
            seen.head.contains("\r\nhost: health.example:8080\r\n"),
            "{}",
            seen.head
        );
        assert_eq!(seen.head.matches("host:").count(), 1, "{}", seen.head);
    }

    #[tokio::test]
    async fn status_outside_range_fails() {
        let (result, _) = probe_http(DOWN, http_check((200, 399), None, None)).await;
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                ProbeError::Status {
                    got: 503,
                    min: 200,
                    max: 399
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "status 503 not in 200-399");
        assert_eq!(err.kind(), "status");
    }

    #[tokio::test]
    async fn single_status_range() {
        let (result, _) = probe_http(NO_CONTENT, http_check((200, 200), None, None)).await;
        let err = result.unwrap_err();
        assert_eq!(err.to_string(), "status 204 not in 200-200");
        let (result, _) = probe_http(NO_CONTENT, http_check((204, 204), None, None)).await;
        result.unwrap();
    }

    #[tokio::test]
    async fn body_mismatch_fails() {
        let (result, _) = probe_http(OK, http_check((200, 399), Some("ready"), None)).await;
        let err = result.unwrap_err();
        assert!(
            matches!(&err, ProbeError::Body { expected } if expected == "ready"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "body does not contain \"ready\"");
        assert_eq!(err.kind(), "body");
    }

    #[tokio::test]
    async fn body_match_spans_chunks() {
        let (result, _) =
            probe_http(CHUNKED, http_check((200, 399), Some("status: ok"), None)).await;
        result.unwrap();
    }

    #[tokio::test]
    async fn garbage_response_is_an_http_error() {
        let (result, _) = probe_http(
            "SSH-2.0-OpenSSH_9.2\r\n\r\n",
            http_check((200, 399), None, None),
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), "http", "{err}");
        assert_eq!(err.to_string(), "http: invalid HTTP version parsed");
    }

    #[tokio::test]
    async fn body_is_searched_only_in_the_first_64k() {
        let body = format!("{}found", "x".repeat(BODY_LIMIT));
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let response: &'static str = Box::leak(format!("{head}{body}").into_boxed_str());
        let (result, _) = probe_http(response, http_check((200, 399), Some("found"), None)).await;
        assert!(matches!(result, Err(ProbeError::Body { .. })), "{result:?}");
        let (result, _) = probe_http(response, http_check((200, 399), Some("xxx"), None)).await;
        result.unwrap();
    }

    fn https(tls: TlsCheck) -> Prober {
        let kind = CheckKind::Https(http_check((200, 399), Some("ok"), None), tls);
        Prober::new(&health(kind, Duration::from_secs(5))).unwrap()
    }

    #[tokio::test]
    async fn https_trusted_by_ca_file() {
        let (ca_pem, acceptor) = pki();
        let ca = pem_file(&ca_pem);
        let mut server = serve(OK, Some(acceptor)).await;
        https(tls_check(Some(&ca), None, false))
            .probe(server.addr, "localhost")
            .await
            .unwrap();
        let seen = server.seen.recv().await.unwrap();
        assert_eq!(seen.sni.as_deref(), Some("localhost"));
        assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
        let host = format!("\r\nhost: localhost:{}\r\n", server.addr.port());
        assert!(seen.head.contains(&host), "{}", seen.head);
    }

    #[tokio::test]
    async fn https_untrusted_with_system_roots() {
        let (_, acceptor) = pki();
        let server = serve(OK, Some(acceptor)).await;
        let err = https(tls_check(None, None, false))
            .probe(server.addr, "localhost")
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::Tls(_)), "{err:?}");
        assert_eq!(err.kind(), "tls");
        assert_eq!(
            err.to_string(),
            "tls: invalid peer certificate: UnknownIssuer"
        );
    }

    #[tokio::test]
    async fn https_skip_verify() {
        let (_, acceptor) = pki();
        let server = serve(OK, Some(acceptor)).await;
        // A name the certificate does not cover: skip_verify ignores it too.
        https(tls_check(None, Some("other.example"), true))
            .probe(server.addr, "127.0.0.1")
            .await
            .unwrap();
    }
}
