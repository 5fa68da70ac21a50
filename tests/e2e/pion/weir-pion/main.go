// weir-pion: a WHIP publisher and WHEP player on pion/webrtc v3 (Debian's package), for Weir's
// e2e suite. It keeps pion's defaults where they matter to a server: the default interceptors
// (NACK generator/responder, RTCP reports, TWCC), no RTX, and pion's ICE keepalive, which sends
// a Binding request on the selected pair only when the pair has been idle.
//
//	weir-pion publish --url WHIP_URL --clip DIR [--seconds 60] [--fps 30]
//	weir-pion play    --url WHEP_URL [--seconds 60] [--drop-every K] [--h264-out FILE]
//
// One JSON object per stdout line (events, stats each second, a final "result"); logs on stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media/h264writer"
)

var outMu sync.Mutex

// emit prints one event line.
func emit(fields map[string]interface{}) {
	b, err := json.Marshal(fields)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"event":"error","error":%q}`, err.Error()))
	}
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

func fail(format string, args ...interface{}) {
	emit(map[string]interface{}{"event": "error", "error": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: weir-pion publish|play --url URL ...")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	urlFlag := fs.String("url", "", "WHIP (publish) or WHEP (play) endpoint")
	seconds := fs.Float64("seconds", 60, "how long to run")
	clip := fs.String("clip", "", "publish: directory with video.h264 and audio.ogg (weir-bench make-clip)")
	fps := fs.Float64("fps", 30, "publish: frame rate of video.h264")
	dropEvery := fs.Uint("drop-every", 0, "play: drop the first arrival of every K-th video sequence number")
	h264Out := fs.String("h264-out", "", "play: write the received H.264 (Annex B) to this file")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail("%v", err)
	}
	if *urlFlag == "" {
		fail("--url is required")
	}
	run := time.Duration(*seconds * float64(time.Second))
	switch os.Args[1] {
	case "publish":
		if *clip == "" {
			fail("publish needs --clip DIR")
		}
		publish(*urlFlag, *clip, *fps, run)
	case "play":
		play(*urlFlag, uint16(*dropEvery), *h264Out, run)
	default:
		fail("unknown command %q", os.Args[1])
	}
}

// newAPI builds a pion API with H.264 (pt 102) and Opus (pt 111) only, no RTX, the default
// interceptors, and ICE over our own socket (see sock.go).
func newAPI(sock *wrappedConn) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb},
		PayloadType: 102,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	// pion logs to stdout by default, which would mix its lines into our JSON lines (PION_LOG_INFO
	// etc. still choose what it logs).
	lf := logging.NewDefaultLoggerFactory()
	lf.Writer = os.Stderr
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEUDPMux(webrtc.NewICEUDPMux(lf.NewLogger("ice"), sock))
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func ufragOf(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(l, "a=ice-ufrag:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "a=ice-ufrag:"))
		}
	}
	return ""
}

// session is one PeerConnection signalled with WHIP/WHEP.
type session struct {
	pc        *webrtc.PeerConnection
	sock      *wrappedConn
	location  string
	postedAt  time.Time
	connected chan struct{}
	failed    chan string
	// stunAtConnect: Binding requests sent before the connection came up.
	stunAtConnect int64
	client        *http.Client
}

func newSession(role string) *session {
	sock, err := listen()
	if err != nil {
		fail("socket: %v", err)
	}
	api, err := newAPI(sock)
	if err != nil {
		fail("pion API: %v", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		fail("PeerConnection: %v", err)
	}
	s := &session{pc: pc, sock: sock, connected: make(chan struct{}), failed: make(chan string, 1),
		client: &http.Client{Timeout: 10 * time.Second}}
	emit(map[string]interface{}{"event": "local", "role": role, "port": sock.port()})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		emit(map[string]interface{}{"event": "state", "state": st.String(), "ms": time.Since(s.postedAt).Milliseconds()})
		switch st {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() {
				atomic.StoreInt64(&s.stunAtConnect, s.sock.stunRequests())
				emit(map[string]interface{}{"event": "connected", "ms": time.Since(s.postedAt).Milliseconds()})
				close(s.connected)
			})
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateClosed:
			select {
			case s.failed <- st.String():
			default:
			}
		}
	})
	return s
}

// signal makes the offer, POSTs it after ICE gathering completes and applies the answer.
func (s *session) signal(endpoint string) {
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		fail("CreateOffer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err = s.pc.SetLocalDescription(offer); err != nil {
		fail("SetLocalDescription: %v", err)
	}
	<-gathered
	local := s.pc.LocalDescription().SDP
	emit(map[string]interface{}{"event": "offer", "ufrag": ufragOf(local)})
	s.postedAt = time.Now()
	resp, err := s.client.Post(endpoint, "application/sdp", strings.NewReader(local))
	if err != nil {
		fail("POST %s: %v", endpoint, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		fail("reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		fail("POST %s: HTTP %d: %.300s", endpoint, resp.StatusCode, body)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		base, perr := url.Parse(endpoint)
		ref, rerr := url.Parse(loc)
		if perr == nil && rerr == nil {
			s.location = base.ResolveReference(ref).String()
		}
	}
	answer := string(body)
	emit(map[string]interface{}{"event": "answer", "status": resp.StatusCode, "location": s.location, "ufrag": ufragOf(answer),
		"ms": time.Since(s.postedAt).Milliseconds()})
	if err = s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		fail("SetRemoteDescription: %v", err)
	}
	select {
	case <-s.connected:
	case st := <-s.failed:
		fail("connection %s before connecting", st)
	case <-time.After(15 * time.Second):
		fail("not connected within 15 s")
	}
}

// hold runs for `d` (calling tick each second) and fails if the connection goes down.
func (s *session) hold(d time.Duration, tick func(t float64)) {
	start := time.Now()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	end := time.After(d)
	for {
		select {
		case <-end:
			return
		case st := <-s.failed:
			fail("%s at %.1f s", st, time.Since(start).Seconds())
		case <-ticker.C:
			tick(time.Since(start).Seconds())
		}
	}
}

func (s *session) stunAfterConnected() int64 {
	return s.sock.stunRequests() - atomic.LoadInt64(&s.stunAtConnect)
}

// finish DELETEs the WHIP/WHEP resource and closes the PeerConnection.
func (s *session) finish() int {
	status := 0
	if s.location != "" {
		req, err := http.NewRequest(http.MethodDelete, s.location, nil)
		if err == nil {
			if resp, derr := s.client.Do(req); derr == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
		}
	}
	if err := s.pc.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "close: %v\n", err)
	}
	return status
}

func publish(endpoint, clip string, fps float64, run time.Duration) {
	s := newSession("publish")
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, "video", "weir-pion")
	if err != nil {
		fail("video track: %v", err)
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "weir-pion")
	if err != nil {
		fail("audio track: %v", err)
	}
	for _, t := range []webrtc.TrackLocal{video, audio} {
		sender, aerr := s.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if aerr != nil {
			fail("AddTransceiver: %v", aerr)
		}
		// The interceptors (NACK responder, reports) need the RTCP read.
		go func(r *webrtc.RTPSender) {
			buf := make([]byte, 1500)
			for {
				if _, _, rerr := r.Read(buf); rerr != nil {
					return
				}
			}
		}(sender.Sender())
	}
	vsrc, err := openVideo(clip)
	if err != nil {
		fail("%v", err)
	}
	asrc, err := openAudio(clip)
	if err != nil {
		fail("%v", err)
	}
	s.signal(endpoint)
	var videoSamples, audioSamples int64
	stop := make(chan struct{})
	go vsrc.pump(video, time.Duration(float64(time.Second)/fps), stop, &videoSamples)
	go asrc.pump(audio, stop, &audioSamples)
	start := time.Now()
	s.hold(run, func(t float64) {
		emit(map[string]interface{}{"event": "stats", "t": t, "video_samples": atomic.LoadInt64(&videoSamples), "audio_samples": atomic.LoadInt64(&audioSamples)})
	})
	close(stop)
	stunAfter := s.stunAfterConnected()
	state := s.pc.ConnectionState().String()
	del := s.finish()
	emit(map[string]interface{}{"event": "result", "role": "publish", "seconds": time.Since(start).Seconds(), "state": state,
		"video_samples": atomic.LoadInt64(&videoSamples), "audio_samples": atomic.LoadInt64(&audioSamples),
		"stun_sent": s.sock.stunRequests(), "stun_sent_after_connected": stunAfter, "delete_status": del})
}

func play(endpoint string, dropEvery uint16, h264Out string, run time.Duration) {
	s := newSession("play")
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := s.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			fail("AddTransceiver: %v", err)
		}
	}
	var writer *h264writer.H264Writer
	if h264Out != "" {
		w, err := h264writer.New(h264Out)
		if err != nil {
			fail("%v", err)
		}
		writer = w
	}
	var mu sync.Mutex
	tracks := map[string]*received{}
	start := time.Now()
	s.pc.OnTrack(func(t *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		r := &received{kind: t.Kind().String(), mime: t.Codec().MimeType, ssrc: uint32(t.SSRC()), clock: t.Codec().ClockRate, seen: map[uint64]bool{}}
		mu.Lock()
		tracks[r.kind] = r
		mu.Unlock()
		go func() {
			for {
				pkts, _, err := rcv.ReadRTCP()
				if err != nil {
					return
				}
				mu.Lock()
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == r.ssrc {
						r.senderReport(sr, time.Since(start))
					}
				}
				mu.Unlock()
			}
		}()
		go func() {
			for {
				pkt, _, err := t.ReadRTP()
				if err != nil {
					return
				}
				mu.Lock()
				isNew := r.record(pkt)
				// Only the newest packet tells the current RTP time: a resend carries an old one.
				if isNew && r.extend(pkt.SequenceNumber) == r.highest {
					r.lastTs, r.lastAt, r.haveTs = pkt.Timestamp, time.Now(), true
				}
				if isNew && r.kind == "video" && writer != nil {
					r.writeInOrder(writer, pkt)
				}
				mu.Unlock()
			}
		}()
	})
	s.signal(endpoint)
	mu.Lock()
	start = time.Now()
	mu.Unlock()
	s.hold(run, func(t float64) {
		// Losses start after the fast-start burst (the cached GOP, up to ~200 packets at once):
		// pion's SRTP replay window is 64 packets, so the resend of an early packet of the burst
		// comes after more than 64 newer ones and is discarded as a replay ("duplicated packet").
		// They stop 3 s before the end so that the last NACKs still get answered.
		if dropEvery > 0 && t >= 1.5 && t < 2.5 {
			s.sock.dropVideo(102, dropEvery)
		}
		if dropEvery > 0 && run-time.Since(start) < 3*time.Second {
			s.sock.stopDropping()
		}
		mu.Lock()
		ev := map[string]interface{}{"event": "stats", "t": t}
		for k, r := range tracks {
			ev[k+"_packets"] = r.packets
		}
		mu.Unlock()
		emit(ev)
	})
	stunAfter := s.stunAfterConnected()
	state := s.pc.ConnectionState().String()
	seconds := time.Since(start).Seconds()
	del := s.finish()
	time.Sleep(100 * time.Millisecond) // readers see the close
	mu.Lock()
	defer mu.Unlock()
	if writer != nil {
		if err := writer.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "h264 writer: %v\n", err)
		}
	}
	dropped := s.sock.droppedSeqs()
	out := []map[string]interface{}{}
	for _, kind := range []string{"video", "audio"} {
		r, ok := tracks[kind]
		if !ok {
			continue
		}
		res := r.summary()
		if kind == "video" {
			seen16 := r.seen16()
			recovered, lost := 0, []uint16{}
			for _, seq := range dropped {
				if seen16[seq] {
					recovered++
				} else if len(lost) < 20 {
					lost = append(lost, seq)
				}
			}
			res["dropped_on_purpose"] = len(dropped)
			res["recovered"] = recovered
			res["not_recovered"] = lost
		}
		out = append(out, res)
	}
	emit(map[string]interface{}{"event": "result", "role": "play", "seconds": seconds, "state": state, "tracks": out,
		"stun_sent": s.sock.stunRequests(), "stun_sent_after_connected": stunAfter, "delete_status": del})
}

// received counts one remote track's packets by extended sequence number.
type received struct {
	kind, mime string
	ssrc       uint32
	packets    int64
	duplicates int64
	seen       map[uint64]bool
	haveFirst  bool
	first      uint64
	highest    uint64
	// writtenHighest: the file gets packets in sequence order only (a resend that comes after
	// later packets is counted but not written).
	writtenHighest uint64
	wroteAny       bool
	// The RTP clock rate, the newest packet's timestamp and when it came.
	clock  uint32
	lastTs uint32
	lastAt time.Time
	haveTs bool
	// Sender reports (RFC 3550 section 6.4.1) from the server: how many, the newest one's
	// sender packet count, and the largest disagreement, once the fast-start replay is long
	// over, between an SR's RTP timestamp and the RTP time the packets imply at its arrival
	// (the newest packet's timestamp plus the time since it came), and between its NTP time
	// and this machine's clock.
	srCount      int64
	srPackets    uint32
	srRtpErrMs   float64
	srNtpErrMs   float64
	srWithoutRtp int64
}

// ntpTime converts an NTP 64-bit timestamp (RFC 5905 section 6) to a wall-clock time.
func ntpTime(ntp uint64) time.Time {
	const secs1900to1970 = 2208988800
	secs := int64(ntp>>32) - secs1900to1970
	nanos := (int64(ntp&0xffffffff) * 1e9) >> 32
	return time.Unix(secs, nanos)
}

func (r *received) senderReport(sr *rtcp.SenderReport, sinceStart time.Duration) {
	r.srCount++
	r.srPackets = sr.PacketCount
	if sr.RTPTime == 0 {
		r.srWithoutRtp++
	}
	if sinceStart < 3*time.Second || !r.haveTs || r.clock == 0 {
		return
	}
	now := time.Now()
	implied := float64(r.lastTs) + now.Sub(r.lastAt).Seconds()*float64(r.clock)
	errTicks := float64(int32(sr.RTPTime - uint32(int64(implied))))
	if e := abs(errTicks) * 1000 / float64(r.clock); e > r.srRtpErrMs {
		r.srRtpErrMs = e
	}
	if e := abs(float64(now.Sub(ntpTime(sr.NTPTime)).Microseconds()) / 1000); e > r.srNtpErrMs {
		r.srNtpErrMs = e
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// extend maps a 16-bit sequence number to the extended one nearest the highest seen.
func (r *received) extend(seq uint16) uint64 {
	if !r.haveFirst {
		return uint64(seq) + 1<<16
	}
	base := r.highest &^ 0xffff
	cand := base | uint64(seq)
	if cand+0x8000 < r.highest {
		cand += 1 << 16
	} else if cand > r.highest+0x8000 && cand >= 1<<16 {
		cand -= 1 << 16
	}
	return cand
}

func (r *received) record(p *rtp.Packet) bool {
	ext := r.extend(p.SequenceNumber)
	if r.seen[ext] {
		r.duplicates++
		return false
	}
	r.seen[ext] = true
	r.packets++
	if !r.haveFirst {
		r.haveFirst, r.first, r.highest = true, ext, ext
	}
	if ext < r.first {
		r.first = ext
	}
	if ext > r.highest {
		r.highest = ext
	}
	return true
}

func (r *received) writeInOrder(w *h264writer.H264Writer, p *rtp.Packet) {
	ext := r.extend(p.SequenceNumber)
	if r.wroteAny && ext <= r.writtenHighest {
		return
	}
	if err := w.WriteRTP(p); err != nil {
		fmt.Fprintf(os.Stderr, "h264 writer: %v\n", err)
	}
	r.wroteAny, r.writtenHighest = true, ext
}

// seen16: the received sequence numbers as they are on the wire (the socket that drops packets
// sees only those; a run is far shorter than a 16-bit wrap of the video track).
func (r *received) seen16() map[uint16]bool {
	out := make(map[uint16]bool, len(r.seen))
	for ext := range r.seen {
		out[uint16(ext)] = true
	}
	return out
}

func (r *received) summary() map[string]interface{} {
	missing := int64(0)
	gaps := []uint64{}
	if r.haveFirst {
		missing = int64(r.highest-r.first+1) - r.packets
		for ext := r.first; ext <= r.highest && len(gaps) < 20; ext++ {
			if !r.seen[ext] {
				gaps = append(gaps, ext)
			}
		}
	}
	return map[string]interface{}{"kind": r.kind, "mime": r.mime, "ssrc": r.ssrc, "packets": r.packets,
		"duplicates": r.duplicates, "first_seq": r.first, "last_seq": r.highest, "missing": missing, "missing_seqs": gaps,
		"sender_reports": r.srCount, "sr_packet_count": r.srPackets, "sr_rtp_error_ms": r.srRtpErrMs,
		"sr_ntp_error_ms": r.srNtpErrMs, "sr_without_rtp_time": r.srWithoutRtp}
}
