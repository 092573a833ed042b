//! Reading a file line by line in bounded memory, hashing every byte on the way.
//!
//! [`LineReader`] appends each line to a caller's buffer (which the caller reuses), without the
//! `\n` or `\r\n`. A line longer than the cap keeps only its first [`KEEP_OF_LONG_LINE`] bytes and
//! the rest is read and dropped, so a gigabyte without a newline costs no memory. The SHA-256 of
//! the file is computed from the same reads, so the hash always matches the bytes ingested.

use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read};

/// How much of an overlong line is kept for its dead letter.
pub(crate) const KEEP_OF_LONG_LINE: usize = 1024;

const READ_BUFFER: usize = 256 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A reader that hashes what passes through it.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// One line's place in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineInfo {
    /// 1-based line number.
    pub number: u64,
    /// `Some(full length)` when the line was longer than the cap and was cut.
    pub too_long: Option<u64>,
}

pub(crate) struct LineReader<R> {
    inner: BufReader<Hashing<R>>,
    line: u64,
    consumed: u64,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R) -> Self {
        let hashing = Hashing { inner, hasher: Sha256::new(), bytes: 0 };
        LineReader { inner: BufReader::with_capacity(READ_BUFFER, hashing), line: 0, consumed: 0 }
    }

    /// Bytes of the file consumed so far (whole lines).
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// Reads the rest of the file (so that the hash covers it) and returns the SHA-256 in hex
    /// and the number of bytes read.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self.inner, &mut io::sink())?;
        let hashing = self.inner.into_inner();
        Ok((hex::encode(hashing.hasher.finalize()), hashing.bytes))
    }

    /// Appends the next line to `out`, keeping at most `max` bytes of it; `None` at the end of
    /// the file.
    pub fn read_line(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Option<LineInfo>> {
        let start = out.len();
        let mut length: u64 = 0;
        let mut cut = false;
        let mut any = false;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let content = &buf[..if done { take - 1 } else { take }];
            length += content.len() as u64;
            if !cut {
                let room = max.saturating_sub(out.len() - start);
                if content.len() <= room {
                    out.extend_from_slice(content);
                } else {
                    cut = true;
                    let keep = KEEP_OF_LONG_LINE.min(max);
                    let have = out.len() - start;
                    if have < keep {
                        out.extend_from_slice(&content[..(keep - have).min(content.len())]);
                    }
                    out.truncate(start + keep);
                }
            }
            self.inner.consume(take);
            self.consumed += take as u64;
            if done {
                break;
            }
        }
        self.line += 1;
        if self.line == 1 && out[start..].starts_with(BOM) {
            out.drain(start..start + BOM.len());
            length -= BOM.len() as u64;
        }
        if !cut && out.len() > start && out.last() == Some(&b'\r') {
            out.pop();
        }
        Ok(Some(LineInfo { number: self.line, too_long: cut.then_some(length) }))
    }
}

/// Empty or only whitespace: skipped and not counted.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(u64, Option<u64>, Vec<u8>)> {
        let mut r = LineReader::new(input);
        let mut out = Vec::new();
        let mut all = Vec::new();
        while let Some(info) = r.read_line(&mut out, max).unwrap() {
            all.push((info.number, info.too_long, std::mem::take(&mut out)));
        }
        all
    }

    #[test]
    fn splits_lines_strips_crlf_and_bom() {
        let got = lines(b"\xEF\xBB\xBFa\r\n\nbc\nlast", 100);
        let texts: Vec<&[u8]> = got.iter().map(|(_, _, l)| l.as_slice()).collect();
        assert_eq!(texts, [b"a".as_slice(), b"", b"bc", b"last"]);
        assert_eq!(got.iter().map(|l| l.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!(lines(b"", 10).is_empty());
    }

    #[test]
    fn overlong_lines_keep_their_start_and_the_next_line_survives() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\nok\n");
        let got = lines(&input, 2000);
        assert_eq!(got[0].1, Some(5000));
        assert_eq!(got[0].2.len(), KEEP_OF_LONG_LINE);
        assert_eq!(got[1], (2, None, b"ok".to_vec()));
    }

    #[test]
    fn overlong_lines_spanning_many_buffers_are_not_buffered() {
        let input = vec![b'y'; 3 * READ_BUFFER + 17];
        let mut r = LineReader::new(input.as_slice());
        let mut out = Vec::new();
        let info = r.read_line(&mut out, 4096).unwrap().unwrap();
        assert_eq!(info.too_long, Some(input.len() as u64));
        assert!(out.capacity() < 64 * 1024, "the long line was buffered: {}", out.capacity());
        assert_eq!(r.read_line(&mut out, 4096).unwrap(), None);
    }

    #[test]
    fn hash_covers_every_byte() {
        let input = b"a\nb\n";
        let mut r = LineReader::new(input.as_slice());
        let mut out = Vec::new();
        r.read_line(&mut out, 10).unwrap();
        let (hash, bytes) = r.finish().unwrap();
        assert_eq!(bytes, 4);
        assert_eq!(hash, hex::encode(Sha256::digest(input)));
    }
}
