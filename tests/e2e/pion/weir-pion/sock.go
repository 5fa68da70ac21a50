package main

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
)

// wrappedConn is the UDP socket under pion's ICE mux. Below SRTP it can lose video packets on
// purpose (the RTP header is in clear: replay protection stays on, and the server's resend is
// the first copy pion sees) and it counts the STUN Binding requests pion sends, to show what
// pion's keepalive does on a busy pair.
type wrappedConn struct {
	net.PacketConn
	stunSent int64

	mu         sync.Mutex
	dropPT     uint8
	dropEvery  uint16
	dropping   bool
	dropped    map[uint16]bool
	droppedOrd []uint16
}

func listen() (*wrappedConn, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &wrappedConn{PacketConn: c, dropped: map[uint16]bool{}}, nil
}

func (w *wrappedConn) port() int {
	if a, ok := w.LocalAddr().(*net.UDPAddr); ok {
		return a.Port
	}
	return 0
}

func (w *wrappedConn) dropVideo(pt uint8, every uint16) {
	w.mu.Lock()
	w.dropPT, w.dropEvery, w.dropping = pt, every, true
	w.mu.Unlock()
}

func (w *wrappedConn) stopDropping() {
	w.mu.Lock()
	w.dropping = false
	w.mu.Unlock()
}

func (w *wrappedConn) droppedSeqs() []uint16 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]uint16(nil), w.droppedOrd...)
}

func (w *wrappedConn) stunRequests() int64 { return atomic.LoadInt64(&w.stunSent) }

// isStunRequest: a STUN Binding request (RFC 5389 section 6: type 0x0001, magic cookie).
func isStunRequest(b []byte) bool {
	return len(b) >= 20 && b[0] == 0x00 && b[1] == 0x01 && binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

func (w *wrappedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if isStunRequest(b) {
		atomic.AddInt64(&w.stunSent, 1)
	}
	return w.PacketConn.WriteTo(b, addr)
}

func (w *wrappedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := w.PacketConn.ReadFrom(b)
		if err != nil || !w.shouldDrop(b[:n]) {
			return n, addr, err
		}
	}
}

// shouldDrop: the first arrival of every dropEvery-th sequence number of RTP with payload type
// dropPT (RFC 7983: first byte 128..191; RTCP has packet types 192..223 where RTP has M+PT).
func (w *wrappedConn) shouldDrop(b []byte) bool {
	if len(b) < 12 || b[0] < 128 || b[0] > 191 || (b[1] >= 192 && b[1] <= 223) {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dropping || w.dropEvery == 0 || b[1]&0x7f != w.dropPT {
		return false
	}
	seq := binary.BigEndian.Uint16(b[2:4])
	if seq%w.dropEvery != 0 || w.dropped[seq] {
		return false
	}
	w.dropped[seq] = true
	w.droppedOrd = append(w.droppedOrd, seq)
	return true
}
