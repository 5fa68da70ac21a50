//! Commands from signaling and adapters, on the engine thread: create a session (negotiate,
//! then become its stream's source or sink), delete, trickle and restart ICE, stats, list,
//! broadcast; attach an adapter's source or sink port to a stream.

use std::collections::HashMap;
use std::time::Instant;

use str0m::IceCreds;
use tracing::info;
use weir_core::util::random_alnum;
use weir_core::{SessionAnswer, SessionError, SessionKind, SessionRequest, SessionSummary, TrickleOutcome};
use weir_stream::{
    sink_port, source_port, HubError, PublishRequest, PublishedStream, SinkPort, SourceClaim, SourceKind, SourcePort, StreamError,
    SubscribeRequest,
};

use crate::codec::{publisher_codecs, select_offer_codecs};
use crate::datachannel::DcState;
use crate::echo::Echo;
use crate::negotiate::{self, advertise_max_message_size, restart_answer, Offer, SdpFrag};
use crate::peer::{Counters, Role, Session};
use crate::publish::Publisher;
use crate::shard::Shard;
use crate::Command;

fn session_error(e: HubError) -> SessionError {
    match e {
        HubError::AlreadyPublishing => SessionError::AlreadyPublishing,
        HubError::NotFound => SessionError::StreamNotFound,
        HubError::BadTracks(m) => SessionError::NoCommonCodec(m),
    }
}

impl Shard {
    pub(crate) fn handle_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Create { req, reply } => {
                let _ = reply.send(self.create_session(req, now));
            }
            Command::Delete { id, token, reply } => {
                let res = match self.sessions.find(&id) {
                    None => Err(SessionError::SessionNotFound),
                    Some(sid) => match self.sessions.get(sid) {
                        Some(s) if token.as_deref().is_some_and(|t| t != s.token) => Err(SessionError::TokenMismatch),
                        Some(_) => {
                            self.close_session(sid, "deleted by signaling", now);
                            Ok(())
                        }
                        None => Err(SessionError::SessionNotFound),
                    },
                };
                let _ = reply.send(res);
            }
            Command::Trickle { id, token, frag, reply } => {
                let _ = reply.send(self.trickle(&id, &token, &frag, now));
            }
            Command::Stats { id, reply } => {
                let res = self.sessions.find(&id).and_then(|s| self.sessions.get(s)).map(|s| s.stats_json(now));
                let _ = reply.send(res.ok_or(SessionError::SessionNotFound));
            }
            Command::Broadcast { req, reply } => {
                let _ = reply.send(self.broadcast(req, now));
            }
            Command::List { reply } => {
                let list = self
                    .sessions
                    .iter()
                    .map(|s| SessionSummary {
                        id: s.id.clone(),
                        kind: s.kind,
                        stream: s.key.clone(),
                        protocol: s.protocol,
                        state: s.state(),
                        peer: s.peer,
                        age_ms: now.saturating_duration_since(s.created).as_millis() as u64,
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Command::Publish { req, reply } => {
                let _ = reply.send(self.attach_source(req, now));
            }
            Command::Subscribe { req, reply } => {
                let _ = reply.send(self.attach_sink(req, now));
            }
        }
        self.process_work(now);
    }

    fn create_session(&mut self, req: SessionRequest, now: Instant) -> Result<SessionAnswer, SessionError> {
        if self.sessions.len() >= self.cfg.max_sessions {
            return Err(SessionError::Overloaded(format!("{} sessions (rtc.maxSessions)", self.sessions.len())));
        }
        if req.kind == SessionKind::Echo && !self.cfg.enable_echo {
            return Err(SessionError::Unsupported("echo sessions are disabled (rtc.echo=0)".into()));
        }
        let ufrag = match &req.ice_ufrag {
            Some(u) if self.sessions.ufrag_in_use(u) => return Err(SessionError::BadRequest("ice-ufrag already in use".into())),
            Some(u) => u.clone(),
            None => loop {
                let u = random_alnum(16);
                if !self.sessions.ufrag_in_use(&u) {
                    break u;
                }
            },
        };
        let pwd = req.ice_pwd.clone().unwrap_or_else(|| random_alnum(32));

        // The codecs this session is negotiated against, and the offer as negotiated.
        let stream = self.hub.find(&req.key).and_then(|s| self.hub.get(s)).filter(|s| s.has_source() || s.is_orphaned());
        let (codecs, offer) = match req.kind {
            SessionKind::Publish | SessionKind::Echo => (
                publisher_codecs(&self.cfg.audio_pref, &self.cfg.video_pref),
                // A publisher is answered with exactly one codec per m-line (`codec.rs`).
                select_offer_codecs(&req.offer, &self.cfg.audio_pref, &self.cfg.video_pref),
            ),
            SessionKind::Play => (negotiate::player_codecs(stream.ok_or(SessionError::StreamNotFound)?, &req.offer)?, req.offer.clone()),
        };
        let Offer { text, sdp, remote_ufrag } = Offer::parse(offer)?;
        let (mut rtc, keys) = self.new_rtc(IceCreds { ufrag: ufrag.clone(), pass: pwd }, codecs, &req, now)?;
        let answer = rtc.sdp_api().accept_offer(sdp).map_err(|e| SessionError::BadOffer(e.to_string()))?;
        let medias = negotiate::medias(&rtc, &text);
        let mut dc = DcState::default();
        if text.lines().any(|l| l.starts_with("m=application")) {
            dc.precreate_negotiated(&mut rtc, &self.cfg.datachannel_negotiated_ids);
        }
        let (role, tracks) = match req.kind {
            SessionKind::Publish => {
                let (publisher, tracks) = Publisher::negotiated(&rtc, &medias)?;
                (Role::Publisher(publisher), tracks)
            }
            SessionKind::Play => {
                let stream = stream.ok_or(SessionError::StreamNotFound)?;
                let rtx = (self.cfg.rtx_cache_packets, self.cfg.rtx_cache_age);
                (Role::Player(negotiate::player(&mut rtc, &medias, stream, rtx)?), Vec::new())
            }
            SessionKind::Echo => {
                let echo = Echo::negotiated(&rtc, &medias)
                    .ok_or_else(|| SessionError::NoCommonCodec("the echo offer has no sendrecv audio or video".into()))?;
                (Role::Echo(echo), Vec::new())
            }
        };

        let (token, name) = (random_alnum(32), ufrag.clone());
        let id = self.sessions.insert(|handle| Session {
            handle,
            stream: None,
            id: name.clone(),
            token: token.clone(),
            kind: req.kind,
            key: req.key.clone(),
            protocol: req.protocol,
            peer: req.peer,
            remote_ufrag: remote_ufrag.clone(),
            ufrags: vec![ufrag],
            rtc,
            role,
            created: now,
            connected_at: None,
            last_consent: now,
            addrs: Vec::new(),
            local_udp: req.candidates.udp.clone(),
            local_tcp: req.candidates.tcp.clone(),
            next_timeout: now,
            media_written: false,
            rtc_written: false,
            keys,
            direct: None,
            media_path: None,
            fanout_after: 0,
            counters: Counters::default(),
            ingress: HashMap::new(),
            egress: HashMap::new(),
            ice_generation: 1,
            dc,
        });
        let joined = match req.kind {
            SessionKind::Publish => self
                .hub
                .claim_source(&req.key, SourceClaim { id: name.clone(), protocol: req.protocol, tracks, kind: SourceKind::Local(id) }, now)
                .map(|c| Some(c.stream)),
            SessionKind::Play => self.hub.add_local_sink(&req.key, id, &name, req.protocol).map(Some),
            SessionKind::Echo => Ok(None),
        };
        match joined {
            Ok(stream) => {
                if let Some(sess) = self.sessions.get_mut(id) {
                    sess.stream = stream;
                }
            }
            Err(e) => {
                self.sessions.remove(id);
                return Err(session_error(e));
            }
        }
        self.drain_session(id, now);
        info!(session = %name, stream = %req.key, kind = ?req.kind, protocol = req.protocol, peer = ?req.peer, "session created");
        let sdp = advertise_max_message_size(&answer.to_sdp_string(), self.cfg.datachannel_max_message_size);
        Ok(SessionAnswer { id: name, token, sdp, remote_ufrag })
    }

    fn trickle(&mut self, name: &str, token: &str, frag: &str, now: Instant) -> Result<TrickleOutcome, SessionError> {
        let id = self.sessions.find(name).ok_or(SessionError::SessionNotFound)?;
        let sess = self.sessions.get_mut(id).ok_or(SessionError::SessionNotFound)?;
        if sess.token != token {
            return Err(SessionError::TokenMismatch);
        }
        let frag = SdpFrag::parse(frag);
        let restart = matches!((&frag.ufrag, &frag.pwd), (Some(u), Some(_)) if *u != sess.remote_ufrag);
        let outcome = if restart {
            // RFC 8839 section 4.4.1.1.1 / RFC 9725 section 4.4: new credentials on both sides.
            let (Some(u), Some(p)) = (frag.ufrag, frag.pwd) else { return Err(SessionError::BadRequest("ice restart needs ufrag and pwd".into())) };
            let local = IceCreds { ufrag: random_alnum(16), pass: random_alnum(32) };
            let mut api = sess.rtc.direct_api();
            api.set_remote_ice_credentials(IceCreds { ufrag: u.clone(), pass: p });
            api.set_local_ice_credentials(local.clone());
            sess.remote_ufrag = u;
            sess.ice_generation += 1;
            let sdpfrag = restart_answer(&local, &sess.local_udp, &sess.local_tcp);
            self.sessions.add_ufrag(id, local.ufrag);
            TrickleOutcome::Restarted { sdpfrag }
        } else {
            for c in frag.candidates {
                match str0m::Candidate::from_sdp_string(&c) {
                    Ok(c) => sess.rtc.add_remote_candidate(c),
                    Err(e) => return Err(SessionError::BadRequest(format!("bad candidate: {e}"))),
                }
            }
            TrickleOutcome::Applied
        };
        self.drain_session(id, now);
        Ok(outcome)
    }

    /// An adapter's source: a port pair whose owner end becomes the stream's source.
    fn attach_source(&mut self, req: PublishRequest, now: Instant) -> Result<(SourcePort, PublishedStream), StreamError> {
        let name = req.id.unwrap_or_else(|| format!("{}-{}", req.protocol, random_alnum(12)));
        let (port, end) = source_port(req.capacity, self.ports.clone());
        let claim = SourceClaim { id: name.clone(), protocol: req.protocol, tracks: req.tracks, kind: SourceKind::Foreign(end) };
        let claimed = self.hub.claim_source(&req.key, claim, now)?;
        info!(source = %name, stream = %req.key, protocol = req.protocol, "adapter source attached");
        Ok((port, PublishedStream { id: name, resumed: claimed.resumed }))
    }

    /// An adapter's sink: it gets the stream's tracks and cached GOP now, live units after.
    fn attach_sink(&mut self, req: SubscribeRequest, now: Instant) -> Result<SinkPort, StreamError> {
        let name = req.id.unwrap_or_else(|| format!("{}-{}", req.protocol, random_alnum(12)));
        let (port, end) = sink_port(req.capacity, self.ports.clone());
        self.hub.add_foreign_sink(&req.key, &name, req.protocol, end, now)?;
        info!(sink = %name, stream = %req.key, protocol = req.protocol, "adapter sink attached");
        Ok(port)
    }
}
