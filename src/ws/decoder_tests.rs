//! The frame decoder through its public API, one test per rule of RFC 6455 section 5 (and
//! [MQTT-6.0.0-1]). Every input is also fed split at every byte boundary and one byte at
//! a time, and must give the same MQTT bytes, events and error.

use super::{status, Control, Decoder, FrameError};

/// The masking key of RFC 6455 5.7's masked examples.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A control event, owned, as a test records it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Ping(Vec<u8>),
    Pong,
    Close(Option<u16>),
}

/// Everything a decoder made of a stream.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    mqtt: Vec<u8>,
    events: Vec<Event>,
    error: Option<FrameError>,
}

/// A client frame: first header byte `first`, `payload` masked with [`MASK`], the length
/// in its shortest form.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Feeds `chunks` in order to one decoder. Checks on the way that an error, once
/// returned, comes back from every later call with no MQTT bytes, also for a valid frame
/// fed after the end.
fn feed(chunks: &[&[u8]]) -> Outcome {
    let mut decoder = Decoder::new();
    let mut outcome = Outcome {
        mqtt: Vec::new(),
        events: Vec::new(),
        error: None,
    };
    let after = frame(0x82, b"after");
    for chunk in chunks.iter().copied().chain([&after[..]]) {
        let mut buf = chunk.to_vec();
        let mut events = Vec::new();
        let decoded = decoder.decode(&mut buf, |c| {
            events.push(match c {
                Control::Ping(p) => Event::Ping(p.to_vec()),
                Control::Pong => Event::Pong,
                Control::Close(s) => Event::Close(s),
            })
        });
        if let Some(error) = outcome.error {
            assert_eq!(decoded.error, Some(error), "the error is sticky");
            assert_eq!(
                (decoded.mqtt, events.len()),
                (0, 0),
                "nothing after an error"
            );
        }
        if std::ptr::eq(chunk, &after[..]) {
            break;
        }
        outcome.mqtt.extend_from_slice(&buf[..decoded.mqtt]);
        outcome.events.extend(events);
        outcome.error = decoded.error;
    }
    outcome
}

/// Decodes `input` in one piece, then split in two at every byte boundary, then one byte
/// at a time (inputs over 1 KiB: split near both ends and every 997 bytes), and checks
/// that every split gives what the one piece gave, which it returns.
fn decode(input: &[u8]) -> Outcome {
    let whole = feed(&[input]);
    let len = input.len();
    let splits: Vec<usize> = if len <= 1024 {
        (1..len).collect()
    } else {
        (1..20)
            .chain((20..len).step_by(997))
            .chain(len - 20..len)
            .collect()
    };
    for at in splits {
        let (a, b) = input.split_at(at);
        assert_eq!(feed(&[a, b]), whole, "split at {at}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(feed(&bytes), whole, "one byte at a time");
    whole
}

/// The MQTT bytes, events and error decoded from the concatenation of `frames`.
fn decode_all(frames: &[Vec<u8>]) -> Outcome {
    decode(&frames.concat())
}

fn ok(mqtt: &[u8], events: Vec<Event>) -> Outcome {
    Outcome {
        mqtt: mqtt.to_vec(),
        events,
        error: None,
    }
}

fn failed(mqtt: &[u8], events: Vec<Event>, error: FrameError) -> Outcome {
    Outcome {
        mqtt: mqtt.to_vec(),
        events,
        error: Some(error),
    }
}

#[test]
fn decoder_is_forty_bytes_per_connection() {
    #[cfg(target_pointer_width = "64")]
    assert_eq!(std::mem::size_of::<Decoder>(), 40);
    assert!(std::mem::size_of::<Decoder>() <= 40);
}

#[test]
fn masked_hello_of_rfc_5_7_in_a_binary_frame_is_unmasked() {
    // RFC 6455 5.7 "A single-frame masked text message", as the binary frame MQTT uses.
    let input = [
        0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(frame(0x82, b"Hello"), input);
    assert_eq!(decode(&input), ok(b"Hello", vec![]));
}

#[test]
fn text_frame_fails_with_unsupported_data() {
    // RFC 6455 5.7 masked "Hello" text frame [MQTT-6.0.0-1].
    let input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(decode(&input), failed(b"", vec![], FrameError::TextFrame));
    assert_eq!(
        FrameError::TextFrame.close_status(),
        status::UNSUPPORTED_DATA
    );
}

#[test]
fn fragmented_message_is_joined() {
    // RFC 6455 5.7 "A fragmented unmasked text message", masked and binary.
    let frames = [frame(0x02, b"Hel"), frame(0x80, b"lo")];
    assert_eq!(decode_all(&frames), ok(b"Hello", vec![]));
    let frames = [frame(0x02, b"a"), frame(0x00, b"b"), frame(0x80, b"c")];
    assert_eq!(decode_all(&frames), ok(b"abc", vec![]));
}

#[test]
fn ping_between_fragments_is_reported_and_the_message_goes_on() {
    let frames = [
        frame(0x02, b"Hel"),
        frame(0x89, b"Hello"),
        frame(0x80, b"lo"),
    ];
    let ping = Event::Ping(b"Hello".to_vec());
    assert_eq!(decode_all(&frames), ok(b"Hello", vec![ping]));
}

#[test]
fn empty_ping_and_pong_are_reported() {
    let frames = [frame(0x89, b""), frame(0x8a, b"x"), frame(0x82, b"")];
    assert_eq!(
        decode_all(&frames),
        ok(b"", vec![Event::Ping(vec![]), Event::Pong])
    );
}

#[test]
fn largest_ping_payload_is_reported_whole() {
    let payload: Vec<u8> = (0..125).collect();
    let frames = [
        frame(0x82, b"ab"),
        frame(0x89, &payload),
        frame(0x82, b"cd"),
    ];
    assert_eq!(decode_all(&frames), ok(b"abcd", vec![Event::Ping(payload)]));
}

#[test]
fn close_is_reported_with_its_status_and_the_rest_is_ignored() {
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    let frames = [frame(0x82, b"ab"), frame(0x88, &close), frame(0x82, b"cd")];
    assert_eq!(
        decode_all(&frames),
        ok(b"ab", vec![Event::Close(Some(1000))])
    );
    // Even garbage after the Close is ignored.
    let frames = [frame(0x88, &4000u16.to_be_bytes()), vec![0xff; 3]];
    assert_eq!(decode_all(&frames), ok(b"", vec![Event::Close(Some(4000))]));
}

#[test]
fn close_without_body_has_no_status() {
    assert_eq!(decode(&frame(0x88, b"")), ok(b"", vec![Event::Close(None)]));
}

#[test]
fn close_with_one_byte_body_is_a_protocol_error() {
    let error = FrameError::CloseOneByte;
    assert_eq!(decode(&frame(0x88, &[3])), failed(b"", vec![], error));
    assert_eq!(error.close_status(), status::PROTOCOL_ERROR);
}

#[test]
fn close_with_a_status_peers_may_not_send_is_a_protocol_error() {
    for code in [0u16, 999, 1005, 1006, 1015, 2000, 5000] {
        let error = FrameError::InvalidCloseStatus(code);
        let input = frame(0x88, &code.to_be_bytes());
        assert_eq!(decode(&input), failed(b"", vec![], error));
        assert_eq!(error.close_status(), status::PROTOCOL_ERROR);
    }
}

#[test]
fn close_reason_that_is_not_utf8_fails_with_invalid_payload() {
    let body = [0x03, 0xe8, b'o', 0xc3];
    let error = FrameError::CloseReasonNotUtf8;
    assert_eq!(decode(&frame(0x88, &body)), failed(b"", vec![], error));
    assert_eq!(error.close_status(), status::INVALID_PAYLOAD);
    let body = [0x03, 0xe8, 0xc3, 0xa9];
    assert_eq!(
        decode(&frame(0x88, &body)),
        ok(b"", vec![Event::Close(Some(1000))])
    );
}

#[test]
fn unmasked_client_frame_is_a_protocol_error() {
    // RFC 6455 5.7 "A single-frame unmasked text message", as a binary frame.
    let input = [0x82, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(decode(&input), failed(b"", vec![], FrameError::Unmasked));
    // RFC 6455 5.7 "Unmasked Ping request".
    let input = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(decode(&input), failed(b"", vec![], FrameError::Unmasked));
}

#[test]
fn reserved_bits_are_a_protocol_error() {
    for rsv in [0x40, 0x20, 0x10] {
        let input = frame(0x82 | rsv, b"x");
        assert_eq!(
            decode(&input),
            failed(b"", vec![], FrameError::ReservedBits)
        );
    }
}

#[test]
fn reserved_opcodes_are_a_protocol_error() {
    for op in (3..=7).chain(0xb..=0xf) {
        let input = frame(0x80 | op, b"");
        let error = FrameError::UnknownOpcode(op);
        assert_eq!(decode(&input), failed(b"", vec![], error));
    }
}

#[test]
fn fragmented_control_frame_is_a_protocol_error() {
    for op in [0x8, 0x9, 0xa] {
        let error = FrameError::FragmentedControl;
        assert_eq!(decode(&frame(op, b"")), failed(b"", vec![], error));
    }
}

#[test]
fn control_frame_over_125_bytes_is_a_protocol_error() {
    let input = frame(0x89, &[0; 126]);
    let error = FrameError::ControlTooLong;
    assert_eq!(decode(&input), failed(b"", vec![], error));
}

#[test]
fn continuation_without_a_started_message_is_a_protocol_error() {
    let frames = [frame(0x82, b"ab"), frame(0x80, b"cd")];
    let error = FrameError::UnexpectedContinuation;
    assert_eq!(decode_all(&frames), failed(b"ab", vec![], error));
}

#[test]
fn new_message_during_a_fragmented_one_is_a_protocol_error() {
    let frames = [frame(0x02, b"ab"), frame(0x82, b"cd")];
    let error = FrameError::MessageInProgress;
    assert_eq!(decode_all(&frames), failed(b"ab", vec![], error));
    // A text frame there is refused as a text frame.
    let frames = [frame(0x02, b"ab"), frame(0x81, b"cd")];
    assert_eq!(
        decode_all(&frames),
        failed(b"ab", vec![], FrameError::TextFrame)
    );
}

#[test]
fn length_with_the_top_bit_set_is_a_protocol_error() {
    let mut input = vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
    input.extend_from_slice(&MASK);
    let error = FrameError::LengthTooLarge;
    assert_eq!(decode(&input), failed(b"", vec![], error));
}

#[test]
fn non_minimal_lengths_are_a_protocol_error() {
    let mut sixteen = vec![0x82, 0x80 | 126, 0, 5];
    sixteen.extend_from_slice(&MASK);
    sixteen.extend_from_slice(&[0; 5]);
    let mut sixty_four = vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
    sixty_four.extend_from_slice(&MASK);
    for input in [sixteen, sixty_four] {
        let error = FrameError::NonMinimalLength;
        assert_eq!(decode(&input), failed(b"", vec![], error));
    }
}

#[test]
fn sixteen_and_sixty_four_bit_lengths_carry_their_payload() {
    let medium: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    assert_eq!(frame(0x82, &medium)[1], 0x80 | 126);
    assert_eq!(decode(&frame(0x82, &medium)), ok(&medium, vec![]));
    let large: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(frame(0x82, &large)[1], 0x80 | 127);
    assert_eq!(decode(&frame(0x82, &large)), ok(&large, vec![]));
}

#[test]
fn several_frames_in_one_read_are_compacted_to_the_front() {
    let frames = [
        frame(0x82, b"one"),
        frame(0x82, b""),
        frame(0x8a, b""),
        frame(0x82, b"two!"),
        frame(0x02, b"thr"),
        frame(0x80, b"ee"),
    ];
    assert_eq!(decode_all(&frames), ok(b"onetwo!three", vec![Event::Pong]));
}

#[test]
fn mqtt_bytes_before_a_malformation_are_handed_out() {
    let mut input = frame(0x82, b"CONNECT");
    input.extend_from_slice(&[0x82, 0x01, b'x']);
    assert_eq!(
        decode(&input),
        failed(b"CONNECT", vec![], FrameError::Unmasked)
    );
}
