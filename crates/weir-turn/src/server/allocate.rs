//! Allocate (RFC 8656 section 7: a relay socket from `port_range` for an authenticated client,
//! within the quotas) and Refresh (section 8: a new lifetime, or 0 to delete the allocation).

use super::*;

impl Server {
    pub(super) fn allocate(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>, auth: Authed, out: &mut Vec<Output>) -> Option<Vec<u8>> {
        let key = auth.key;
        if let Some(a) = self.by_tuple.get(&tuple).and_then(|id| self.allocs.get(id)) {
            if a.allocate_tid == msg.transaction_id {
                // A retransmission whose response was lost.
                return Some(a.allocate_response.clone());
            }
            self.refuse_log(now, 437, "the 5-tuple already has an allocation", tuple.client, &auth.username);
            return Some(self.error(msg, 437, Some(&key), |b| b));
        }
        if self.pending_by_tuple.contains_key(&tuple) {
            return None; // being created: the answer follows
        }
        let Some(transport) = msg.get(attr::REQUESTED_TRANSPORT) else {
            self.refuse_log(now, 400, "Allocate without REQUESTED-TRANSPORT", tuple.client, &auth.username);
            return Some(self.error(msg, 400, Some(&key), |b| b));
        };
        if transport.len() != 4 || transport[0] != 17 {
            self.refuse_log(now, 442, "relayed transport other than UDP", tuple.client, &auth.username);
            return Some(self.error(msg, 442, Some(&key), |b| b));
        }
        let even = msg.get(attr::EVEN_PORT);
        let token = msg.get(attr::RESERVATION_TOKEN);
        let family_attr = msg.get(attr::REQUESTED_ADDRESS_FAMILY);
        if (even.is_some() && token.is_some()) || (token.is_some() && family_attr.is_some()) {
            self.refuse_log(now, 400, "conflicting EVEN-PORT/RESERVATION-TOKEN/REQUESTED-ADDRESS-FAMILY", tuple.client, &auth.username);
            return Some(self.error(msg, 400, Some(&key), |b| b));
        }
        let family = match family_attr {
            None => Family::V4,
            Some([1, ..]) => Family::V4,
            Some([2, ..]) => Family::V6,
            Some(_) => {
                self.refuse_log(now, 440, "unknown address family", tuple.client, &auth.username);
                return Some(self.error(msg, 440, Some(&key), |b| b));
            }
        };
        if (family == Family::V4 && !self.cfg.relay_v4) || (family == Family::V6 && !self.cfg.relay_v6) {
            self.refuse_log(now, 440, "no relay address of the requested family", tuple.client, &auth.username);
            return Some(self.error(msg, 440, Some(&key), |b| b));
        }
        let ip = tuple.client.ip().to_canonical();
        let user_count = self.per_user.get(&auth.quota_user).copied().unwrap_or(0);
        let ip_count = self.per_ip.get(&ip).copied().unwrap_or(0);
        let limit_user = self.cfg.max_allocations_per_user;
        let limit_ip = self.cfg.max_allocations_per_ip;
        if limit_user > 0 && user_count >= limit_user {
            self.refuse_log(now, 486, &format!("user has {user_count} allocations (turnMaxAllocationsPerUser={limit_user})"), tuple.client, &auth.username);
            return Some(self.error(msg, 486, Some(&key), |b| b));
        }
        if limit_ip > 0 && ip_count >= limit_ip {
            self.refuse_log(now, 486, &format!("client IP has {ip_count} allocations (turnMaxAllocationsPerIp={limit_ip})"), tuple.client, &auth.username);
            return Some(self.error(msg, 486, Some(&key), |b| b));
        }
        if self.allocs.len() + self.pending.len() >= self.cfg.max_allocations {
            self.refuse_log(now, 508, "server allocation limit reached", tuple.client, &auth.username);
            return Some(self.error(msg, 508, Some(&key), |b| b));
        }
        let reserved = match token {
            None => None,
            Some(t) => {
                let r = <[u8; 8]>::try_from(t).ok().and_then(|t| self.reservations.remove(&t)).filter(|r| r.expires > now);
                match r {
                    Some(r) => Some(r.relay),
                    None => {
                        self.refuse_log(now, 508, "unknown or expired RESERVATION-TOKEN", tuple.client, &auth.username);
                        return Some(self.error(msg, 508, Some(&key), |b| b));
                    }
                }
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        *self.per_user.entry(auth.quota_user.clone()).or_insert(0) += 1;
        *self.per_ip.entry(ip).or_insert(0) += 1;
        let lifetime = self.lifetime_of(msg);
        self.pending.insert(id, Pending {
            tuple,
            tid: msg.transaction_id,
            username: auth.username,
            quota_user: auth.quota_user,
            key,
            lifetime,
        });
        self.pending_by_tuple.insert(tuple, id);
        out.push(Output::OpenRelay(RelayRequest {
            id,
            family: reserved.as_ref().map(Family::of).unwrap_or(family),
            even_port: even.is_some(),
            reserve_next: even.is_some_and(|e| e.first().is_some_and(|b| b & 0x80 != 0)),
            reserved,
        }));
        None
    }

    pub(super) fn refresh(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>, auth: Authed, out: &mut Vec<Output>) -> Vec<u8> {
        let id = match self.allocation_for(now, tuple, msg, &auth) {
            Ok(id) => id,
            Err(e) => return e,
        };
        let Some(a) = self.allocs.get(&id) else { return self.error(msg, 437, Some(&auth.key), |b| b) };
        let relay_family = Family::of(&a.relay);
        let asked = match msg.get(attr::REQUESTED_ADDRESS_FAMILY) {
            None => None,
            Some([1, ..]) => Some(Family::V4),
            Some([2, ..]) => Some(Family::V6),
            Some(_) => return self.error(msg, 440, Some(&auth.key), |b| b),
        };
        if asked.is_some_and(|f| f != relay_family) {
            self.refuse_log(now, 443, "Refresh for another address family", tuple.client, &auth.username);
            return self.error(msg, 443, Some(&auth.key), |b| b);
        }
        if msg.get_u32(attr::LIFETIME) == Some(0) {
            self.remove_allocation(id, "deleted by the client (Refresh lifetime 0)", out);
            return self.success(msg, &auth.key, |b| b.u32_attr(attr::LIFETIME, 0));
        }
        let lifetime = self.lifetime_of(msg);
        if let Some(a) = self.allocs.get_mut(&id) {
            a.expires = now + lifetime;
        }
        self.success(msg, &auth.key, |b| b.u32_attr(attr::LIFETIME, lifetime_attr(lifetime)))
    }
}
