//! WebSocket listeners (`protocol websockets`) on the wire, with frames and requests
//! spelled out from RFC 6455 here (an oracle that shares no code with `sol::ws`): the
//! upgrade and its answer, MQTT packets split across frames and packed into one,
//! fragmented messages with a Ping between the fragments, the close handshake, the
//! frames a server must refuse, an oversized or unanswered upgrade, and a large message.
//! MQTT.js from Node and in headless Chromium: `tests/websockets/run.mjs` (CI).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// RFC 6455 1.3's example key and its answer.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Opcodes (RFC 6455 5.2).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// `sol` with one WebSocket listener and `extra` configuration; its address.
fn sol_ws(tag: &str, extra: &str) -> (SolProcess, SocketAddr, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sol-ws-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("sol.conf");
    std::fs::write(
        &file,
        format!("allow_anonymous true\n{extra}listener 0 127.0.0.1\nprotocol websockets\n"),
    )
    .expect("config");
    let mut sol = SolProcess::start(&file);
    let addr = sol.tcp_addr();
    (sol, addr, dir)
}

/// The upgrade request for `path` offering `protocols`.
fn request(protocols: &str) -> String {
    format!(
        "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n\r\n"
    )
}

/// Reads an HTTP response head (through the blank line).
fn read_http(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("HTTP response");
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("ASCII response")
}

/// A connection upgraded to a WebSocket speaking `mqtt`.
fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut stream = tcp(addr);
    stream
        .write_all(request("mqtt").as_bytes())
        .expect("send request");
    let response = read_http(&mut stream);
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    stream
}

/// A client frame: masked as RFC 6455 5.3 requires (unless `masked` is false).
fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![u8::from(fin) << 7 | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n < 65536 => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A masked binary frame carrying `payload` whole.
fn binary(payload: &[u8]) -> Vec<u8> {
    frame(true, BINARY, payload, true)
}

/// Reads one server frame: (FIN, opcode, payload). Server frames are never masked.
fn read_frame(stream: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("frame header");
    assert_eq!(
        head[1] & 0x80,
        0,
        "a server frame is not masked (RFC 6455 5.1)"
    );
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).expect("length");
            usize::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).expect("length");
            u64::from_be_bytes(b) as usize
        }
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).expect("payload");
    (head[0] & 0x80 != 0, head[0] & 0x0f, payload)
}

/// The MQTT bytes of the next binary frames, until `n` bytes have arrived.
fn read_mqtt(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let (_, opcode, payload) = read_frame(stream);
        assert!(matches!(opcode, BINARY | CONTINUATION), "opcode {opcode}");
        got.extend_from_slice(&payload);
    }
    assert_eq!(got.len(), n, "no bytes beyond what was expected");
    got
}

/// CONNACK accepting a clean MQTT 3.1.1 session.
const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

#[test]
fn the_upgrade_is_answered_as_rfc_6455_says() {
    let (_sol, addr, dir) = sol_ws("upgrade", "");
    let mut stream = tcp(addr);
    stream
        .write_all(request("mqttv3.1, mqtt").as_bytes())
        .expect("send");
    let response = read_http(&mut stream);
    let lower = response.to_ascii_lowercase();
    assert!(response.starts_with("HTTP/1.1 101 "), "{response}");
    assert!(lower.contains("upgrade: websocket"), "{response}");
    assert!(lower.contains("connection: upgrade"), "{response}");
    assert!(
        response.contains(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")),
        "{response}"
    );
    // The first offered that it speaks [MQTT-6.0.0-4].
    assert!(
        response.contains("Sec-WebSocket-Protocol: mqttv3.1\r\n"),
        "{response}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mqtt_packets_split_across_frames_and_packed_into_one() {
    let (_sol, addr, dir) = sol_ws("framing", "");
    let mut ws = upgraded(addr);
    // CONNECT in two frames of one fragmented message, a Ping between them.
    let packet = connect("ws-split", 30, true);
    let (a, b) = packet.split_at(5);
    ws.write_all(&frame(false, BINARY, a, true))
        .expect("first fragment");
    ws.write_all(&frame(true, PING, b"are you there", true))
        .expect("ping");
    ws.write_all(&frame(true, CONTINUATION, b, true))
        .expect("last fragment");
    // The Pong carries the Ping's payload (RFC 6455 5.5.3).
    assert_eq!(read_frame(&mut ws), (true, PONG, b"are you there".to_vec()));
    assert_eq!(read_mqtt(&mut ws, 4), CONNACK);
    // SUBSCRIBE and PINGREQ packed into one frame: both answered.
    let packed = [subscribe(1, "a/b", 1), vec![0xc0, 0x00]].concat();
    ws.write_all(&binary(&packed)).expect("packed");
    let mut answers = suback(1, 1);
    answers.extend_from_slice(&[0xd0, 0x00]);
    assert_eq!(read_mqtt(&mut ws, answers.len()), answers);
    // A PUBLISH split in three frames of three separate messages, at odd places.
    let publish = publish("a/b", b"over websockets", 1, Some(9), false);
    for part in [&publish[..1], &publish[1..7], &publish[7..]] {
        ws.write_all(&binary(part)).expect("part");
    }
    // Its delivery back to this subscriber and its PUBACK, in either order.
    let bytes = read_mqtt(&mut ws, publish.len() + 4);
    let delivered = if bytes[0] >> 4 == 4 {
        parse_publish(&bytes[4..])
    } else {
        parse_publish(&bytes[..publish.len()])
    };
    assert_eq!(
        (delivered.topic.as_str(), &delivered.payload[..]),
        ("a/b", &b"over websockets"[..])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_close_is_echoed_and_the_connection_ends() {
    let (_sol, addr, dir) = sol_ws("close", "");
    let mut ws = upgraded(addr);
    ws.write_all(&binary(&connect("ws-close", 30, true)))
        .expect("connect");
    assert_eq!(read_mqtt(&mut ws, 4), CONNACK);
    ws.write_all(&frame(true, CLOSE, &1000u16.to_be_bytes(), true))
        .expect("close");
    // The Close echoes the status (RFC 6455 5.5.1), then the server closes the socket.
    let (_, opcode, payload) = read_frame(&mut ws);
    assert_eq!((opcode, &payload[..2]), (CLOSE, &1000u16.to_be_bytes()[..]));
    assert!(expect_closed(&mut ws).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends `bad` after CONNECT and expects a Close with `status`, then the end.
fn refused_with(tag: &str, bad: &[u8], status: u16) {
    let (_sol, addr, dir) = sol_ws(tag, "");
    let mut ws = upgraded(addr);
    ws.write_all(&binary(&connect(tag, 30, true)))
        .expect("connect");
    assert_eq!(read_mqtt(&mut ws, 4), CONNACK);
    ws.write_all(bad).expect("bad frame");
    let (_, opcode, payload) = read_frame(&mut ws);
    assert_eq!(opcode, CLOSE);
    assert_eq!(
        u16::from_be_bytes([payload[0], payload[1]]),
        status,
        "{tag}"
    );
    expect_closed(&mut ws);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unmasked_client_frame_is_a_protocol_error() {
    // "The server MUST close the connection upon receiving a frame that is not masked"
    // (RFC 6455 5.1).
    refused_with("unmasked", &frame(true, BINARY, &[0xc0, 0x00], false), 1002);
}

#[test]
fn a_text_frame_ends_the_connection_mqtt_6_0_0_1() {
    refused_with("text", &frame(true, TEXT, b"hello", true), 1003);
}

#[test]
fn a_fragmented_control_frame_is_a_protocol_error() {
    refused_with("fragping", &frame(false, PING, b"x", true), 1002);
}

#[test]
fn an_upgrade_larger_than_websockets_headers_size_is_refused() {
    let (_sol, addr, dir) = sol_ws("headers", "websockets_headers_size 512\n");
    let mut stream = tcp(addr);
    let cookie = "c".repeat(600);
    let big = request("mqtt").replace("\r\n\r\n", &format!("\r\nCookie: {cookie}\r\n\r\n"));
    stream.write_all(big.as_bytes()).expect("send");
    let response = String::from_utf8_lossy(&expect_closed(&mut stream)).to_string();
    assert!(response.starts_with("HTTP/1.1 4"), "{response}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plain_http_request_gets_404() {
    let (_sol, addr, dir) = sol_ws("http", "");
    let mut stream = tcp(addr);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let response = String::from_utf8_lossy(&expect_closed(&mut stream)).to_string();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_upgrade_that_never_completes_is_closed_by_the_connect_timeout() {
    let (_sol, addr, dir) = sol_ws("slow", "connect_timeout 1\n");
    let mut stream = tcp(addr);
    stream
        .write_all(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
        .expect("half a request");
    expect_closed(&mut stream);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_large_message_crosses_websocket_frames_into_its_body() {
    let (_sol, addr, dir) = sol_ws("large", "");
    let mut sub = upgraded(addr);
    sub.write_all(&binary(&connect("ws-sub", 30, true)))
        .expect("connect");
    assert_eq!(read_mqtt(&mut sub, 4), CONNACK);
    sub.write_all(&binary(&subscribe(1, "big", 0)))
        .expect("subscribe");
    assert_eq!(read_mqtt(&mut sub, 5), suback(1, 0));
    let mut publisher = upgraded(addr);
    publisher
        .write_all(&binary(&connect("ws-pub", 30, true)))
        .expect("connect");
    assert_eq!(read_mqtt(&mut publisher, 4), CONNACK);
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let packet = publish("big", &payload, 0, None, false);
    // In frames of 4,000 bytes: the payload crosses 75 frame headers on its way in.
    for chunk in packet.chunks(4000) {
        publisher.write_all(&binary(chunk)).expect("chunk");
    }
    let got = read_mqtt(&mut sub, packet.len());
    assert!(parse_publish(&got).payload == payload, "300 KB intact");
    let _ = std::fs::remove_dir_all(&dir);
}
