//! The session table: every live session by a typed [`SessionId`], and the lookups that route
//! a datagram on the shared media port to its session.
//!
//! Routing (RFC 8445 section 7.2.2, RFC 7983): a STUN request names its session in USERNAME
//! (`<server ufrag>:<client ufrag>`; the session id *is* the server ufrag); once a session has
//! accepted an authenticated check from an address, everything else from that address (DTLS,
//! SRTP, SRTCP) belongs to it.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::demux::{is_stun, stun_local_ufrag};
use crate::peer::{Session, MAX_ADDRS_PER_SESSION};

/// A session's slot and the generation it was created with: work items and timers that outlive
/// a session never reach the next one in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionId {
    index: u32,
    generation: u32,
}

impl SessionId {
    pub(crate) fn index(self) -> usize {
        self.index as usize
    }
}

struct Slot {
    generation: u32,
    /// Boxed: a session is ~11 KB (str0m's `Rtc` inline), and an inline slot vector would keep
    /// the peak's worth of them resident after the sessions end (10,000 idle sessions left
    /// ~110 MB).
    session: Box<Session>,
}

#[derive(Default)]
pub(crate) struct SessionTable {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Generations are global, not per slot: slots trimmed off the end of the table lose their
    /// history, and a recycled index must still not match an old id.
    next_generation: u32,
    live: usize,
    by_ufrag: HashMap<String, SessionId>,
    by_addr: HashMap<(bool, SocketAddr), SessionId>,
}

impl SessionTable {
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Adds a session made for its id (it keeps its own handle) and registers its first ufrag.
    pub(crate) fn insert(&mut self, make: impl FnOnce(SessionId) -> Session) -> SessionId {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let id = SessionId { index, generation };
        let session = Box::new(make(id));
        for u in &session.ufrags {
            self.by_ufrag.insert(u.clone(), id);
        }
        self.slots[index as usize] = Some(Slot { generation, session });
        self.live += 1;
        id
    }

    /// Takes a session out, with every ufrag and address that routed to it.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Box<Session>> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.as_ref().map(|s| s.generation) != Some(id.generation) {
            return None;
        }
        let session = slot.take()?.session;
        self.free.push(id.index);
        self.live = self.live.saturating_sub(1);
        for u in &session.ufrags {
            if self.by_ufrag.get(u) == Some(&id) {
                self.by_ufrag.remove(u);
            }
        }
        for a in &session.addrs {
            if self.by_addr.get(a) == Some(&id) {
                self.by_addr.remove(a);
            }
        }
        Some(session)
    }

    pub(crate) fn get(&self, id: SessionId) -> Option<&Session> {
        match self.slots.get(id.index()) {
            Some(Some(s)) if s.generation == id.generation => Some(&s.session),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        match self.slots.get_mut(id.index()) {
            Some(Some(s)) if s.generation == id.generation => Some(&mut s.session),
            _ => None,
        }
    }

    /// The session whose id (server ufrag) is `name`.
    pub(crate) fn find(&self, name: &str) -> Option<SessionId> {
        let id = *self.by_ufrag.get(name)?;
        self.get(id).filter(|s| s.id == name).map(|_| id)
    }

    pub(crate) fn ufrag_in_use(&self, ufrag: &str) -> bool {
        self.by_ufrag.contains_key(ufrag)
    }

    /// A new local ufrag of a session (ICE restart).
    pub(crate) fn add_ufrag(&mut self, id: SessionId, ufrag: String) {
        if let Some(s) = self.get_mut(id) {
            s.ufrags.push(ufrag.clone());
            self.by_ufrag.insert(ufrag, id);
        }
    }

    /// The session a datagram is for: a STUN request by the ufrag in its USERNAME, anything else
    /// by the address it comes from.
    pub(crate) fn route(&self, tcp: bool, src: SocketAddr, data: &[u8]) -> Option<SessionId> {
        if is_stun(data) {
            if let Some(&id) = stun_local_ufrag(data).and_then(|u| self.by_ufrag.get(u)) {
                return Some(id);
            }
        }
        self.by_addr.get(&(tcp, src)).copied()
    }

    pub(crate) fn is_bound(&self, tcp: bool, src: SocketAddr) -> bool {
        self.by_addr.contains_key(&(tcp, src))
    }

    /// Routes `src`'s datagrams to the session from now on (after an authenticated check).
    /// Returns whether the address was new to the session.
    pub(crate) fn bind_addr(&mut self, id: SessionId, tcp: bool, src: SocketAddr) -> bool {
        let Some(s) = self.get_mut(id) else { return false };
        if s.addrs.contains(&(tcp, src)) || s.addrs.len() >= MAX_ADDRS_PER_SESSION {
            return false;
        }
        s.addrs.push((tcp, src));
        self.by_addr.insert((tcp, src), id);
        true
    }

    /// An ICE-TCP connection closed: its address routes nowhere.
    pub(crate) fn unbind(&mut self, tcp: bool, src: SocketAddr) {
        self.by_addr.remove(&(tcp, src));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slots.iter().flatten().map(|s| &*s.session)
    }

    /// Every live session, each borrowed mutably once: the egress pool's disjoint shares.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Session> {
        self.slots.iter_mut().flatten().map(|s| &mut *s.session)
    }

    /// Gives back what the table grew to at a peak: trailing empty slots and the spare capacity
    /// of the slot vector and the lookup maps.
    pub(crate) fn compact(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len() as u32;
        self.free.retain(|&i| i < len);
        fn oversized(capacity: usize, len: usize) -> bool {
            capacity > 2 * len + 64
        }
        if oversized(self.slots.capacity(), self.slots.len()) {
            self.slots.shrink_to_fit();
            self.free.shrink_to_fit();
        }
        if oversized(self.by_ufrag.capacity(), self.by_ufrag.len()) {
            self.by_ufrag.shrink_to_fit();
        }
        if oversized(self.by_addr.capacity(), self.by_addr.len()) {
            self.by_addr.shrink_to_fit();
        }
    }
}
