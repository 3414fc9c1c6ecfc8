//! The CRI container log format kubelet reads and writes:
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n`.
//!
//! A line longer than [`MAX_RECORD`] bytes is split into `P` (partial)
//! records followed by one `F` (full) record that ends it.

use std::time::SystemTime;

/// Longest content of one record; longer lines are split (kubelet's 16 KiB).
pub const MAX_RECORD: usize = 16 * 1024;

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Appends one record to `out`. `content` must not contain `\n`.
pub fn encode(out: &mut Vec<u8>, at: SystemTime, stream: Stream, full: bool, content: &[u8]) {
    out.extend_from_slice(crate::time::rfc3339_nanos(at).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if full { b" F " } else { b" P " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Turns a stream's raw output into records, keeping an unfinished line
/// until its end arrives (or it grows past [`MAX_RECORD`]).
#[derive(Debug)]
pub struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn new(stream: Stream) -> Self {
        Self { stream, pending: Vec::new() }
    }

    /// Feeds output read at `at`; appends finished records to `out`.
    pub fn feed(&mut self, out: &mut Vec<u8>, at: SystemTime, mut data: &[u8]) {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.pending.extend_from_slice(&data[..nl]);
                    self.flush_pending(out, at, true);
                    data = &data[nl + 1..];
                }
                None => {
                    self.pending.extend_from_slice(data);
                    data = &[];
                }
            }
            while self.pending.len() > MAX_RECORD {
                let rest = self.pending.split_off(MAX_RECORD);
                encode(out, at, self.stream, false, &self.pending);
                self.pending = rest;
            }
        }
    }

    /// At end of stream: a last line without a newline is still a full line.
    pub fn finish(&mut self, out: &mut Vec<u8>, at: SystemTime) {
        if !self.pending.is_empty() {
            self.flush_pending(out, at, true);
        }
    }

    fn flush_pending(&mut self, out: &mut Vec<u8>, at: SystemTime, full: bool) {
        // Split a long line into P records, the last piece closes it with F.
        let mut rest: &[u8] = &self.pending;
        while rest.len() > MAX_RECORD {
            encode(out, at, self.stream, false, &rest[..MAX_RECORD]);
            rest = &rest[MAX_RECORD..];
        }
        encode(out, at, self.stream, full, rest);
        self.pending.clear();
    }
}

/// One parsed record.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp: &'a str,
    pub stream: Stream,
    pub full: bool,
    pub content: &'a [u8],
}

/// Parses one line (without its trailing `\n`); `None` if malformed.
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let timestamp = std::str::from_utf8(parts.next()?).ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = match parts.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    let content = parts.next().unwrap_or(&[]);
    Some(Record { timestamp, stream, full, content })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn t() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_475_713_029, 669_794_202)
    }

    fn lines(out: &[u8]) -> Vec<String> {
        String::from_utf8(out.to_vec()).unwrap().lines().map(str::to_owned).collect()
    }

    #[test]
    fn full_lines_and_pending_tail() {
        let mut s = LineSplitter::new(Stream::Stdout);
        let mut out = Vec::new();
        s.feed(&mut out, t(), b"hello\nwor");
        assert_eq!(lines(&out), ["2016-10-06T00:17:09.669794202Z stdout F hello"]);
        s.feed(&mut out, t(), b"ld\n");
        assert_eq!(lines(&out)[1], "2016-10-06T00:17:09.669794202Z stdout F world");
        s.feed(&mut out, t(), b"no newline");
        assert_eq!(lines(&out).len(), 2);
        s.finish(&mut out, t());
        assert_eq!(lines(&out)[2], "2016-10-06T00:17:09.669794202Z stdout F no newline");
    }

    #[test]
    fn long_lines_split_into_partials() {
        let mut s = LineSplitter::new(Stream::Stderr);
        let mut out = Vec::new();
        let mut data = vec![b'x'; MAX_RECORD * 2 + 10];
        data.push(b'\n');
        s.feed(&mut out, t(), &data);
        let l = lines(&out);
        assert_eq!(l.len(), 3);
        assert!(l[0].contains(" stderr P "));
        assert!(l[1].contains(" stderr P "));
        assert!(l[2].ends_with(&format!(" stderr F {}", "x".repeat(10))));
        // Fed in small pieces, the same result.
        let mut s = LineSplitter::new(Stream::Stderr);
        let mut out2 = Vec::new();
        for c in data.chunks(1000) {
            s.feed(&mut out2, t(), c);
        }
        assert_eq!(out, out2);
    }

    #[test]
    fn parses_records() {
        let r = parse(b"2016-10-06T00:17:09.669794202Z stdout P a b c").unwrap();
        assert_eq!(r.stream, Stream::Stdout);
        assert!(!r.full);
        assert_eq!(r.content, b"a b c");
        assert!(parse(b"2016 stdin F x").is_none());
        assert_eq!(parse(b"2016 stderr F").unwrap().content, b"");
    }
}
