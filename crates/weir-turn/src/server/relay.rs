//! What an allocation lets through: CreatePermission (RFC 8656 section 9), ChannelBind (section
//! 11), Send indications (section 10) and ChannelData (section 12) from the client to its peers,
//! within the allocation's permissions, the peer filter and the bandwidth cap.

use std::net::SocketAddr;
use std::time::Instant;

use super::*;

impl Server {
    pub(super) fn create_permission(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>, auth: Authed) -> Vec<u8> {
        let id = match self.allocation_for(now, tuple, msg, &auth) {
            Ok(id) => id,
            Err(e) => return e,
        };
        let Some(a) = self.allocs.get(&id) else { return self.error(msg, 437, Some(&auth.key), |b| b) };
        let relay_family = Family::of(&a.relay);
        let mut peers = Vec::new();
        for v in msg.get_all(attr::XOR_PEER_ADDRESS) {
            match stun::decode_xor_addr(v, &msg.transaction_id) {
                Some(p) => peers.push(p),
                None => return self.error(msg, 400, Some(&auth.key), |b| b),
            }
        }
        if peers.is_empty() {
            self.refuse_log(now, 400, "CreatePermission without XOR-PEER-ADDRESS", tuple.client, &auth.username);
            return self.error(msg, 400, Some(&auth.key), |b| b);
        }
        for p in &peers {
            if Family::of(p) != relay_family {
                self.refuse_log(now, 443, "peer of another address family", tuple.client, &auth.username);
                return self.error(msg, 443, Some(&auth.key), |b| b);
            }
            if let Err(reason) = self.filter.check_ip(p.ip()) {
                self.refuse_log(now, 403, &format!("peer {} refused: {reason}", p.ip()), tuple.client, &auth.username);
                return self.error(msg, 403, Some(&auth.key), |b| b);
            }
        }
        let max = self.cfg.max_permissions;
        let lifetime = self.cfg.permission_lifetime;
        let Some(a) = self.allocs.get_mut(&id) else { return self.error(msg, 437, Some(&auth.key), |b| b) };
        let new = peers.iter().filter(|p| !a.permissions.contains_key(&p.ip().to_canonical())).count();
        if a.permissions.len() + new > max {
            self.refuse_log(now, 508, &format!("more than {max} permissions"), tuple.client, &auth.username);
            return self.error(msg, 508, Some(&auth.key), |b| b);
        }
        for p in &peers {
            a.permissions.insert(p.ip().to_canonical(), now + lifetime);
        }
        self.success(msg, &auth.key, |b| b)
    }

    pub(super) fn channel_bind(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>, auth: Authed) -> Vec<u8> {
        let id = match self.allocation_for(now, tuple, msg, &auth) {
            Ok(id) => id,
            Err(e) => return e,
        };
        let channel = match msg.get(attr::CHANNEL_NUMBER) {
            Some(v) if v.len() == 4 => u16::from_be_bytes([v[0], v[1]]),
            _ => {
                self.refuse_log(now, 400, "ChannelBind without CHANNEL-NUMBER", tuple.client, &auth.username);
                return self.error(msg, 400, Some(&auth.key), |b| b);
            }
        };
        // RFC 8656 narrows channels to 0x4000-0x4FFF; RFC 5766 clients (coturn's own tools) use
        // up to 0x7FFF, which does not collide with anything else on the TURN port.
        if !(0x4000..=0x7fff).contains(&channel) {
            self.refuse_log(now, 400, "channel number out of range", tuple.client, &auth.username);
            return self.error(msg, 400, Some(&auth.key), |b| b);
        }
        let Some(peer) = msg.get_xor_addr(attr::XOR_PEER_ADDRESS) else {
            self.refuse_log(now, 400, "ChannelBind without XOR-PEER-ADDRESS", tuple.client, &auth.username);
            return self.error(msg, 400, Some(&auth.key), |b| b);
        };
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let Some(a) = self.allocs.get(&id) else { return self.error(msg, 437, Some(&auth.key), |b| b) };
        if Family::of(&peer) != Family::of(&a.relay) {
            self.refuse_log(now, 443, "peer of another address family", tuple.client, &auth.username);
            return self.error(msg, 443, Some(&auth.key), |b| b);
        }
        let channel_taken = a.channels.get(&channel).is_some_and(|c| c.peer != peer && c.expires > now);
        let peer_taken = a.peer_channels.get(&peer).is_some_and(|c| *c != channel && a.channels.get(c).is_some_and(|ch| ch.expires > now));
        if channel_taken || peer_taken {
            self.refuse_log(now, 400, "channel or peer already bound to another", tuple.client, &auth.username);
            return self.error(msg, 400, Some(&auth.key), |b| b);
        }
        let new_permission = !a.permissions.contains_key(&peer.ip());
        let permission_count = a.permissions.len();
        if let Err(reason) = self.filter.check_addr(peer, |x| self.is_relay(x)) {
            self.refuse_log(now, 403, &format!("peer {peer} refused: {reason}"), tuple.client, &auth.username);
            return self.error(msg, 403, Some(&auth.key), |b| b);
        }
        let max = self.cfg.max_permissions;
        if new_permission && permission_count + 1 > max {
            self.refuse_log(now, 508, &format!("more than {max} permissions"), tuple.client, &auth.username);
            return self.error(msg, 508, Some(&auth.key), |b| b);
        }
        let (plife, clife) = (self.cfg.permission_lifetime, self.cfg.channel_lifetime);
        let Some(a) = self.allocs.get_mut(&id) else { return self.error(msg, 437, Some(&auth.key), |b| b) };
        // A stale binding of this channel or peer (expired, not yet collected) is replaced.
        if let Some(old) = a.channels.get(&channel).map(|c| c.peer) {
            a.peer_channels.remove(&old);
        }
        if let Some(old) = a.peer_channels.get(&peer).copied() {
            a.channels.remove(&old);
        }
        a.channels.insert(channel, Channel { peer, expires: now + clife });
        a.peer_channels.insert(peer, channel);
        a.permissions.insert(peer.ip(), now + plife);
        self.success(msg, &auth.key, |b| b)
    }

    pub(super) fn send_indication(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>, out: &mut Vec<Output>) {
        let Some(&id) = self.by_tuple.get(&tuple) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        let (Some(peer), Some(data)) = (msg.get_xor_addr(attr::XOR_PEER_ADDRESS), msg.get(attr::DATA)) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        self.relay_to_peer(now, id, peer, data, out);
    }

    pub(super) fn client_channel_data(&mut self, now: Instant, tuple: FiveTuple, data: &[u8], out: &mut Vec<Output>) {
        let Some((channel, payload)) = parse_channel_data(data) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        let Some(&id) = self.by_tuple.get(&tuple) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        let Some(peer) = self.allocs.get(&id).and_then(|a| a.channels.get(&channel)).filter(|c| c.expires > now).map(|c| c.peer) else {
            self.stats.dropped_no_permission += 1;
            return;
        };
        self.relay_to_peer(now, id, peer, payload, out);
    }

    pub(super) fn relay_to_peer(&mut self, now: Instant, id: u64, peer: SocketAddr, data: &[u8], out: &mut Vec<Output>) {
        let rate = self.cfg.max_bytes_per_sec;
        let Some(a) = self.allocs.get(&id) else { return };
        if !a.permitted(peer.ip(), now) {
            self.stats.dropped_no_permission += 1;
            return;
        }
        // Checked on every packet: the peer may be an own address allowed only while it is a
        // live relay.
        if let Err(reason) = self.filter.check_addr(peer, |x| self.is_relay(x)) {
            self.stats.dropped_no_permission += 1;
            let (client, username) = (a.tuple.client, a.username.clone());
            self.drop_log(now, reason, client, &username, peer);
            return;
        }
        let Some(a) = self.allocs.get_mut(&id) else { return };
        if !a.to_peer_bucket.take(now, data.len(), rate) {
            a.dropped_bandwidth += 1;
            self.stats.dropped_bandwidth += 1;
            if a.dropped_bandwidth == 1 {
                info!(client = %a.tuple.client, username = %a.username, relay = %a.relay, "TURN bandwidth cap reached: dropping packets");
            }
            return;
        }
        self.stats.to_peer_packets += 1;
        self.stats.to_peer_bytes += data.len() as u64;
        out.push(Output::ToPeer { relay: a.relay, peer, data: data.to_vec() });
    }
}
