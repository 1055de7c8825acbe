//! The floor under a broker's connect/CONNACK/DISCONNECT cycle, for `benches/storm.py`.
//!
//! It does what the kernel makes every broker do for a connection and nothing else: accept
//! (until `WouldBlock`, as an edge-triggered loop must), register the socket with epoll,
//! read a CONNECT and answer it with a fixed CONNACK (accepted, no session), read the
//! DISCONNECT and close. The same `mio` loop and the same syscalls as Sol's reactor (one
//! write per read; the socket registered for reading only, as a broker that asked for
//! writability only once a write blocked would), Sol's codec for the framing, no
//! sessions, no checks, no logging: its CPU per cycle is what no broker on this kernel can
//! go below, so Sol's and Mosquitto's can be read as that floor plus their own work.
//!
//! It is not a broker: DISCONNECT, and any packet but CONNECT and PINGREQ, closes the
//! connection. Usage: `null-broker -c FILE`, where FILE has a line `listener PORT [HOST]`
//! (the harness's Sol configuration will do; every other line is ignored). It prints
//! `listening on HOST:PORT` and runs until killed.

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

/// One client: its socket and the bytes of a packet not complete yet.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
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
    let mut out = Vec::new();
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
            if let Next::Close = read(client, &mut buf, &mut out, short_read_drains) {
                // Dropping the stream closes it, which also takes it out of epoll.
                clients[i] = None;
                free.push(i);
            }
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
/// whole packets of each read in one write.
fn read(client: &mut Client, buf: &mut [u8], out: &mut Vec<u8>, short_read_drains: bool) -> Next {
    loop {
        let n = match client.stream.read(buf) {
            Ok(0) => return Next::Close,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Open,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Next::Close,
        };
        client.pending.extend_from_slice(&buf[..n]);
        out.clear();
        let answered = respond(&client.pending, out);
        // A few bytes to a socket with an empty send buffer are taken whole or not at all.
        if !out.is_empty() && client.stream.write(out).is_err() {
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

/// Appends to `out` the answers to the whole packets at the start of `pending` (Sol's
/// codec frames them): CONNACK to CONNECT, PINGRESP to PINGREQ. Returns the bytes they
/// took, or `None` when the connection is to be closed: at a DISCONNECT, any other
/// packet, a malformed header, or a packet above [`MAX_PACKET`].
fn respond(pending: &[u8], out: &mut Vec<u8>) -> Option<usize> {
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
        at += header.packet_len();
        match header.packet_type() {
            Some(PacketType::Connect) => out.extend_from_slice(&CONNACK),
            Some(PacketType::Pingreq) => out.extend_from_slice(&PINGRESP),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sol::codec::{Connack, Packet, ProtocolVersion, ReasonCode};

    #[test]
    fn the_fixed_answers_are_what_the_codec_encodes() {
        let v311 = ProtocolVersion::V311;
        let connack = Packet::Connack(Connack::new(false, ReasonCode::SUCCESS));
        assert_eq!(connack.to_vec(v311).expect("small"), CONNACK);
        assert_eq!(Packet::Pingresp.to_vec(v311).expect("small"), PINGRESP);
    }

    #[test]
    fn whole_packets_are_answered_and_a_partial_one_kept() {
        // CONNECT: MQTT 3.1.1, clean session, keep-alive 60, client id "c".
        let connect = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c".to_vec();
        let mut pending = connect.clone();
        pending.extend([0xC0, 0x00]);
        pending.extend(&connect[..3]);
        let mut out = Vec::new();
        assert_eq!(respond(&pending, &mut out), Some(connect.len() + 2));
        assert_eq!(out, [&CONNACK[..], &PINGRESP[..]].concat());
    }

    #[test]
    fn disconnect_other_packets_and_oversized_ones_close() {
        let mut out = Vec::new();
        assert_eq!(respond(&[0xE0, 0x00], &mut out), None, "DISCONNECT");
        assert_eq!(respond(&[0x30, 0x02, 0, 0], &mut out), None, "PUBLISH");
        let mut header = [0x10, 0, 0, 0, 0];
        let n = sol::codec::encode_remaining_length(MAX_PACKET + 1, &mut header[1..]);
        let header = &header[..1 + n];
        assert_eq!(
            respond(header, &mut out),
            None,
            "over MAX_PACKET, before its body"
        );
        let mut at_cap = [0x10, 0, 0, 0, 0];
        let n = sol::codec::encode_remaining_length(MAX_PACKET, &mut at_cap[1..]);
        assert_eq!(
            respond(&at_cap[..1 + n], &mut out),
            Some(0),
            "at the cap: kept, waiting"
        );
        assert!(out.is_empty());
    }
}
