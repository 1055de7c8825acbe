//! The WebSocket core (`sol::ws`) against a real client, before the reactor carries it:
//! paho-mqtt with `transport="websockets"` (`tests/ws/paho_ws.py`) talks to a blocking,
//! one-connection loopback server built from nothing but `sol::ws` and `sol::codec`, the
//! way the reactor will use them: the upgrade request read from whatever arrived, the
//! bytes after it kept, each read decoded in place, MQTT packets framed from the bytes
//! that come out, answers written as a `ws::binary_header` gathered in front of the
//! packet with `writev`. The client's masking, its frame lengths (a 200 KB PUBLISH takes
//! the 64-bit form) and the reads that split frames anywhere meet the decoder; the
//! server's 101 response and unmasked frames (the same 200 KB sent back) meet paho.

mod common;

use common::{paho_python, TIMEOUT};
use sol::codec::{
    decode, Ack, Connack, FixedHeader, Packet, ProtocolVersion, Publish, QoS, ReasonCode, Suback,
};
use sol::ws::{
    binary_header, close, parse_request, pong, Control, Decoder, Subprotocol, DEFAULT_HEADERS_SIZE,
    MAX_CONTROL_FRAME, MAX_DATA_HEADER,
};
use std::io::{IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

/// The size of the message paho publishes and gets back.
const BIG: usize = 200_000;

/// What the server saw of the client.
#[derive(Debug, Default)]
struct Seen {
    /// The subprotocol chosen in the handshake.
    subprotocol: Option<Subprotocol>,
    /// Type and topic (or client id) of every packet, in order.
    packets: Vec<(u8, String)>,
    /// The payload of the PUBLISH on `ws/big`.
    big: Vec<u8>,
    /// How many reads the frames took (more than one: frames were split across reads).
    reads: usize,
}

/// Writes `packet` to `sock` as one binary frame: the header and the packet gathered.
fn send(sock: &mut TcpStream, packet: &Packet<'_>) {
    let bytes = packet.to_vec(ProtocolVersion::V311).expect("encodes");
    let mut header = [0; MAX_DATA_HEADER];
    let n = binary_header(bytes.len(), &mut header);
    let mut parts = [IoSlice::new(&header[..n]), IoSlice::new(&bytes)];
    let mut parts = &mut parts[..];
    while !parts.is_empty() {
        let written = sock.write_vectored(parts).expect("write");
        IoSlice::advance_slices(&mut parts, written);
    }
}

/// Serves one WebSocket MQTT client on `listener` until it closes the connection.
fn serve(listener: TcpListener) -> Seen {
    let (mut sock, _) = listener.accept().expect("accept");
    sock.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut seen = Seen::default();
    let mut chunk = [0; 1500];
    let mut input = Vec::new();
    let request = loop {
        let n = sock.read(&mut chunk).expect("read the request");
        assert!(n > 0, "closed during the handshake");
        input.extend_from_slice(&chunk[..n]);
        if let Some(request) = parse_request(&input, DEFAULT_HEADERS_SIZE).expect("accepted") {
            break request;
        }
    };
    seen.subprotocol = request.subprotocol;
    sock.write_all(request.response().as_bytes()).expect("101");
    let mut frames = input.split_off(request.len);
    let (mut decoder, mut mqtt) = (Decoder::new(), Vec::new());
    loop {
        let mut replies = Vec::new();
        let decoded = decoder.decode(&mut frames, |control| {
            let mut out = [0; MAX_CONTROL_FRAME];
            let n = match control {
                Control::Ping(payload) => pong(payload, &mut out),
                Control::Pong => return,
                Control::Close(status) => close(status, "", &mut out),
            };
            replies.push(out[..n].to_vec());
        });
        assert_eq!(decoded.error, None, "a well-formed stream");
        mqtt.extend_from_slice(&frames[..decoded.mqtt]);
        while let Some(header) = FixedHeader::parse(&mqtt).expect("MQTT framing") {
            if mqtt.len() < header.packet_len() {
                break;
            }
            let bytes: Vec<u8> = mqtt.drain(..header.packet_len()).collect();
            let packet = decode(&bytes, ProtocolVersion::V311).expect("an MQTT packet");
            answer(&mut sock, &packet, &mut seen);
        }
        for reply in replies {
            sock.write_all(&reply).expect("control reply");
        }
        let n = sock.read(&mut chunk).expect("read");
        if n == 0 {
            return seen;
        }
        seen.reads += 1;
        frames = chunk[..n].to_vec();
    }
}

/// Notes `packet` in `seen` and answers it as a broker would.
fn answer(sock: &mut TcpStream, packet: &Packet<'_>, seen: &mut Seen) {
    let name = match packet {
        Packet::Connect(c) => {
            send(
                sock,
                &Packet::Connack(Connack::new(false, ReasonCode::SUCCESS)),
            );
            c.client_id.to_string()
        }
        Packet::Subscribe(s) => {
            let suback = Suback {
                packet_id: s.packet_id,
                properties: Default::default(),
                reason_codes: &[0],
            };
            send(sock, &Packet::Suback(suback));
            String::new()
        }
        Packet::Publish(p) => {
            if let Some(id) = p.packet_id {
                send(sock, &Packet::Puback(Ack::new(id)));
            }
            if p.topic == "ws/big" {
                seen.big = p.payload.to_vec();
                let back = Publish {
                    qos: QoS::AtMostOnce,
                    packet_id: None,
                    ..*p
                };
                send(sock, &Packet::Publish(back));
            }
            p.topic.to_string()
        }
        _ => String::new(),
    };
    seen.packets.push((packet.packet_type() as u8, name));
}

#[test]
fn paho_over_websockets_meets_the_core() {
    let python = paho_python();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || serve(listener));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws/paho_ws.py");
    let out = Command::new("timeout")
        .args(["60", &python, script, &port.to_string(), &BIG.to_string()])
        .output()
        .expect("run paho");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "paho: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("received {BIG}"));
    let seen = server.join().expect("the server ends when paho closes");
    assert_eq!(seen.subprotocol, Some(Subprotocol::Mqtt));
    let expected: Vec<(u8, String)> = [
        (1, "paho-ws"),
        (8, ""),
        (3, "ws/big"),
        (3, "ws/small"),
        (14, ""),
    ]
    .iter()
    .map(|(t, s)| (*t, s.to_string()))
    .collect();
    assert_eq!(seen.packets, expected);
    let sent: Vec<u8> = (0..BIG).map(|i| (i * 7 % 251) as u8).collect();
    assert!(seen.big == sent, "the big payload arrived changed");
    assert!(seen.reads > BIG / 1500, "{} reads", seen.reads);
}
