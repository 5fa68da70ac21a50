use super::*;

#[test]
fn report_intervals_are_spread_around_one_second() {
    let mut state = 0x1234_5679;
    let draws: Vec<f64> = (0..2000).map(|_| report_interval(&mut state).as_secs_f64()).collect();
    assert!(draws.iter().all(|d| (0.5..=1.5).contains(d)));
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    assert!((0.95..1.05).contains(&mean), "{mean}");
    // Both halves of the range are used: two players do not stay in step.
    assert!(draws.iter().any(|&d| d < 0.6) && draws.iter().any(|&d| d > 1.4));
}

#[test]
fn answer_parsing() {
    let sdp = "v=0\r\na=ice-ufrag:abc\r\na=ice-pwd:secretsecret\r\na=fingerprint:sha-256 aa:BB\r\na=setup:passive\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 104 105\r\na=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time\r\n\
a=rtpmap:104 H264/90000\r\na=rtpmap:105 rtx/90000\r\na=fmtp:105 apt=104\r\n\
a=candidate:1 1 udp 2130706431 127.0.0.1 8000 typ host\r\na=candidate:2 1 tcp 1 127.0.0.1 8000 typ host tcptype passive\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
    let a = parse_answer(sdp).unwrap();
    assert_eq!(a.ufrag, "abc");
    assert_eq!(a.fingerprint, "AA:BB");
    assert_eq!(a.candidates, vec!["127.0.0.1:8000".parse().unwrap()]);
    assert_eq!((a.video_pts.clone(), a.rtx_pts.clone(), a.audio_pts.clone()), (vec![104], vec![105], vec![111]));
    assert_eq!(a.abs_id, Some(7));
    assert!(parse_answer(&sdp.replace("a=setup:passive", "a=setup:active")).is_err());
    assert!(parse_answer("garbage").is_err());
}

#[test]
fn offer_is_recvonly_active_with_abs_capture_time() {
    let o = offer("uf", "pw", "AA:BB", true);
    assert!(o.contains("a=setup:active"));
    assert!(o.contains("a=recvonly"));
    assert!(o.contains(ABS_CAPTURE_TIME_URI));
    assert_eq!(o.matches("m=").count(), 2);
    assert_eq!(o.matches("rtx/90000").count(), 4);
}

#[test]
fn offer_without_rtx_keeps_nack() {
    let o = offer("uf", "pw", "AA:BB", false);
    assert!(!o.contains("rtx/90000") && !o.contains("apt="));
    assert!(o.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 104 106 108\r\n"));
    assert_eq!(o.matches(" nack\r\n").count(), 4);
}

#[test]
fn histogram_quantiles() {
    let mut h = Histogram::default();
    for us in [5, 15, 25, 1000, 300_000] {
        h.add(us);
    }
    assert_eq!(h.count(), 5);
    assert_eq!(h.quantile_ms(0.0), 0.01);
    assert_eq!(h.quantile_ms(0.5), 0.03);
    assert!(h.quantile_ms(1.0).is_infinite());
}
