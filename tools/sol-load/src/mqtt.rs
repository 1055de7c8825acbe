//! The few MQTT 3.1.1 packets the generator sends, and a framer for what it receives.

/// Appends MQTT's variable-length "remaining length" encoding of `n`.
pub fn put_remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// CONNECT with a clean session, no will, no credentials.
pub fn connect(client_id: &str, keepalive: u16, out: &mut Vec<u8>) {
    out.push(0x10);
    put_remaining_length(10 + 2 + client_id.len(), out);
    put_str("MQTT", out);
    out.push(4); // protocol level 3.1.1
    out.push(0x02); // clean session
    out.extend_from_slice(&keepalive.to_be_bytes());
    put_str(client_id, out);
}

/// SUBSCRIBE to one filter.
pub fn subscribe(packet_id: u16, filter: &str, qos: u8, out: &mut Vec<u8>) {
    out.push(0x82);
    put_remaining_length(2 + 2 + filter.len() + 1, out);
    out.extend_from_slice(&packet_id.to_be_bytes());
    put_str(filter, out);
    out.push(qos);
}

/// The fixed header and topic of a PUBLISH whose payload is `payload_len` bytes; the packet id
/// (QoS > 0) and payload follow.
pub fn publish_prefix(topic: &str, qos: u8, payload_len: usize) -> Vec<u8> {
    let mut out = vec![0x30 | (qos << 1)];
    let id_len = if qos > 0 { 2 } else { 0 };
    put_remaining_length(2 + topic.len() + id_len + payload_len, &mut out);
    put_str(topic, &mut out);
    out
}

/// PUBACK for `packet_id`.
pub fn puback(packet_id: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x40, 0x02]);
    out.extend_from_slice(&packet_id.to_be_bytes());
}

/// PINGREQ.
pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
/// DISCONNECT.
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// One packet framed from received bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The first byte: type and flags.
    pub header: u8,
    /// The variable header and payload.
    pub body: &'a [u8],
}

/// Frames the packet at the start of `buf`: `Ok(Some((frame, consumed)))`, `Ok(None)` if
/// incomplete, `Err` if the remaining length is malformed.
pub fn frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ()> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        if i > 4 {
            return Err(());
        }
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len |= ((b & 0x7F) as usize) << shift;
        shift += 7;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    if buf.len() < i + len {
        return Ok(None);
    }
    Ok(Some((
        Frame {
            header: buf[0],
            body: &buf[i..i + len],
        },
        i + len,
    )))
}

/// A received PUBLISH: QoS, packet id (0 for QoS 0) and payload.
pub fn parse_publish<'a>(f: &Frame<'a>) -> Option<(u8, u16, &'a [u8])> {
    let qos = (f.header >> 1) & 3;
    let tlen = u16::from_be_bytes(f.body.get(0..2)?.try_into().ok()?) as usize;
    let mut at = 2 + tlen;
    let mut id = 0;
    if qos > 0 {
        id = u16::from_be_bytes(f.body.get(at..at + 2)?.try_into().ok()?);
        at += 2;
    }
    Some((qos, id, f.body.get(at..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_encodings() {
        for (n, want) in [
            (0usize, vec![0u8]),
            (127, vec![0x7F]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xFF, 0x7F]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
        ] {
            let mut v = Vec::new();
            put_remaining_length(n, &mut v);
            assert_eq!(v, want, "{n}");
        }
    }

    #[test]
    fn publish_frames_and_parses_back() {
        let payload = [7u8; 200];
        let mut pkt = publish_prefix("bench/3", 1, payload.len());
        pkt.extend_from_slice(&42u16.to_be_bytes());
        pkt.extend_from_slice(&payload);
        pkt.extend_from_slice(&[0x40, 0x02, 0, 1]); // a second packet behind it
        let (f, used) = frame(&pkt).unwrap().unwrap();
        assert_eq!(used, pkt.len() - 4);
        assert_eq!(parse_publish(&f), Some((1, 42, &payload[..])));
        assert_eq!(frame(&pkt[..used - 1]), Ok(None));
        let (f2, _) = frame(&pkt[used..]).unwrap().unwrap();
        assert_eq!(f2.header, 0x40);
    }

    #[test]
    fn connect_is_well_formed() {
        let mut v = Vec::new();
        connect("abc", 60, &mut v);
        let (f, used) = frame(&v).unwrap().unwrap();
        assert_eq!((f.header, used, f.body.len()), (0x10, v.len(), 15));
        assert_eq!(&f.body[..6], b"\x00\x04MQTT");
    }
}
