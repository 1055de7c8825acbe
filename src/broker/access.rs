//! What the password file and ACL in force allow, as the core asks it: the identity of a
//! session's owner, whether it may read or write a topic, and which subscriptions the ACL
//! grants whole (so their deliveries skip the check).

use super::*;

/// Why a PUBLISH or will is refused when the ACL does not let its client write the topic.
pub(super) const ACL_WRITE_DENIED: &str = "the ACL does not allow publishing to its topic";

impl Broker {
    /// Puts a password file and ACL in force (at start and on reload). Connected clients
    /// keep their session; the new rules apply to their next PUBLISH, SUBSCRIBE and
    /// delivery, and to their will.
    pub fn set_auth(&mut self, auth: Auth) {
        self.auth = auth;
        let sids: Vec<SessionId> = self.sessions.ids().collect();
        for sid in sids {
            self.mark_acl_checks(sid);
        }
    }

    /// Decides again, for each of session `sid`'s subscriptions, whether its deliveries
    /// need an ACL check: after the ACL or the session's user name changed.
    pub(super) fn mark_acl_checks(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        let who = Identity {
            client_id: s.client_id(),
            username: s.username(),
        };
        let marks: Vec<(FilterRef, bool)> = s
            .subscriptions()
            .iter()
            .map(|&at| {
                let checked = self.auth.acl.as_ref().is_some_and(|acl| {
                    acl.subscribe(who, &self.tree.filter_of(at)) != SubscribeVerdict::GrantAll
                });
                (at, checked)
            })
            .collect();
        for (at, checked) in marks {
            self.tree.set_acl_checked(at, sid, checked);
        }
    }

    /// The ACL identity of a session's owner.
    pub(super) fn identity(&self, sid: SessionId) -> Option<Identity<'_>> {
        self.sessions.get(sid).map(|s| Identity {
            client_id: s.client_id(),
            username: s.username(),
        })
    }

    /// Whether the ACL (if any) lets session `sid` do `want` with `topic`.
    pub(super) fn acl_allows(&self, sid: SessionId, topic: &str, want: Want) -> bool {
        match (&self.auth.acl, self.identity(sid)) {
            (Some(acl), Some(who)) => acl.allows(who, topic, want),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// Whether the publisher of a retained message (`source`, kept under
    /// `check_retain_source`) may still write `topic` under the ACL in force: Mosquitto
    /// sends a retained message to a new subscriber only then. A message without a
    /// source (the broker's own, or stored by an older Sol) is not checked.
    pub(super) fn source_may_write(&self, source: Option<&RetainSource>, topic: &str) -> bool {
        let (Some(acl), Some(s), true) = (&self.auth.acl, source, self.limits.check_retain_source)
        else {
            return true;
        };
        let who = Identity {
            client_id: &s.client_id,
            username: s.username.as_deref(),
        };
        acl.allows(who, topic, Want::Write)
    }
}
