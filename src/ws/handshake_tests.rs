//! The upgrade request through `parse_request`, one test per rule of RFC 6455 4.2.1 and
//! per choice the module comment of `handshake.rs` documents. The parser keeps no state,
//! so "split at every byte boundary" means: every proper prefix of a request is
//! `Ok(None)`, and bytes after it do not change the answer.

use super::{parse_request, HandshakeError, Request, Subprotocol, DEFAULT_HEADERS_SIZE};

/// The request of RFC 6455 1.3, offering `mqtt` instead of the chat subprotocols.
const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, mqtt\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// The `Sec-WebSocket-Accept` of RFC 6455 1.3 for the key `dGhlIHNhbXBsZSBub25jZQ==`.
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid request with `lines` (`Name: value`) instead of the default headers of the
/// same names, in that order, and the request line `first`.
fn request(first: &str, lines: &[&str]) -> String {
    let mut headers = vec![
        "Host: broker.local:8080",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: mqtt",
    ];
    let name = |line: &str| line.split(':').next().unwrap_or("").to_ascii_lowercase();
    headers.retain(|h| !lines.iter().any(|l| name(l) == name(h)));
    headers.extend(lines.iter().copied().filter(|l| !l.ends_with(": -")));
    let mut out = format!("{first}\r\n");
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out + "\r\n"
}

/// `parse_request` on `text`: checks that every proper prefix is incomplete, and that
/// MQTT bytes sent right behind the request change nothing.
fn parse(text: &str) -> Result<Request, HandshakeError> {
    let bytes = text.as_bytes();
    for end in 0..bytes.len() {
        assert_eq!(
            parse_request(&bytes[..end], DEFAULT_HEADERS_SIZE),
            Ok(None),
            "prefix of {end} bytes"
        );
    }
    let whole = parse_request(bytes, DEFAULT_HEADERS_SIZE);
    let mut more = bytes.to_vec();
    more.extend_from_slice(&[0x82, 0x8e, 1, 2, 3, 4, 0x11]);
    assert_eq!(parse_request(&more, DEFAULT_HEADERS_SIZE), whole);
    let request = whole?.expect("a whole request");
    assert_eq!(request.len, bytes.len());
    Ok(request)
}

fn refused(text: &str) -> HandshakeError {
    parse(text).expect_err("refused")
}

#[test]
fn rfc_1_3_request_is_answered_with_its_accept_value() {
    let request = parse(RFC_REQUEST).expect("accepted");
    assert_eq!(request.accept(), RFC_ACCEPT);
    assert_eq!(request.subprotocol, Some(Subprotocol::Mqtt));
    assert_eq!(
        request.response().as_bytes(),
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {RFC_ACCEPT}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
        )
        .as_bytes()
    );
}

#[test]
fn rfc_1_3_request_offering_only_chat_is_refused() {
    let text = RFC_REQUEST.replace("chat, mqtt", "chat, superchat");
    assert_eq!(refused(&text), HandshakeError::NoMqttSubprotocol);
}

#[test]
fn mqtt_bytes_after_the_request_are_not_counted_in_it() {
    let text = request("GET /mqtt HTTP/1.1", &[]);
    let mut bytes = text.clone().into_bytes();
    bytes.extend_from_slice(b"\x82\x8c");
    let request = parse_request(&bytes, DEFAULT_HEADERS_SIZE);
    assert_eq!(request.map(|r| r.map(|r| r.len)), Ok(Some(text.len())));
}

#[test]
fn request_longer_than_the_limit_is_refused() {
    let text = request(
        "GET / HTTP/1.1",
        &["Cookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
    );
    let bytes = text.as_bytes();
    let len = bytes.len();
    assert!(parse_request(bytes, len).is_ok_and(|r| r.is_some()));
    let too_large = HandshakeError::TooLarge { limit: len - 1 };
    assert_eq!(parse_request(bytes, len - 1), Err(too_large));
    // Without its end: incomplete below the limit, refused at it.
    assert_eq!(parse_request(&bytes[..len - 2], len - 1), Ok(None));
    assert_eq!(parse_request(&bytes[..len - 1], len - 1), Err(too_large));
    assert_eq!(too_large.status(), 400);
}

#[test]
fn header_names_are_case_insensitive_and_values_trimmed() {
    let text = request(
        "GET /mqtt HTTP/1.1",
        &[
            "HOST:broker",
            "upgrade: \t WebSocket \t",
            "CONNECTION: keep-alive, Upgrade",
            "sec-websocket-key:   dGhlIHNhbXBsZSBub25jZQ==  ",
            "SEC-WEBSOCKET-VERSION: 13 ",
            "sec-websocket-protocol:  mqtt ",
        ],
    );
    let request = parse(&text).expect("accepted");
    assert_eq!(request.accept(), RFC_ACCEPT);
    assert_eq!(request.subprotocol, Some(Subprotocol::Mqtt));
}

#[test]
fn repeated_list_headers_are_joined() {
    let text = request(
        "GET /mqtt HTTP/1.1",
        &[
            "Connection: keep-alive",
            "Sec-WebSocket-Protocol: wamp",
            "Connection: ,Upgrade",
            "Sec-WebSocket-Protocol: mqtt",
        ],
    );
    assert_eq!(
        parse(&text).map(|r| r.subprotocol),
        Ok(Some(Subprotocol::Mqtt))
    );
}

#[test]
fn repeated_single_headers_are_refused() {
    let cases = [
        ("Host: b", HandshakeError::BadHost),
        ("Sec-WebSocket-Version: 13", HandshakeError::Version),
        (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            HandshakeError::BadKey,
        ),
    ];
    for (line, error) in cases {
        let text = request("GET / HTTP/1.1", &[]).replacen("\r\n", &format!("\r\n{line}\r\n"), 1);
        assert_eq!(refused(&text), error, "{line}");
    }
}

#[test]
fn first_offered_mqtt_subprotocol_is_chosen() {
    let cases = [
        ("Sec-WebSocket-Protocol: mqtt", Some(Subprotocol::Mqtt)),
        (
            "Sec-WebSocket-Protocol: mqttv3.1",
            Some(Subprotocol::MqttV31),
        ),
        (
            "Sec-WebSocket-Protocol: mqttv3.1, mqtt",
            Some(Subprotocol::MqttV31),
        ),
        (
            "Sec-WebSocket-Protocol: wamp, mqtt, mqttv3.1",
            Some(Subprotocol::Mqtt),
        ),
    ];
    for (line, chosen) in cases {
        let request = parse(&request("GET / HTTP/1.1", &[line])).expect(line);
        assert_eq!(request.subprotocol, chosen, "{line}");
        let response = String::from_utf8(request.response().as_bytes().to_vec()).expect("ASCII");
        let expected = format!(
            "\r\nSec-WebSocket-Protocol: {}\r\n",
            chosen.expect("").name()
        );
        assert!(response.contains(&expected), "{response}");
    }
}

#[test]
fn subprotocol_names_are_case_sensitive() {
    let text = request("GET / HTTP/1.1", &["Sec-WebSocket-Protocol: MQTT"]);
    assert_eq!(refused(&text), HandshakeError::NoMqttSubprotocol);
}

#[test]
fn no_subprotocol_offered_is_accepted_without_naming_one() {
    for line in ["Sec-WebSocket-Protocol: -", "Sec-WebSocket-Protocol: , "] {
        let request = parse(&request("GET / HTTP/1.1", &[line])).expect(line);
        assert_eq!(request.subprotocol, None);
        let response = request.response();
        let text = std::str::from_utf8(response.as_bytes()).expect("ASCII");
        assert!(!text.contains("Sec-WebSocket-Protocol"), "{text}");
        assert!(text.ends_with(&format!("Sec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n")));
    }
}

#[test]
fn any_path_and_any_origin_are_accepted() {
    for first in [
        "GET / HTTP/1.1",
        "GET /mqtt HTTP/1.1",
        "GET /a/b?c=d#e HTTP/1.1",
    ] {
        let text = request(first, &["Origin: https://elsewhere.example"]);
        assert!(parse(&text).is_ok(), "{first}");
    }
}

#[test]
fn later_http_versions_are_accepted() {
    assert!(parse(&request("GET / HTTP/1.2", &[])).is_ok());
    assert!(parse(&request("GET / HTTP/2.0", &[])).is_ok());
}

#[test]
fn http_1_0_is_refused() {
    assert_eq!(
        refused(&request("GET / HTTP/1.0", &[])),
        HandshakeError::OldHttp
    );
}

#[test]
fn methods_other_than_get_are_refused() {
    for method in ["POST", "get", "HEAD"] {
        let text = request(&format!("{method} / HTTP/1.1"), &[]);
        assert_eq!(refused(&text), HandshakeError::NotGet, "{method}");
    }
}

#[test]
fn malformed_request_lines_are_refused() {
    for first in [
        "GET /",
        "GET  / HTTP/1.1",
        "GET / HTTP/1.1 x",
        "GET / HTTP/one",
        "GET / HTTX/1.1",
        "GET / HTTP/1",
    ] {
        assert_eq!(
            refused(&request(first, &[])),
            HandshakeError::BadRequestLine,
            "{first}"
        );
    }
}

#[test]
fn malformed_header_lines_are_refused() {
    for line in ["NoColon", "Host : x", ": empty name", " folded: line"] {
        let text = request("GET / HTTP/1.1", &[]).replacen("\r\n", &format!("\r\n{line}\r\n"), 1);
        assert_eq!(refused(&text), HandshakeError::BadHeaderLine, "{line}");
    }
}

#[test]
fn missing_host_is_refused() {
    assert_eq!(
        refused(&request("GET / HTTP/1.1", &["Host: -"])),
        HandshakeError::BadHost
    );
}

#[test]
fn plain_http_request_is_answered_not_found() {
    let error = refused("GET / HTTP/1.1\r\nHost: broker\r\nAccept: text/html\r\n\r\n");
    assert_eq!(error, HandshakeError::NotUpgrade);
    assert_eq!(error.status(), 404);
}

#[test]
fn upgrade_to_another_protocol_is_refused() {
    let text = request("GET / HTTP/1.1", &["Upgrade: h2c"]);
    assert_eq!(refused(&text), HandshakeError::UpgradeNotWebSocket);
}

#[test]
fn connection_without_the_upgrade_token_is_refused() {
    for line in [
        "Connection: keep-alive",
        "Connection: upgraded",
        "Connection: -",
    ] {
        let text = request("GET / HTTP/1.1", &[line]);
        assert_eq!(
            refused(&text),
            HandshakeError::ConnectionNotUpgrade,
            "{line}"
        );
    }
}

#[test]
fn versions_other_than_13_are_answered_upgrade_required() {
    for line in [
        "Sec-WebSocket-Version: 8",
        "Sec-WebSocket-Version: 13, 8",
        "Sec-WebSocket-Version: -",
    ] {
        let error = refused(&request("GET / HTTP/1.1", &[line]));
        assert_eq!(error, HandshakeError::Version, "{line}");
        assert_eq!(error.status(), 426);
        let response = std::str::from_utf8(error.response()).expect("ASCII");
        assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(response.contains("\r\nConnection: Upgrade, close\r\n"));
    }
}

#[test]
fn keys_that_are_not_sixteen_bytes_of_base64_are_refused() {
    for line in [
        "Sec-WebSocket-Key: -",
        "Sec-WebSocket-Key: abc",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSEhIQ==",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==",
    ] {
        let text = request("GET / HTTP/1.1", &[line]);
        assert_eq!(refused(&text), HandshakeError::BadKey, "{line}");
    }
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let text = request("GET / HTTP/1.1", &[]).replace("\r\n", "\n");
    assert_eq!(
        parse(&text).map(|r| r.accept().to_string()),
        Ok(RFC_ACCEPT.to_string())
    );
}

#[test]
fn every_refusal_closes_the_connection() {
    let errors = [
        HandshakeError::TooLarge { limit: 1 },
        HandshakeError::BadRequestLine,
        HandshakeError::BadHeaderLine,
        HandshakeError::NotGet,
        HandshakeError::OldHttp,
        HandshakeError::BadHost,
        HandshakeError::NotUpgrade,
        HandshakeError::UpgradeNotWebSocket,
        HandshakeError::ConnectionNotUpgrade,
        HandshakeError::Version,
        HandshakeError::BadKey,
        HandshakeError::NoMqttSubprotocol,
    ];
    for error in errors {
        let response = std::str::from_utf8(error.response()).expect("ASCII");
        let status = format!("HTTP/1.1 {} ", error.status());
        assert!(response.starts_with(&status), "{error}: {response}");
        assert!(response.contains("\r\nConnection: ") && response.contains("close\r\n"));
        assert!(
            response.ends_with("\r\nContent-Length: 0\r\n\r\n"),
            "{error}"
        );
        assert!(!error.to_string().is_empty());
    }
}
