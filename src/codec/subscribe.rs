//! stub (replaced by the codec branch)
use super::{QoS, Subscribe, Unsubscribe};
impl<'a> Subscribe<'a> {
    /// stub
    pub fn filters(&self) -> impl Iterator<Item = (&'a str, QoS)> + 'a {
        let mut rest = self.payload;
        std::iter::from_fn(move || {
            if rest.len() < 3 { return None; }
            let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let f = std::str::from_utf8(&rest[2..2 + n]).ok()?;
            let q = QoS::from_bits(rest[2 + n])?;
            rest = &rest[3 + n..];
            Some((f, q))
        })
    }
}
impl<'a> Unsubscribe<'a> {
    /// stub
    pub fn filters(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = self.payload;
        std::iter::from_fn(move || {
            if rest.len() < 2 { return None; }
            let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let f = std::str::from_utf8(&rest[2..2 + n]).ok()?;
            rest = &rest[2 + n..];
            Some(f)
        })
    }
}
