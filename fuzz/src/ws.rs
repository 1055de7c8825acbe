//! WebSocket driver: arbitrary bytes through `sol::ws`, as a WebSocket connection's
//! stream: the upgrade request, then frames.
//!
//! The first byte seeds the split: the rest of the input is the stream. It is parsed as an
//! upgrade request (with the default limit and a small one); when a request is accepted,
//! the bytes after it are the frames, otherwise the whole stream is (so every input also
//! reaches the decoder). The frames are decoded once in one piece and once split into
//! chunks of pseudo-random sizes (1 to 64 bytes, or the rest) drawn from the seed.
//!
//! Invariants checked: nothing panics; the parser answers `Ok(None)` for the request's
//! bytes minus one and the same for the request with or without the bytes after it, uses
//! no more than the limit, and its 101 response ends the headers; the decoder hands out
//! the same MQTT bytes, control events and error whatever the split, no more MQTT bytes
//! than it was fed, Ping payloads of at most 125 bytes; an error is sticky (every later
//! call returns it and nothing else); the MQTT bytes, framed again as the client would
//! (the header from `ws::binary_header`, masked with a key from the seed, or split into
//! fragments with pings between), decode back to themselves.

use sol::ws::{
    binary_header, parse_request, pong, Control, Decoder, FrameError, DEFAULT_HEADERS_SIZE,
    MAX_CONTROL_FRAME, MAX_DATA_HEADER,
};

/// Everything a decoder made of a stream.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    /// The MQTT bytes, in order.
    mqtt: Vec<u8>,
    /// The control frames, as (kind, payload): Ping with its payload, Pong, Close with
    /// its status.
    events: Vec<(u8, Vec<u8>)>,
    /// The error that ended decoding, if any.
    error: Option<FrameError>,
}

/// Runs the WebSocket checks over `data`.
pub fn run(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let frames = match handshake(stream) {
        Some(len) => &stream[len..],
        None => stream,
    };
    let whole = decode(&[frames]);
    let mut sizes = Sizes(u32::from(seed) | 0x100);
    let mut chunks = Vec::new();
    let mut rest = frames;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(sizes.next().min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    assert_eq!(decode(&chunks), whole, "the split changed the outcome");
    assert!(whole.mqtt.len() <= frames.len());
    reframe(&whole.mqtt, seed);
}

/// Parses `stream` as an upgrade request; returns the request's length if accepted.
fn handshake(stream: &[u8]) -> Option<usize> {
    let _ = parse_request(stream, 64);
    let request = parse_request(stream, DEFAULT_HEADERS_SIZE).ok()??;
    assert!(request.len <= DEFAULT_HEADERS_SIZE && request.len <= stream.len());
    let (head, _) = stream.split_at(request.len);
    assert_eq!(parse_request(head, DEFAULT_HEADERS_SIZE), Ok(Some(request)));
    assert_eq!(
        parse_request(&head[..head.len() - 1], DEFAULT_HEADERS_SIZE),
        Ok(None)
    );
    let response = request.response();
    assert!(response.as_bytes().starts_with(b"HTTP/1.1 101 "));
    assert!(response.as_bytes().ends_with(b"\r\n\r\n"));
    assert_eq!(request.accept().len(), 28);
    Some(request.len)
}

/// Feeds `chunks` in order to one decoder; checks that an error is sticky.
fn decode(chunks: &[&[u8]]) -> Outcome {
    let mut decoder = Decoder::new();
    let mut outcome = Outcome::default();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut events = Vec::new();
        let decoded = decoder.decode(&mut buf, |c| {
            events.push(match c {
                Control::Ping(p) => {
                    assert!(p.len() <= 125, "a ping over 125 bytes");
                    let mut out = [0; MAX_CONTROL_FRAME];
                    assert_eq!(pong(p, &mut out), 2 + p.len());
                    (0, p.to_vec())
                }
                Control::Pong => (1, Vec::new()),
                Control::Close(s) => (2, s.map_or_else(Vec::new, |s| s.to_be_bytes().to_vec())),
            })
        });
        assert!(decoded.mqtt <= buf.len());
        if let Some(error) = outcome.error {
            assert_eq!(decoded.error, Some(error), "the error is not sticky");
            assert_eq!(
                (decoded.mqtt, events.len()),
                (0, 0),
                "output after an error"
            );
        }
        outcome.mqtt.extend_from_slice(&buf[..decoded.mqtt]);
        outcome.events.extend(events);
        outcome.error = decoded.error;
    }
    outcome
}

/// Frames `mqtt` as a client would, once whole and once in fragments with a ping
/// between, and checks that both decode to `mqtt`.
fn reframe(mqtt: &[u8], seed: u8) {
    let mask = [seed, seed ^ 0x5a, seed.wrapping_mul(3), !seed];
    let mut stream = client_frame(0x82, mqtt, mask);
    let again = decode(&[&stream]);
    assert_eq!((&again.mqtt[..], again.error), (mqtt, None));
    stream.clear();
    let (a, b) = mqtt.split_at(mqtt.len() / 2);
    stream.extend(client_frame(0x02, a, mask));
    stream.extend(client_frame(0x89, &[seed; 3], mask));
    stream.extend(client_frame(0x80, b, mask));
    let again = decode(&[&stream]);
    assert_eq!((&again.mqtt[..], again.error), (mqtt, None));
    assert_eq!(again.events, vec![(0, vec![seed; 3])]);
}

/// A client frame: the server's header for `payload.len()` with `first` as first byte,
/// the MASK bit and `mask`, then `payload` masked.
fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut header = [0; MAX_DATA_HEADER];
    let n = binary_header(payload.len(), &mut header);
    header[0] = first;
    header[1] |= 0x80;
    let mut out = header[..n].to_vec();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Chunk sizes from a xorshift generator: mostly 1 to 64 bytes, sometimes everything.
struct Sizes(u32);

impl Sizes {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        match self.0 % 16 {
            0 => usize::MAX,
            _ => 1 + (self.0 >> 8) as usize % 64,
        }
    }
}
