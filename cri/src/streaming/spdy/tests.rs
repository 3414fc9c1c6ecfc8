use super::*;

#[test]
fn dictionary_is_the_spdy3_one() {
    assert_eq!(DICTIONARY.len(), 1423);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in DICTIONARY {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    assert_eq!((b << 16) | a, 0xe3c6_a7c2);
}

#[test]
fn header_blocks_round_trip_on_one_zlib_stream() {
    let mut d = HeaderDeflater::new();
    let mut i = HeaderInflater::new();
    let first = d.block(&[("streamtype", "error"), ("port", "8080")]);
    let second = d.block(&[]);
    let third = d.block(&[("streamtype", "data"), ("requestid", "0")]);
    assert_eq!(
        i.block(&first).unwrap(),
        vec![("streamtype".into(), "error".into()), ("port".into(), "8080".into())]
    );
    assert_eq!(i.block(&second).unwrap(), vec![]);
    assert_eq!(i.block(&third).unwrap()[1], ("requestid".into(), "0".into()));
}

#[test]
fn malformed_header_blocks_are_refused() {
    assert!(parse_headers(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']).is_none());
    assert!(parse_headers(&[0, 0, 0]).is_none());
    assert!(parse_headers(&[0xff, 0xff, 0xff, 0xff]).is_none());
    assert_eq!(
        parse_headers(&[0, 0, 0, 1, 0, 0, 0, 1, b'A', 0, 0, 0, 3, b'x', 0, b'y']).unwrap(),
        vec![("a".into(), "x".into())]
    );
    let mut i = HeaderInflater::new();
    assert!(i.block(b"not zlib at all").is_err());
}

#[tokio::test]
async fn streams_are_accepted_and_data_flows_both_ways() {
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    let (w, mut incoming) = session(ours, Vec::new());
    // The peer opens stream 1 with a header, then sends data with FIN.
    let mut d = HeaderDeflater::new();
    theirs.write_all(&syn_stream(1, false, &d.block(&[("streamtype", "stdin")]))).await.unwrap();
    theirs.write_all(&data_frame(1, true, b"hi")).await.unwrap();
    theirs.write_all(&control(PING, 0, &7u32.to_be_bytes())).await.unwrap();
    let mut s = incoming.recv().await.unwrap();
    assert_eq!((s.id, s.header("streamtype")), (1, Some("stdin")));
    assert_eq!(s.data.recv().await.unwrap(), b"hi");
    assert!(s.data.recv().await.is_none(), "FIN ends the stream");
    w.data(1, b"out").await.unwrap();
    w.close(1).await.unwrap();
    w.go_away().await.unwrap();
    let mut got = Vec::new();
    theirs.read_to_end(&mut got).await.unwrap();
    // SYN_REPLY for 1, the PING echo, data, FIN, GOAWAY.
    assert_eq!(&got[..4], &[0x80, 3, 0, SYN_REPLY as u8]);
    let reply_len = 8 + u32::from_be_bytes([0, got[5], got[6], got[7]]) as usize;
    let rest = &got[reply_len..];
    assert_eq!(&rest[..12], &control(PING, 0, &7u32.to_be_bytes())[..]);
    assert_eq!(&rest[12..23], &[0, 0, 0, 1, 0, 0, 0, 3, b'o', b'u', b't']);
    assert_eq!(&rest[23..31], &[0, 0, 0, 1, FLAG_FIN, 0, 0, 0]);
    assert_eq!(&rest[31..35], &[0x80, 3, 0, GOAWAY as u8]);
}
