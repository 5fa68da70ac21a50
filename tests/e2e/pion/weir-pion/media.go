package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
	"github.com/pion/webrtc/v3/pkg/media/h264reader"
)

// videoSource loops an Annex-B H.264 file as access units (one sample per frame).
type videoSource struct{ path string }

func openVideo(dir string) (*videoSource, error) {
	p := filepath.Join(dir, "video.h264")
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("clip: %v", err)
	}
	return &videoSource{path: p}, nil
}

func isVCL(t h264reader.NalUnitType) bool {
	return t == h264reader.NalUnitTypeCodedSliceNonIdr || t == h264reader.NalUnitTypeCodedSliceIdr
}

// frames reads the file once, grouping NAL units into access units (no B-frames in the clip):
// the first slice of a picture after a picture starts a new one; SPS, PPS and SEI go with the
// slice after them; access unit delimiters are dropped.
func (v *videoSource) frames() ([][]byte, error) {
	f, err := os.Open(v.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	var cur []byte
	curHasSlice := false
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if nal.UnitType == h264reader.NalUnitTypeAUD {
			continue
		}
		// A slice with first_mb_in_slice == 0 (ue(v) "1": the top bit after the NAL header)
		// starts a picture (H.264 section 7.4.1.2.4); x264 cuts frames into several slices.
		firstSlice := isVCL(nal.UnitType) && len(nal.Data) > 1 && nal.Data[1]&0x80 != 0
		if curHasSlice && (firstSlice || nal.UnitType == h264reader.NalUnitTypeSPS || nal.UnitType == h264reader.NalUnitTypeSEI) {
			out = append(out, cur)
			cur, curHasSlice = nil, false
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal.Data...)
		if isVCL(nal.UnitType) {
			curHasSlice = true
		}
	}
	if curHasSlice {
		out = append(out, cur)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no frames", v.path)
	}
	return out, nil
}

func (v *videoSource) pump(t *webrtc.TrackLocalStaticSample, frame time.Duration, stop <-chan struct{}, count *int64) {
	frames, err := v.frames()
	if err != nil {
		fail("video: %v", err)
	}
	tick := time.NewTicker(frame)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if err := t.WriteSample(media.Sample{Data: frames[i%len(frames)], Duration: frame}); err != nil {
			return
		}
		atomic.AddInt64(count, 1)
	}
}

// audioSource loops an Ogg Opus file, one sample per Opus packet.
type audioSource struct{ path string }

func openAudio(dir string) (*audioSource, error) {
	p := filepath.Join(dir, "audio.ogg")
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("clip: %v", err)
	}
	return &audioSource{path: p}, nil
}

type page struct {
	data []byte
	dur  time.Duration
}

// pages returns the Opus packets of the file (RFC 7845: packets are split over segments by the
// lacing values; a page can hold several, and pion's oggreader returns a page's payload as one
// piece), each with its duration from its TOC byte, without the two header packets. (Granule
// positions are per page, and a page holds about a second of packets.)
func (a *audioSource) pages() ([]page, error) {
	b, err := os.ReadFile(a.path)
	if err != nil {
		return nil, err
	}
	var packets [][]byte
	var cur []byte
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" {
			return nil, fmt.Errorf("%s: not an Ogg page", a.path)
		}
		nsegs := int(b[26])
		if len(b) < 27+nsegs {
			return nil, fmt.Errorf("%s: short page", a.path)
		}
		lacing := b[27 : 27+nsegs]
		body := b[27+nsegs:]
		for _, l := range lacing {
			if int(l) > len(body) {
				return nil, fmt.Errorf("%s: short page body", a.path)
			}
			cur = append(cur, body[:l]...)
			body = body[l:]
			if l < 255 {
				packets = append(packets, cur)
				cur = nil
			}
		}
		b = body
	}
	var out []page
	for i, p := range packets {
		if i < 2 || len(p) == 0 { // OpusHead, OpusTags
			continue
		}
		out = append(out, page{data: p, dur: opusDuration(p)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no audio packets", a.path)
	}
	return out, nil
}

func (a *audioSource) pump(t *webrtc.TrackLocalStaticSample, stop <-chan struct{}, count *int64) {
	pages, err := a.pages()
	if err != nil {
		fail("audio: %v", err)
	}
	next := time.Now()
	for i := 0; ; i++ {
		p := pages[i%len(pages)]
		if err := t.WriteSample(media.Sample{Data: p.data, Duration: p.dur}); err != nil {
			return
		}
		atomic.AddInt64(count, 1)
		next = next.Add(p.dur)
		select {
		case <-stop:
			return
		case <-time.After(time.Until(next)):
		}
	}
}

// opusDuration: the audio in one Opus packet (RFC 6716 section 3.1: the frame size from the
// TOC byte's configuration, times the frame count from its code). 20 ms for what it cannot read.
func opusDuration(p []byte) time.Duration {
	const fallback = 20 * time.Millisecond
	if len(p) == 0 {
		return fallback
	}
	config := p[0] >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = []time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	frames := 1
	switch p[0] & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 || p[1]&0x3f == 0 {
			return fallback
		}
		frames = int(p[1] & 0x3f)
	}
	if d := frame * time.Duration(frames); d <= 120*time.Millisecond {
		return d
	}
	return fallback
}
