//! The floor under a broker's connect/CONNACK/DISCONNECT cycle, for `benches/storm.py`.
//!
//! It does what the kernel makes every broker do for a connection and nothing else: accept
//! (until `WouldBlock`, as an edge-triggered loop must), register the socket with epoll,
//! read a CONNECT and answer it with a fixed CONNACK (accepted, no session), read the
//! DISCONNECT and close. The same `mio` loop and the same syscalls as Sol's reactor, no
//! sessions, no checks, no logging: its CPU per cycle is what no broker on this kernel can
//! go below, so Sol's and Mosquitto's can be read as that floor plus their own work.
//!
//! It is not a broker: DISCONNECT, and any packet but CONNECT and PINGREQ, closes the
//! connection. Usage: `null-broker -c FILE`, where FILE has a line `listener PORT [HOST]`
//! (the harness's Sol configuration will do; every other line is ignored). It prints
//! `listening on HOST:PORT` and runs until killed.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
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
            if let Next::Close = read(client, &mut buf, short_read_drains) {
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
/// `short_read_drains` (the socket is empty then, as Sol's reactor assumes), answering each
/// whole packet.
fn read(client: &mut Client, buf: &mut [u8], short_read_drains: bool) -> Next {
    loop {
        let n = match client.stream.read(buf) {
            Ok(0) => return Next::Close,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Open,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Next::Close,
        };
        client.pending.extend_from_slice(&buf[..n]);
        if let Next::Close = answer(client) {
            return Next::Close;
        }
        if short_read_drains && n < buf.len() {
            return Next::Open;
        }
    }
}

/// Answers the whole packets in `client.pending` and keeps the rest.
fn answer(client: &mut Client) -> Next {
    let mut at = 0;
    while let Some((kind, len)) = packet(&client.pending[at..]) {
        at += len;
        let reply: &[u8] = match kind {
            1 => &CONNACK,
            12 => &PINGRESP,
            _ => return Next::Close,
        };
        // A 4-byte answer to an empty socket buffer is taken whole or not at all.
        if client.stream.write(reply).is_err() {
            return Next::Close;
        }
    }
    client.pending.drain(..at);
    Next::Open
}

/// The type and total length of the whole packet at the start of `bytes`, if it is there.
fn packet(bytes: &[u8]) -> Option<(u8, usize)> {
    let first = *bytes.first()?;
    let mut remaining = 0usize;
    for (i, &b) in bytes.iter().skip(1).take(4).enumerate() {
        remaining |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            let total = 1 + (i + 1) + remaining;
            return (bytes.len() >= total).then_some((first >> 4, total));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_found_whole_or_not_at_all() {
        assert_eq!(packet(&[0xE0, 0x00]), Some((14, 2)), "DISCONNECT");
        assert_eq!(packet(&[0x10, 0x03, 1, 2]), None, "a byte short");
        assert_eq!(packet(&[0x10, 0x03, 1, 2, 3, 0xE0]), Some((1, 5)));
        let mut long = vec![0x30, 0x80, 0x01];
        long.extend([0u8; 128]);
        assert_eq!(packet(&long), Some((3, 131)), "two-byte remaining length");
        assert_eq!(packet(&[0x30, 0x80]), None, "length not complete");
    }
}
