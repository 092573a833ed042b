//! CSV: rows that may span lines, split into cells with `csv-core`, validated by the model.
//!
//! Rows are cut from the file by [`read_row`] with the same line cap as JSON lines: a row ends at
//! a newline that is not inside a quoted cell. The quote tracking follows `csv-core`'s rules (a
//! quote opens a quoted cell only at the start of a cell, `""` inside it is a literal quote), so
//! the row handed to the parser is exactly one record. A row whose quote never closes runs on to
//! the cap or the end of the file and is then rejected as one row.

use super::lines::{KEEP_OF_LONG_LINE, LineInfo, LineReader};
use crate::model::{CsvLayout, DecodeError, Event, Validator, decode_csv};
use csv_core::ReadRecordResult;
use std::io::{self, Read};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    Start,
    Unquoted,
    Quoted,
    /// A quote seen inside a quoted cell: either it closes the cell or a second one follows.
    QuoteInQuoted,
}

fn scan(mut state: Cell, bytes: &[u8]) -> Cell {
    for &b in bytes {
        state = match (state, b) {
            (Cell::Quoted, b'"') => Cell::QuoteInQuoted,
            (Cell::Quoted, _) => Cell::Quoted,
            (Cell::QuoteInQuoted, b'"') => Cell::Quoted,
            (_, b',') => Cell::Start,
            (Cell::Start, b'"') => Cell::Quoted,
            _ => Cell::Unquoted,
        };
    }
    state
}

/// Appends the next row to `out` (lines of a multi-line row joined by `\n`), keeping at most
/// `max` bytes; the row's number is the line it starts on. `None` at the end of the file.
pub(crate) fn read_row<R: Read>(
    lines: &mut LineReader<R>,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<LineInfo>> {
    let start = out.len();
    let Some(first) = lines.read_line(out, max)? else { return Ok(None) };
    if first.too_long.is_some() {
        return Ok(Some(first));
    }
    let mut state = scan(Cell::Start, &out[start..]);
    while state == Cell::Quoted {
        out.push(b'\n');
        let segment = out.len();
        let room = max.saturating_sub(segment - start);
        match lines.read_line(out, room)? {
            None => {
                out.pop();
                break;
            }
            Some(LineInfo { too_long: Some(length), .. }) => {
                let total = (segment - start) as u64 + length;
                out.truncate(start + KEEP_OF_LONG_LINE.min(out.len() - start));
                return Ok(Some(LineInfo { number: first.number, too_long: Some(total) }));
            }
            Some(_) => state = scan(state, &out[segment..]),
        }
    }
    Ok(Some(first))
}

/// Splits rows into cells, reusing its buffers.
pub(crate) struct RowParser {
    reader: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    record: csv::StringRecord,
}

impl Default for RowParser {
    fn default() -> Self {
        RowParser { reader: csv_core::Reader::new(), out: vec![0; 4096], ends: vec![0; 32], record: Default::default() }
    }
}

impl RowParser {
    /// The cells of one row (without its line end); the row must be UTF-8.
    pub fn parse(&mut self, row: &str) -> Result<&csv::StringRecord, DecodeError> {
        self.reader.reset();
        let (mut input, mut nout, mut nend) = (row.as_bytes(), 0, 0);
        loop {
            let (result, nin, o, e) = self.reader.read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            input = &input[nin..];
            nout += o;
            nend += e;
            match result {
                // Out of input: the next call, with nothing, tells the parser the row has ended.
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record | ReadRecordResult::End => break,
            }
        }
        self.record.clear();
        let mut from = 0;
        for &end in &self.ends[..nend] {
            let cell = self.out.get(from..end).unwrap_or_default();
            // Cells of a UTF-8 row are UTF-8: the parser only removes ASCII quotes.
            let text = std::str::from_utf8(cell).map_err(|e| DecodeError::Csv(e.to_string()))?;
            self.record.push_field(text);
            from = end;
        }
        Ok(&self.record)
    }
}

/// The CSV header: its cells, which must be UTF-8.
pub(crate) fn parse_header(row: &[u8]) -> Result<csv::StringRecord, String> {
    let text = std::str::from_utf8(row)
        .map_err(|e| format!("is not valid UTF-8 (first bad byte at column {})", e.valid_up_to() + 1))?;
    RowParser::default().parse(text).cloned().map_err(|e| e.to_string())
}

/// Decodes one row laid out as the header says.
pub(crate) fn decode_row(
    row: &[u8],
    layout: &CsvLayout,
    cells: usize,
    validator: &Validator,
    parser: &mut RowParser,
) -> Result<Event, DecodeError> {
    let text = std::str::from_utf8(row).map_err(|e| DecodeError::Utf8 { column: e.valid_up_to() + 1 })?;
    let record = parser.parse(text)?;
    if record.len() != cells {
        return Err(DecodeError::Csv(format!("the row has {} cells, the header has {cells}", record.len())));
    }
    decode_csv(layout, record, validator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &str, max: usize) -> Vec<(u64, Option<u64>, String)> {
        let mut lines = LineReader::new(input.as_bytes());
        let mut out = Vec::new();
        let mut all = Vec::new();
        while let Some(info) = read_row(&mut lines, &mut out, max).unwrap() {
            all.push((info.number, info.too_long, String::from_utf8(std::mem::take(&mut out)).unwrap()));
        }
        all
    }

    #[test]
    fn quoted_cells_may_span_lines() {
        let got = rows("a,\"x\ny\",b\nc,\"q\"\"\n\"\nd,e\"f\ng", 100);
        assert_eq!(got[0], (1, None, "a,\"x\ny\",b".into()));
        assert_eq!(got[1], (3, None, "c,\"q\"\"\n\"".into()));
        assert_eq!(got[2], (5, None, "d,e\"f".into()), "a quote inside an unquoted cell is literal");
        assert_eq!(got[3], (6, None, "g".into()));
    }

    #[test]
    fn an_unclosed_quote_stops_at_the_cap() {
        let input = format!("a,\"open\n{}\nnext\n", "z".repeat(3000));
        let got = rows(&input, 2000);
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1, Some(8 + 3000));
        assert_eq!(got[1], (3, None, "next".into()));
    }

    #[test]
    fn cells_are_unquoted() {
        let mut p = RowParser::default();
        let r = p.parse("a,\"b,c\",\"d\"\"e\",").unwrap();
        assert_eq!(r.iter().collect::<Vec<_>>(), ["a", "b,c", "d\"e", ""]);
        let long = "x".repeat(10_000);
        let r = p.parse(&format!("{long},{long}")).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.get(1).unwrap().len(), 10_000);
        assert_eq!(p.parse("").unwrap().len(), 0);
    }
}
