//! Shared subscriptions `$share/GROUP/FILTER` [MQTT-4.8.2 of 5.0], for MQTT 5.0 and
//! 3.1.1 clients alike (as Mosquitto serves them).
//!
//! A group is the set of sessions subscribed with one group name to one filter. The topic
//! tree holds one entry per group under the filter, whose session is the group's number
//! with [`GROUP_FLAG`] set, so matching costs what one subscription costs; routing then
//! gives each matching message to one member ([`Broker::pick_member`]): round robin,
//! skipping offline members while one is online and members whose queue is full while
//! one has room. A message given to a member remembers its group (`Queued::share`): if
//! the member's session ends before it is acknowledged, the group's other members get
//! it ([`Broker::redistribute`]).
//!
//! Memberships live here, not in the session (whose size every client pays); a store
//! records them as subscriptions to the whole `$share/...` filter.

use super::*;
use crate::topic::SHARE_PREFIX;

/// Set in a topic-tree entry's session number when it stands for a group.
pub(super) const GROUP_FLAG: u32 = 1 << 31;

/// Most groups at once: a message names its group in 16 bits.
const MAX_GROUPS: usize = u16::MAX as usize - 1;

/// One member of a group, with the options of its subscription.
#[derive(Clone, Copy, Debug)]
pub(super) struct Member {
    /// The member session.
    pub(super) session: SessionId,
    /// The QoS granted.
    pub(super) qos: QoS,
    /// Retain As Published (MQTT 5.0).
    pub(super) retain_as_published: bool,
    /// Subscription Identifier (MQTT 5.0), 0 for none.
    pub(super) subscription_id: u32,
    /// Deliveries need an ACL check (see `Subscriber::acl_checked`).
    pub(super) acl_checked: bool,
}

/// A shared subscription group.
#[derive(Debug)]
pub(super) struct Group {
    /// The group name.
    name: Box<str>,
    /// The filter.
    filter: Box<str>,
    /// Where the group's entry is in the topic tree.
    at: FilterRef,
    /// The members, in the order they joined.
    members: Vec<Member>,
    /// The member the next message is offered to first.
    cursor: usize,
}

/// Every shared subscription group, by number.
#[derive(Debug, Default)]
pub(super) struct SharedGroups {
    /// Groups by number; `None` for a free number.
    groups: Vec<Option<Group>>,
    /// Free numbers.
    free: Vec<u16>,
    /// Group numbers by (name, filter).
    by_key: HashMap<(Box<str>, Box<str>), u16>,
    /// The groups each session is a member of.
    by_session: HashMap<SessionId, Vec<u16>>,
    /// Memberships in all groups: the sum of `by_session`'s lists, kept so that the
    /// `max_subscriptions` check of every SUBSCRIBE does not walk them.
    members: usize,
}

impl SharedGroups {
    /// The group `gid`.
    pub(super) fn get(&self, gid: u16) -> Option<&Group> {
        self.groups.get(usize::from(gid))?.as_ref()
    }

    /// The group `name` on `filter`, if there is one.
    pub(super) fn group_of(&self, name: &str, filter: &str) -> Option<&Group> {
        self.get(self.find(name, filter)?)
    }

    /// The number of group `name` on `filter`: the one lookup by name (it builds an
    /// owned key, two small allocations per SUBSCRIBE or UNSUBSCRIBE of a shared filter,
    /// never per message).
    fn find(&self, name: &str, filter: &str) -> Option<u16> {
        let key: (Box<str>, Box<str>) = (name.into(), filter.into());
        self.by_key.get(&key).copied()
    }

    /// Number of groups (each has one entry in the topic tree).
    pub(super) fn group_count(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there is no group at all (routing then skips looking for them).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Number of memberships of session `sid`.
    pub(super) fn memberships(&self, sid: SessionId) -> usize {
        self.by_session.get(&sid).map_or(0, Vec::len)
    }

    /// Number of memberships in all groups (each counts as a subscription).
    pub(super) fn len(&self) -> usize {
        self.members
    }

    /// The `$share/GROUP/FILTER` subscriptions of session `sid`, as a store keeps them.
    pub(super) fn stored_of(&self, sid: SessionId) -> Vec<StoredSubscription> {
        let Some(gids) = self.by_session.get(&sid) else {
            return Vec::new();
        };
        gids.iter()
            .filter_map(|&gid| {
                let g = self.get(gid)?;
                let m = g.members.iter().find(|m| m.session == sid)?;
                Some(StoredSubscription {
                    filter: format!("{SHARE_PREFIX}{}/{}", g.name, g.filter),
                    options: options_byte(m.qos, false, m.retain_as_published),
                    subscription_id: m.subscription_id,
                })
            })
            .collect()
    }
}

impl Group {
    /// The member session `sid`, if it is one.
    pub(super) fn member(&self, sid: SessionId) -> Option<&Member> {
        self.members.iter().find(|m| m.session == sid)
    }
}

impl Broker {
    /// Session `sid` joins group `name` on `filter` (or changes its options there).
    /// `Err` if the cap on groups is reached.
    pub(super) fn join_group(
        &mut self,
        sid: SessionId,
        name: &str,
        filter: &str,
        member: Member,
    ) -> Result<(), (ReasonCode, &'static str)> {
        let gid = match self.shared.find(name, filter) {
            Some(gid) => gid,
            None => {
                let key: (Box<str>, Box<str>) = (name.into(), filter.into());
                let gid = match self.shared.free.pop() {
                    Some(gid) => gid,
                    None if self.shared.groups.len() < MAX_GROUPS => {
                        self.shared.groups.push(None);
                        (self.shared.groups.len() - 1) as u16
                    }
                    None => {
                        return Err((ReasonCode::QUOTA_EXCEEDED, "too many shared groups"));
                    }
                };
                let (_, at) =
                    self.tree
                        .subscribe(filter, GROUP_FLAG | u32::from(gid), QoS::ExactlyOnce);
                self.shared.groups[usize::from(gid)] = Some(Group {
                    name: key.0.clone(),
                    filter: key.1.clone(),
                    at,
                    members: Vec::new(),
                    cursor: 0,
                });
                self.shared.by_key.insert(key, gid);
                gid
            }
        };
        let Some(group) = self.shared.groups[usize::from(gid)].as_mut() else {
            return Err((ReasonCode::UNSPECIFIED_ERROR, "no group"));
        };
        match group.members.iter_mut().find(|m| m.session == sid) {
            // A repeated subscription replaces the options [MQTT-3.8.4-3].
            Some(m) => *m = member,
            None => {
                group.members.push(member);
                self.shared.by_session.entry(sid).or_default().push(gid);
                self.shared.members += 1;
            }
        }
        Ok(())
    }

    /// Session `sid` leaves group `name` on `filter`; false if it was not a member. An
    /// empty group is removed.
    pub(super) fn leave_group(&mut self, sid: SessionId, name: &str, filter: &str) -> bool {
        match self.shared.find(name, filter) {
            Some(gid) => self.leave(sid, gid),
            None => false,
        }
    }

    /// Session `sid` leaves group `gid`.
    fn leave(&mut self, sid: SessionId, gid: u16) -> bool {
        let Some(group) = self
            .shared
            .groups
            .get_mut(usize::from(gid))
            .and_then(Option::as_mut)
        else {
            return false;
        };
        let Some(pos) = group.members.iter().position(|m| m.session == sid) else {
            return false;
        };
        group.members.remove(pos);
        self.shared.members -= 1;
        if group.cursor > pos {
            group.cursor -= 1;
        }
        if let Some(gids) = self.shared.by_session.get_mut(&sid) {
            gids.retain(|&g| g != gid);
            if gids.is_empty() {
                self.shared.by_session.remove(&sid);
            }
        }
        if group.members.is_empty() {
            let at = group.at;
            let key = (group.name.clone(), group.filter.clone());
            self.shared.groups[usize::from(gid)] = None;
            self.shared.by_key.remove(&key);
            self.shared.free.push(gid);
            self.tree.remove_at(at, GROUP_FLAG | u32::from(gid));
        }
        true
    }

    /// Session `sid` leaves every group (its session ended).
    pub(super) fn shared_leave_all(&mut self, sid: SessionId) {
        if let Some(gids) = self.shared.by_session.get(&sid).cloned() {
            for gid in gids {
                self.leave(sid, gid);
            }
        }
    }

    /// The member of group `gid` the next message of `size` bytes goes to (not
    /// `except`): the first from the group's cursor that is online with room in its
    /// queue, else online, else with room, else any; the cursor moves past it.
    pub(super) fn pick_member(
        &mut self,
        gid: u16,
        size: usize,
        except: Option<SessionId>,
    ) -> Option<Member> {
        let (max_messages, max_bytes) = (
            self.limits.max_queued_messages,
            self.limits.max_queued_bytes,
        );
        let group = self.shared.groups.get_mut(usize::from(gid))?.as_mut()?;
        let n = group.members.len();
        let mut best: Option<(u8, usize)> = None;
        for step in 0..n {
            let i = (group.cursor + step) % n;
            let m = &group.members[i];
            if Some(m.session) == except {
                continue;
            }
            let Some(s) = self.sessions.get(m.session) else {
                continue;
            };
            let online = s.conn().is_some();
            let room = !s.queue_full(max_messages, max_bytes, size);
            let rank = u8::from(online) * 2 + u8::from(room);
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, i));
                if rank == 3 {
                    break;
                }
            }
        }
        let (_, i) = best?;
        group.cursor = (i + 1) % n;
        Some(group.members[i])
    }

    /// The messages the ended session `s` held for shared groups (queued, or QoS 1 in
    /// flight and not yet acknowledged) go to the groups' other members [MQTT-4.8.2-6 of 5.0];
    /// counted as dropped when no member is left.
    pub(super) fn redistribute(&mut self, sid: SessionId, s: &sessions::Session, now: Instant) {
        // A QoS 2 message whose delivery began stays with its member: it may have been
        // received, and must not be delivered twice [MQTT-4.8.2-5 of 5.0].
        let taken: Vec<(Message, QoS, bool, u16)> = s
            .inflight()
            .filter(|e| e.qos == QoS::AtLeastOnce)
            .filter_map(|e| Some((e.message.clone()?, e.qos, e.retain, e.share)))
            .chain(
                s.queued()
                    .map(|q| (q.message.clone(), q.qos, q.retain, q.share)),
            )
            .filter(|&(_, _, _, share)| share != 0)
            .collect();
        for (message, qos, retain, share) in taken {
            let gid = share - 1;
            if !self.deliver_shared(gid, &message, qos, retain, Some(sid), None, now) {
                self.stats.publish_dropped += 1;
            }
        }
    }

    /// Gives `message` (published at `qos`, `retain`) to one member of group `gid`
    /// other than `except`; false if the group has no such member or the ACL refuses
    /// the one picked.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver_shared(
        &mut self,
        gid: u16,
        message: &Message,
        qos: QoS,
        retain: bool,
        except: Option<SessionId>,
        from: Option<ConnId>,
        now: Instant,
    ) -> bool {
        let Some(m) = self.pick_member(gid, message.budget_size(), except) else {
            return false;
        };
        if self.auth.acl.is_some()
            && m.acl_checked
            && !self.acl_allows(m.session, message.topic(), Want::Read)
        {
            self.stats.acl_denied += 1;
            return false;
        }
        let item = Queued {
            message: message.clone(),
            qos: self.limits.delivery_qos(qos, m.qos),
            retain: retain && m.retain_as_published,
            subscription_id: m.subscription_id,
            share: gid + 1,
        };
        self.enqueue(m.session, item, from, now);
        true
    }
}
