//! Frames in (RFC 6455 5): a per-connection decoder fed the bytes of each read, which
//! turns them into the MQTT byte stream in place.
//!
//! [`Decoder::decode`] walks the caller's buffer once. Frame headers are consumed; the
//! payload of binary and continuation frames is unmasked and moved to the front of the
//! same buffer (one `memmove`, no other copy), so the buffer then starts with
//! [`Decoded::mqtt`] bytes of MQTT stream. Frames and MQTT packets are independent: a
//! frame may carry part of a packet or several packets, and a read may end anywhere, even
//! inside a frame header; MQTT's own framing (`net::read`) puts the packets together.
//!
//! Between calls the decoder keeps: the header bytes of the frame in progress (at most
//! 14), how much of its payload is still to come (the mask offset follows from it),
//! whether a fragmented message is open, and the payload of a control frame that arrives
//! split across reads (boxed, and only while it arrives). A control frame read whole is
//! unmasked and reported in place.
//!
//! Control frames may come between the fragments of a message (5.4); each is reported,
//! when its payload is complete, to the caller's `on_control` as a [`Control`]: a Ping
//! must be answered with a Pong carrying the same payload, a Pong needs nothing, a Close
//! must be answered with a Close echoing its status before closing (5.5.1, 7.1.5). After
//! a Close the rest of the stream is ignored.
//!
//! A malformed stream ends decoding with a [`FrameError`] (sticky: every later call
//! returns it) that names the malformation and the close status to send. The MQTT bytes
//! decoded before the malformation are still handed out.
//!
//! It must not buffer payload, allocate while no control frame arrives split, or know
//! about MQTT packets.

use std::fmt;

use super::close::{status, valid_close_status};
use super::encoder::{opcode, FIN, MAX_CONTROL_PAYLOAD};

/// The largest client frame header: 2 bytes, a 64-bit length and the 4-byte mask.
const MAX_HEADER: usize = 14;

/// The RSV1-3 bits of the first header byte.
const RSV: u8 = 0x70;

use super::encoder::MASK;

/// What a control frame asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control<'a> {
    /// A Ping: send a Pong with this payload (`ws::pong`) "as soon as is practical"
    /// (RFC 6455 5.5.2).
    Ping(&'a [u8]),
    /// A Pong (unsolicited or not): nothing to do (5.5.3).
    Pong,
    /// A Close with this status (`None`: the frame had no body): send a Close echoing it
    /// (`ws::close`), then close the connection (5.5.1, 7.1.5). The decoder ignores
    /// everything after it.
    Close(Option<u16>),
}

/// What one call of [`Decoder::decode`] produced.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// How many bytes at the front of the buffer are now MQTT stream.
    pub mqtt: usize,
    /// Set when the stream is malformed: fail the connection with a Close carrying
    /// [`FrameError::close_status`] (RFC 6455 7.1.7). Sticky.
    pub error: Option<FrameError>,
}

/// A malformed WebSocket stream, one variant per malformation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A client frame without the MASK bit: "The server MUST close the connection upon
    /// receiving a frame that is not masked" (RFC 6455 5.1).
    Unmasked,
    /// An RSV bit set, with no extension negotiated ("MUST be 0 unless an extension is
    /// negotiated", 5.2; Sol negotiates none).
    ReservedBits,
    /// An opcode RFC 6455 reserves (3-7, 0xB-0xF): "the receiving endpoint MUST Fail the
    /// WebSocket Connection" (5.2).
    UnknownOpcode(u8),
    /// A text frame: "MQTT Control Packets MUST be sent in WebSocket binary data frames.
    /// If any other type of data frame is received the recipient MUST close the Network
    /// Connection" [MQTT-6.0.0-1]. Closed with 1003, the status for "a type of data it
    /// cannot accept" (RFC 6455 7.4.1).
    TextFrame,
    /// A control frame without FIN: "Control frames themselves MUST NOT be fragmented"
    /// (5.5).
    FragmentedControl,
    /// A control frame longer than 125 bytes (5.5).
    ControlTooLong,
    /// A continuation frame with no fragmented message open (5.4).
    UnexpectedContinuation,
    /// A new binary message while a fragmented one is open: fragments of one message are
    /// not interleaved with another's (5.4).
    MessageInProgress,
    /// A 64-bit payload length with its most significant bit set ("MUST be 0", 5.2).
    LengthTooLarge,
    /// A payload length not in its shortest form: "the minimal number of bytes MUST be
    /// used to encode the length" (5.2). libwebsockets (Mosquitto) lets it pass; Sol
    /// fails the connection, as the RFC's MUST allows, since no real client sends it.
    NonMinimalLength,
    /// A Close whose body is one byte: a body starts with a two-byte status (5.5.1).
    CloseOneByte,
    /// A Close with a status a peer may not send (7.4, see `valid_close_status`).
    InvalidCloseStatus(u16),
    /// A Close reason that is not UTF-8 (5.5.1): closed with 1007 (8.1, 7.4.1).
    CloseReasonNotUtf8,
}

impl FrameError {
    /// The status of the Close frame that fails the connection (RFC 6455 7.4.1).
    pub fn close_status(self) -> u16 {
        match self {
            FrameError::TextFrame => status::UNSUPPORTED_DATA,
            FrameError::CloseReasonNotUtf8 => status::INVALID_PAYLOAD,
            _ => status::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Unmasked => f.write_str("unmasked client frame"),
            FrameError::ReservedBits => f.write_str("RSV bits set without an extension"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            FrameError::TextFrame => f.write_str("text frame (MQTT needs binary frames)"),
            FrameError::FragmentedControl => f.write_str("fragmented control frame"),
            FrameError::ControlTooLong => f.write_str("control frame over 125 bytes"),
            FrameError::UnexpectedContinuation => {
                f.write_str("continuation frame without a started message")
            }
            FrameError::MessageInProgress => {
                f.write_str("new message while a fragmented one is open")
            }
            FrameError::LengthTooLarge => f.write_str("64-bit length with the top bit set"),
            FrameError::NonMinimalLength => f.write_str("length not in its shortest form"),
            FrameError::CloseOneByte => f.write_str("close frame with a one-byte body"),
            FrameError::InvalidCloseStatus(code) => write!(f, "invalid close status {code}"),
            FrameError::CloseReasonNotUtf8 => f.write_str("close reason is not UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Where the decoder is in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a frame header (`Decoder::header_len` bytes of it so far).
    Header,
    /// Reading the payload of the frame whose header is complete.
    Payload,
    /// A Close was received: everything after it is ignored.
    Closed,
    /// The stream is malformed; this error is returned from now on.
    Failed(FrameError),
}

/// The WebSocket read state of one connection (40 bytes; a test checks).
#[derive(Debug)]
pub struct Decoder {
    /// Payload bytes of the current frame not read yet.
    remaining: u64,
    /// The part of a control frame's payload read so far, while that frame arrives split
    /// across reads; `None` otherwise, so an idle connection holds no payload.
    split_control: Option<Box<[u8; MAX_CONTROL_PAYLOAD]>>,
    /// The current frame's header: what arrived of it in `State::Header`, all of it (with
    /// its opcode, length and mask) in `State::Payload`.
    header: [u8; MAX_HEADER],
    /// How many bytes of `header` are valid.
    header_len: u8,
    /// A fragmented binary message is open: its next data frame must be a continuation.
    in_message: bool,
    /// Where the decoder is.
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder for a connection whose handshake just completed.
    pub const fn new() -> Self {
        Decoder {
            remaining: 0,
            split_control: None,
            header: [0; MAX_HEADER],
            header_len: 0,
            in_message: false,
            state: State::Header,
        }
    }

    /// Decodes `buf`, the next bytes read from the connection: afterwards its first
    /// [`Decoded::mqtt`] bytes are the MQTT stream they carried (the rest of `buf` is
    /// garbage). Each control frame completed by these bytes is reported to `on_control`
    /// in stream order, while decoding.
    pub fn decode(&mut self, buf: &mut [u8], mut on_control: impl FnMut(Control<'_>)) -> Decoded {
        let (mut read, mut written) = (0, 0);
        while read < buf.len() {
            let step = match self.state {
                State::Header => self.header(buf, &mut read, &mut on_control),
                State::Payload if self.is_control() => {
                    self.control(buf, &mut read, &mut on_control)
                }
                State::Payload => {
                    self.data(buf, &mut read, &mut written);
                    Ok(())
                }
                State::Closed | State::Failed(_) => break,
            };
            if let Err(e) = step {
                self.state = State::Failed(e);
            }
        }
        Decoded {
            mqtt: written,
            error: match self.state {
                State::Failed(e) => Some(e),
                _ => None,
            },
        }
    }

    /// Takes header bytes from `buf[*read..]`; checks the first two as soon as they are
    /// there and the length once the header is whole, then starts the payload.
    fn header(
        &mut self,
        buf: &mut [u8],
        read: &mut usize,
        on_control: &mut impl FnMut(Control<'_>),
    ) -> Result<(), FrameError> {
        let have = usize::from(self.header_len);
        let need = self.header_size();
        let take = (need - have).min(buf.len() - *read);
        self.header[have..have + take].copy_from_slice(&buf[*read..*read + take]);
        *read += take;
        self.header_len += take as u8;
        if usize::from(self.header_len) < need {
            return Ok(());
        }
        if need == 2 {
            // The mask is still to come: a header is at least 6 bytes.
            return self.check_start();
        }
        self.remaining = self.payload_len()?;
        self.state = State::Payload;
        if self.is_control() {
            // A control frame read whole is handled in place, even an empty one.
            self.control(buf, read, on_control)?;
        } else if self.remaining == 0 {
            self.next_frame();
        }
        Ok(())
    }

    /// Checks the first two header bytes (RFC 6455 5.2): flags, opcode, mask, and a
    /// control frame's length, and notes where the frame leaves the message.
    fn check_start(&mut self) -> Result<(), FrameError> {
        let [first, second, ..] = self.header;
        if first & RSV != 0 {
            return Err(FrameError::ReservedBits);
        }
        let fin = first & FIN != 0;
        match first & 0x0f {
            opcode::CONTINUATION if !self.in_message => {
                return Err(FrameError::UnexpectedContinuation)
            }
            opcode::TEXT => return Err(FrameError::TextFrame),
            opcode::BINARY if self.in_message => return Err(FrameError::MessageInProgress),
            opcode::CONTINUATION | opcode::BINARY => self.in_message = !fin,
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin {
                    return Err(FrameError::FragmentedControl);
                }
                if usize::from(second & 0x7f) > MAX_CONTROL_PAYLOAD {
                    return Err(FrameError::ControlTooLong);
                }
            }
            op => return Err(FrameError::UnknownOpcode(op)),
        }
        if second & MASK == 0 {
            return Err(FrameError::Unmasked);
        }
        Ok(())
    }

    /// How long the current header is: 2 bytes until those are read, then 2, the
    /// extended length (0, 2 or 8 bytes) and the mask (4).
    fn header_size(&self) -> usize {
        if self.header_len < 2 {
            return 2;
        }
        2 + match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        } + 4
    }

    /// The payload length of the complete header, checked to be in its shortest form.
    fn payload_len(&self) -> Result<u64, FrameError> {
        let h = &self.header;
        let (len, shortest) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 126),
            127 => {
                let len = u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]);
                if len >> 63 != 0 {
                    return Err(FrameError::LengthTooLarge);
                }
                (len, 0x1_0000)
            }
            short => return Ok(u64::from(short)),
        };
        if len < shortest {
            return Err(FrameError::NonMinimalLength);
        }
        Ok(len)
    }

    /// The current frame's masking key (the last 4 bytes of its header).
    fn mask(&self) -> [u8; 4] {
        let end = usize::from(self.header_len);
        let mut mask = [0; 4];
        mask.copy_from_slice(&self.header[end - 4..end]);
        mask
    }

    /// Where in the mask the next payload byte is: its offset in the payload, mod 4.
    fn mask_offset(&self) -> usize {
        // The payload length was accepted, so it is read again without error.
        let len = self.payload_len().unwrap_or(0);
        (len.wrapping_sub(self.remaining) & 3) as usize
    }

    /// Whether the current frame is a control frame (opcode 0x8 and above).
    fn is_control(&self) -> bool {
        self.header[0] & 0x08 != 0
    }

    /// Moves the data payload in `buf[*read..]` to `buf[*written..]`, unmasked.
    fn data(&mut self, buf: &mut [u8], read: &mut usize, written: &mut usize) {
        let n = (buf.len() - *read).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let offset = self.mask_offset();
        buf.copy_within(*read..*read + n, *written);
        unmask(&mut buf[*written..*written + n], self.mask(), offset);
        *read += n;
        *written += n;
        self.remaining -= n as u64;
        if self.remaining == 0 {
            self.next_frame();
        }
    }

    /// Reads the control payload in `buf[*read..]`: in place if the whole payload is
    /// there, else into the split buffer; handles the frame once its payload is whole.
    fn control(
        &mut self,
        buf: &mut [u8],
        read: &mut usize,
        on_control: &mut impl FnMut(Control<'_>),
    ) -> Result<(), FrameError> {
        let len = usize::from(self.header[1] & 0x7f);
        let remaining = self.remaining as usize;
        let (mask, offset) = (self.mask(), self.mask_offset());
        let available = buf.len() - *read;
        if self.split_control.is_none() && available == 0 && len > 0 {
            // The header ended the read: the next read may bring the payload whole.
            return Ok(());
        }
        if self.split_control.is_none() && available >= len {
            let payload = &mut buf[*read..*read + len];
            *read += len;
            unmask(payload, mask, 0);
            return self.handle_control(payload, on_control);
        }
        let split = self
            .split_control
            .get_or_insert_with(|| Box::new([0; MAX_CONTROL_PAYLOAD]));
        let n = available.min(remaining);
        let filled = len - remaining;
        let part = &mut split[filled..filled + n];
        part.copy_from_slice(&buf[*read..*read + n]);
        unmask(part, mask, offset);
        *read += n;
        self.remaining -= n as u64;
        if self.remaining > 0 {
            return Ok(());
        }
        let split = self.split_control.take().expect("filled above");
        self.handle_control(&split[..len], on_control)
    }

    /// Acts on a whole control frame's unmasked `payload`.
    fn handle_control(
        &mut self,
        payload: &[u8],
        on_control: &mut impl FnMut(Control<'_>),
    ) -> Result<(), FrameError> {
        self.remaining = 0;
        match self.header[0] & 0x0f {
            opcode::PING => on_control(Control::Ping(payload)),
            opcode::PONG => on_control(Control::Pong),
            _ => {
                let status = close_status(payload)?;
                self.state = State::Closed;
                on_control(Control::Close(status));
                return Ok(());
            }
        }
        self.next_frame();
        Ok(())
    }

    /// The current frame is done: the next byte starts a header.
    fn next_frame(&mut self) {
        self.header_len = 0;
        self.state = State::Header;
    }
}

/// The status of a Close whose unmasked body is `payload` (RFC 6455 5.5.1): none for an
/// empty body, else the first two bytes, which must be a status a peer may send,
/// followed by a UTF-8 reason.
fn close_status(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(FrameError::CloseOneByte),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
    };
    if !valid_close_status(code) {
        return Err(FrameError::InvalidCloseStatus(code));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(FrameError::CloseReasonNotUtf8);
    }
    Ok(Some(code))
}

/// XORs `data` with `mask`, `data[0]` being payload byte `offset` (mod 4) of its frame
/// (RFC 6455 5.3). Word-sized steps, so a large payload is unmasked at memory speed.
fn unmask(data: &mut [u8], mut mask: [u8; 4], offset: usize) {
    mask.rotate_left(offset & 3);
    let mut words = data.chunks_exact_mut(4);
    for word in &mut words {
        for (byte, key) in word.iter_mut().zip(mask) {
            *byte ^= key;
        }
    }
    for (byte, key) in words.into_remainder().iter_mut().zip(mask) {
        *byte ^= key;
    }
}
