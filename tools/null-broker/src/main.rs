//! The floor under a broker's work, for `benches/storm.py` and the latency floor in
//! `docs/performance.md`.
//!
//! It does what the kernel makes every broker do and nothing else: accept (until
//! `WouldBlock`, as an edge-triggered loop must), register the socket with epoll, read a
//! CONNECT and answer it with a fixed CONNACK (accepted, no session), read the DISCONNECT
//! and close; grant every SUBSCRIBE (QoS 0 or 1 as asked, 2 granted as 1) and from then
//! on pass every PUBLISH any client sends, byte for byte, to every subscribed connection,
//! acknowledging a QoS 1 PUBLISH to its publisher. The same `mio` loop and the same
//! syscalls as Sol's reactor (one write per read for the answers, one write per
//! subscriber per turn for the PUBLISHes; the socket registered for reading only, as a
//! broker that asked for writability only once a write blocked would), Sol's codec for
//! the framing, no topics, no sessions, no queues, no checks, no logging: its CPU per
//! cycle and its latency are what no broker on this kernel can go below, so Sol's and
//! Mosquitto's can be read as that floor plus their own work.
//!
//! It is not a broker: no topic matching (a subscriber gets every PUBLISH), no inflight
//! window (a subscriber's PUBACKs are ignored), no queue (a subscriber whose socket does
//! not take a whole write is closed), MQTT 3.1.1 only. DISCONNECT, QoS 2, and any other
//! packet close the connection. Usage: `null-broker -c FILE`, where FILE has a line
//! `listener PORT [HOST]` (the harness's Sol configuration will do; every other line is
//! ignored). It prints `listening on HOST:PORT` and runs until killed.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use sol::codec::{FixedHeader, PacketType};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// The listener's token; connection `i` is `Token(i)`.
const LISTENER: Token = Token(usize::MAX);
/// CONNACK: session present 0, return code 0 (MQTT 3.1.1 and 5.0 without properties
/// differ; storm cycles are 3.1.1).
const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
/// PINGRESP.
const PINGRESP: [u8; 2] = [0xD0, 0x00];
/// The largest packet body kept while it arrives: a CONNECT is far smaller.
const MAX_PACKET: usize = 64 * 1024;

/// One client: its socket, the bytes of a packet not complete yet, and whether it
/// subscribed.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
    subscriber: bool,
}

/// What a connection's whole packets asked for.
#[derive(Debug, Default, PartialEq)]
struct Answer {
    /// Bytes back to the connection itself: CONNACK, PINGRESP, SUBACK, PUBACK.
    reply: Vec<u8>,
    /// The PUBLISH packets, as they came, for every subscriber.
    forward: Vec<u8>,
    /// The connection subscribed: PUBLISHes go to it from now on.
    subscribed: bool,
}

/// What a connection's readable event came to.
enum Next {
    Open,
    Close,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("null-broker: {e}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let addr = listen_address()?;
    let mut listener = TcpListener::bind(addr)?;
    nodelay(&listener)?;
    eprintln!("listening on {}", listener.local_addr()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut answer = Answer::default();
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut clients, &mut free)?;
                continue;
            }
            let i = event.token().0;
            let Some(client) = clients.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let short_read_drains = !event.is_read_closed() && !event.is_error();
            if let Next::Close = read(client, &mut buf, &mut answer, short_read_drains) {
                // Dropping the stream closes it, which also takes it out of epoll.
                clients[i] = None;
                free.push(i);
            }
        }
        // The turn's PUBLISHes: one write per subscriber, as Sol's reactor writes.
        if !answer.forward.is_empty() {
            for (i, slot) in clients.iter_mut().enumerate() {
                let Some(client) = slot.as_mut().filter(|c| c.subscriber) else {
                    continue;
                };
                if !matches!(client.stream.write(&answer.forward), Ok(n) if n == answer.forward.len())
                {
                    // No queue: a subscriber that does not take the whole write is closed.
                    *slot = None;
                    free.push(i);
                }
            }
            answer.forward.clear();
        }
    }
}

/// The address in `listener PORT [HOST]` of the file after `-c` (HOST 127.0.0.1 if absent).
fn listen_address() -> io::Result<SocketAddr> {
    let args: Vec<String> = std::env::args().collect();
    let path = match args.as_slice() {
        [_, flag, path] if flag == "-c" => path,
        _ => return Err(io::Error::other("usage: null-broker -c FILE")),
    };
    let text = std::fs::read_to_string(path)?;
    let line = text
        .lines()
        .map(str::split_whitespace)
        .find_map(|mut words| (words.next() == Some("listener")).then(|| words.collect::<Vec<_>>()))
        .ok_or_else(|| io::Error::other(format!("{path}: no `listener PORT [HOST]` line")))?;
    let port = line.first().and_then(|p| p.parse::<u16>().ok());
    let host = line.get(1).copied().unwrap_or("127.0.0.1");
    let port = port.ok_or_else(|| io::Error::other(format!("{path}: listener needs a port")))?;
    format!("{host}:{port}")
        .parse()
        .map_err(|e| io::Error::other(format!("{path}: {e}")))
}

/// TCP_NODELAY on the listener: Linux gives it to every accepted socket, so, as in Sol,
/// no syscall per connection sets it.
fn nodelay(listener: &TcpListener) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Accepts until `WouldBlock` (edge-triggered: a connection left in the queue would get no
/// event of its own) and registers each connection for reading.
fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    clients: &mut Vec<Option<Client>>,
    free: &mut Vec<usize>,
) -> io::Result<()> {
    loop {
        let (mut stream, _) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Out of descriptors or an aborted connection: the next edge retries.
            Err(_) => return Ok(()),
        };
        let i = free.pop().unwrap_or(clients.len());
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        let client = Some(Client {
            stream,
            pending: Vec::new(),
            subscriber: false,
        });
        if i == clients.len() {
            clients.push(client);
        } else {
            clients[i] = client;
        }
    }
}

/// Reads until `WouldBlock`, or until a read shorter than the buffer when
/// `short_read_drains` (the socket is empty then, as Sol's reactor assumes), answering the
/// whole packets of each read in one write; the PUBLISHes are added to `answer.forward`
/// for the end of the turn.
fn read(client: &mut Client, buf: &mut [u8], answer: &mut Answer, short_read_drains: bool) -> Next {
    loop {
        let n = match client.stream.read(buf) {
            Ok(0) => return Next::Close,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Open,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Next::Close,
        };
        client.pending.extend_from_slice(&buf[..n]);
        answer.reply.clear();
        let answered = respond(&client.pending, answer);
        client.subscriber |= std::mem::take(&mut answer.subscribed);
        // A few bytes to a socket with an empty send buffer are taken whole or not at all.
        if !answer.reply.is_empty() && client.stream.write(&answer.reply).is_err() {
            return Next::Close;
        }
        match answered {
            Some(used) => drop(client.pending.drain(..used)),
            None => return Next::Close,
        }
        if short_read_drains && n < buf.len() {
            return Next::Open;
        }
    }
}

/// Adds to `answer` what the whole packets at the start of `pending` (Sol's codec frames
/// them) ask for: CONNACK to CONNECT, PINGRESP to PINGREQ, SUBACK to SUBSCRIBE, PUBACK to
/// a QoS 1 PUBLISH and the PUBLISH itself to `forward`; a PUBACK (a subscriber's) is taken
/// and ignored. Returns the bytes they took, or `None` when the connection is to be
/// closed: at a DISCONNECT, a QoS 2 PUBLISH, any other packet, a malformed header or
/// SUBSCRIBE, or a packet above [`MAX_PACKET`].
fn respond(pending: &[u8], answer: &mut Answer) -> Option<usize> {
    let mut at = 0;
    loop {
        let header = match FixedHeader::parse(&pending[at..]) {
            Ok(Some(header)) if header.remaining_len <= MAX_PACKET => header,
            Ok(None) => return Some(at),
            Ok(Some(_)) | Err(_) => return None,
        };
        if pending.len() - at < header.packet_len() {
            return Some(at);
        }
        let packet = &pending[at..at + header.packet_len()];
        let body = &packet[header.header_len..];
        at += header.packet_len();
        match header.packet_type() {
            Some(PacketType::Connect) => answer.reply.extend_from_slice(&CONNACK),
            Some(PacketType::Pingreq) => answer.reply.extend_from_slice(&PINGRESP),
            Some(PacketType::Subscribe) => {
                suback(body, &mut answer.reply)?;
                answer.subscribed = true;
            }
            Some(PacketType::Publish) => {
                match (header.flags() >> 1) & 3 {
                    0 => {}
                    1 => {
                        // The packet id follows the topic (a length-prefixed string).
                        let topic_len =
                            usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
                        let id = body.get(2 + topic_len..4 + topic_len)?;
                        answer.reply.extend_from_slice(&[0x40, 0x02, id[0], id[1]]);
                    }
                    _ => return None,
                }
                answer.forward.extend_from_slice(packet);
            }
            Some(PacketType::Puback) => {}
            _ => return None,
        }
    }
}

/// Appends the SUBACK for the SUBSCRIBE `body` (packet id, then filters each followed by
/// its requested QoS): every filter granted at its QoS, 2 granted as 1. `None` if the body
/// is malformed.
fn suback(body: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let id = body.get(..2)?;
    let mut codes = Vec::new();
    let mut rest = &body[2..];
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        let qos = *rest.get(2 + len)?;
        codes.push(qos.min(1));
        rest = &rest[3 + len..];
    }
    if codes.is_empty() {
        return None;
    }
    let mut header = [0x90, 0, 0, 0, 0];
    let n = sol::codec::encode_remaining_length(2 + codes.len(), &mut header[1..]);
    out.extend_from_slice(&header[..1 + n]);
    out.extend_from_slice(id);
    out.extend_from_slice(&codes);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sol::codec::{Connack, Packet, ProtocolVersion, ReasonCode};

    const V311: ProtocolVersion = ProtocolVersion::V311;

    /// The packets in `bytes`, decoded by Sol's codec (the oracle for what the null
    /// broker writes by hand).
    fn decoded(bytes: &[u8]) -> Vec<Packet<'_>> {
        let mut packets = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let header = FixedHeader::parse(&bytes[at..])
                .expect("valid")
                .expect("whole");
            let body = &bytes[at + header.header_len..at + header.packet_len()];
            packets.push(sol::codec::decode_packet(&header, body, V311).expect("decodes"));
            at += header.packet_len();
        }
        packets
    }

    /// `pending` answered from scratch: the bytes taken and the answer.
    fn answered(pending: &[u8]) -> (Option<usize>, Answer) {
        let mut answer = Answer::default();
        (respond(pending, &mut answer), answer)
    }

    #[test]
    fn the_fixed_answers_are_what_the_codec_encodes() {
        let connack = Packet::Connack(Connack::new(false, ReasonCode::SUCCESS));
        assert_eq!(connack.to_vec(V311).expect("small"), CONNACK);
        assert_eq!(Packet::Pingresp.to_vec(V311).expect("small"), PINGRESP);
    }

    #[test]
    fn whole_packets_are_answered_and_a_partial_one_kept() {
        // CONNECT: MQTT 3.1.1, clean session, keep-alive 60, client id "c".
        let connect = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c".to_vec();
        let mut pending = connect.clone();
        pending.extend([0xC0, 0x00]);
        pending.extend(&connect[..3]);
        let (taken, answer) = answered(&pending);
        assert_eq!(taken, Some(connect.len() + 2));
        assert_eq!(answer.reply, [&CONNACK[..], &PINGRESP[..]].concat());
        assert!(answer.forward.is_empty() && !answer.subscribed);
    }

    #[test]
    fn a_subscribe_is_granted_at_its_qos_and_2_as_1() {
        // SUBSCRIBE id 7: "a/#" at QoS 1, "b" at QoS 2, "c" at QoS 0.
        let subscribe = b"\x82\x10\x00\x07\x00\x03a/#\x01\x00\x01b\x02\x00\x01c\x00";
        let (taken, answer) = answered(subscribe);
        assert_eq!(taken, Some(subscribe.len()));
        assert!(answer.subscribed);
        match decoded(&answer.reply).as_slice() {
            [Packet::Suback(s)] => {
                assert_eq!(s.packet_id, 7);
                assert_eq!(s.reason_codes, [1, 1, 0]);
            }
            other => panic!("not one SUBACK: {other:?}"),
        }
        // No filters, or a filter cut short: malformed, closed.
        assert_eq!(answered(b"\x82\x02\x00\x07").0, None);
        assert_eq!(answered(b"\x82\x06\x00\x07\x00\x03a/").0, None);
    }

    #[test]
    fn publishes_are_passed_on_as_they_came_and_qos_1_acknowledged() {
        // QoS 0 "t" "hi", then QoS 1 "t" id 0x0102 "yo", then a subscriber's PUBACK.
        let q0 = b"\x30\x05\x00\x01thi".to_vec();
        let q1 = b"\x32\x07\x00\x01t\x01\x02yo".to_vec();
        let puback = [0x40, 0x02, 0x00, 0x09];
        let pending = [&q0[..], &q1[..], &puback[..]].concat();
        let (taken, answer) = answered(&pending);
        assert_eq!(taken, Some(pending.len()));
        assert_eq!(answer.forward, [q0, q1].concat(), "byte for byte, in order");
        match decoded(&answer.reply).as_slice() {
            [Packet::Puback(a)] => assert_eq!(a.packet_id, 0x0102),
            other => panic!("not one PUBACK: {other:?}"),
        }
        assert!(!answer.subscribed);
    }

    #[test]
    fn disconnect_qos_2_other_packets_and_oversized_ones_close() {
        assert_eq!(answered(&[0xE0, 0x00]).0, None, "DISCONNECT");
        assert_eq!(
            answered(b"\x34\x05\x00\x01t\x00\x01").0,
            None,
            "QoS 2 PUBLISH"
        );
        assert_eq!(answered(&[0xA2, 0x02, 0, 1]).0, None, "UNSUBSCRIBE");
        assert_eq!(
            answered(&[0x32, 0x02, 0, 5]).0,
            None,
            "QoS 1 without its id"
        );
        let mut header = [0x10, 0, 0, 0, 0];
        let n = sol::codec::encode_remaining_length(MAX_PACKET + 1, &mut header[1..]);
        assert_eq!(
            answered(&header[..1 + n]).0,
            None,
            "over MAX_PACKET, before its body"
        );
        let mut at_cap = [0x10, 0, 0, 0, 0];
        let n = sol::codec::encode_remaining_length(MAX_PACKET, &mut at_cap[1..]);
        let (taken, answer) = answered(&at_cap[..1 + n]);
        assert_eq!(taken, Some(0), "at the cap: kept, waiting");
        assert_eq!(answer, Answer::default());
    }
}
