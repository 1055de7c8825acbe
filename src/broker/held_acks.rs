//! Acknowledgements held until the store has made a PUBLISH's changes durable
//! (`persistence_sync`, [`Limits::ack_after_sync`]).
//!
//! A QoS 1/2 PUBLISH's PUBACK or PUBREC is held instead of sent. At the end of each
//! reactor turn the reactor hands the store that turn's changes and seals the acks held
//! in the turn with the batch number the store will write them in ([`Broker::seal_acks`]);
//! when the store reports a batch synced, the acks sealed with it or an earlier one are
//! sent, in the order they were held ([`Broker::release_acks`]), which keeps PUBACKs in
//! the order their PUBLISHes came [MQTT-4.6.0-2].
//!
//! While the disk fails nothing is synced, so nothing is acknowledged: a publisher sees
//! its QoS 1/2 messages unacknowledged and, past [`HELD_PER_CONNECTION`] of them, is no
//! longer read (TCP pushes back), until the disk works again. Acks of a connection that
//! closes are dropped: its client re-sends the PUBLISH, as MQTT provides.

use super::*;

/// Held acks after which a connection is not read until some are released: bounds what
/// one client can make the broker hold while the disk is slow or failing.
pub(super) const HELD_PER_CONNECTION: u16 = 256;

/// One acknowledgement waiting for the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeldAck {
    /// The publisher.
    conn: ConnId,
    /// The publisher's connection generation (a closed connection's acks are dropped
    /// when it closes; this guards the slot's next connection all the same).
    generation: u32,
    /// PUBACK (QoS 1) or PUBREC (QoS 2).
    kind: PacketType,
    /// The PUBLISH's packet id.
    packet_id: u16,
}

/// Acks held for the store, oldest first.
#[derive(Debug, Default)]
pub(super) struct HeldAcks {
    /// Held this turn, not sealed yet.
    open: Vec<HeldAck>,
    /// Sealed acks with the batch number that must be synced before they are sent.
    sealed: VecDeque<(u64, HeldAck)>,
}

impl Broker {
    /// Acknowledges a client's QoS 1/2 PUBLISH `packet_id` with a PUBACK or PUBREC
    /// (`kind`) saying `reason`: at once, or (with [`Limits::ack_after_sync`]) once the
    /// store has its changes on disk.
    pub(super) fn acknowledge(
        &mut self,
        conn: ConnId,
        kind: PacketType,
        packet_id: u16,
        reason: ReasonCode,
        now: Instant,
    ) {
        if reason.is_error() {
            // A refusal (MQTT 5.0) promises nothing about the disk: it goes out now.
            let ack = codec::Ack {
                packet_id,
                reason,
                properties: codec::Properties::NONE,
            };
            let packet = match kind {
                PacketType::Pubrec => Packet::Pubrec(ack),
                _ => Packet::Puback(ack),
            };
            return self.send(conn, &packet, now);
        }
        if !self.limits.ack_after_sync {
            return self.send_ack(conn, kind, packet_id, now);
        }
        let Some(c) = self.conn_mut(conn) else { return };
        let was_paused = c.paused();
        c.held_acks = c.held_acks.saturating_add(1);
        let generation = c.generation;
        if !was_paused && c.paused() {
            self.effects.push_back(Effect::PauseRead(conn));
        }
        self.held.open.push(HeldAck {
            conn,
            generation,
            kind,
            packet_id,
        });
    }

    /// The end of a reactor turn: the acks held in it are released once batch `gen` is
    /// synced (the batch the store writes the turn's changes in).
    pub fn seal_acks(&mut self, gen: u64) {
        let held = &mut self.held;
        held.sealed.extend(held.open.drain(..).map(|a| (gen, a)));
    }

    /// Whether acks are waiting for the store.
    pub fn holds_acks(&self) -> bool {
        !self.held.sealed.is_empty() || !self.held.open.is_empty()
    }

    /// The store has synced every batch up to `synced`: sends the acks waiting for them.
    pub fn release_acks(&mut self, synced: u64, now: Instant) {
        while let Some(&(gen, ack)) = self.held.sealed.front() {
            if gen > synced {
                break;
            }
            self.held.sealed.pop_front();
            let Some(c) = self.conn_mut(ack.conn) else {
                continue;
            };
            if c.generation != ack.generation {
                continue;
            }
            let was_paused = c.paused();
            c.held_acks -= 1;
            self.send_ack(ack.conn, ack.kind, ack.packet_id, now);
            if was_paused {
                self.resume_if_unpaused(ack.conn, now);
            }
        }
    }

    /// Drops the acks held for `conn`, which closed.
    pub(super) fn drop_held_acks(&mut self, conn: ConnId) {
        let held = &mut self.held;
        held.open.retain(|a| a.conn != conn);
        held.sealed.retain(|(_, a)| a.conn != conn);
    }
}
