//! dupcall's exchange records as Parquet (`dupcall exchanges --format parquet`): the same
//! record fields as the JSON lines of [`super::records`], one column per field, out and in.
//!
//! Takes [`Exchange`]s and a [`Redactor`]; each exchange becomes a [`Rec`] through
//! [`records::to_rec`] — the records' one redaction path — and its fields become columns
//! (`conn`, `client`, `wire_nth`, `logged_producer`, `request_method`, `request_headers`, …:
//! the JSON member paths joined by `_`). The file is Snappy-compressed, written in row
//! groups of at most [`ROW_GROUP_ROWS`] rows or about [`ROW_GROUP_BYTES`] bytes (bounded
//! memory however many exchanges), and says `dupcall-exchange/1` under the key-value
//! metadata key `record`. [`read_parquet`] reads it back row group by row group and gives
//! the exchanges the JSON lines would give. docs/scale.md shows the columns in a query.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, ListBuilder, StringBuilder, StructBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::records::{self, Rec, RecLogged, RecMsg, RecWire, RecordError, RecordSummary, VERSION};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Exchange, InputId};
use crate::redact::Redactor;

/// The key-value metadata key holding the record version.
pub const VERSION_KEY: &str = "record";
/// Rows per row group at most.
pub const ROW_GROUP_ROWS: usize = 1 << 17;
/// A row group is closed once the writer buffers about this many bytes.
pub const ROW_GROUP_BYTES: usize = 64 << 20;
/// Rows handed to the Parquet writer (and read back) at a time.
const BATCH_ROWS: usize = 4096;
/// ...or fewer, once their strings reach this many bytes.
const BATCH_BYTES: usize = 8 << 20;

/// The columns of one message (`request_*` or `response_*`).
struct MsgCols {
    time: StringBuilder,
    ts: Int64Builder,
    end_ts: Int64Builder,
    origin_kind: StringBuilder,
    origin: UInt64Builder,
    end_origin_kind: StringBuilder,
    end_origin: UInt64Builder,
    method: StringBuilder,
    uri: StringBuilder,
    status: UInt16Builder,
    version: UInt8Builder,
    headers: ListBuilder<StructBuilder>,
    body: StringBuilder,
    len: UInt64Builder,
    missing: UInt64Builder,
    capped: BooleanBuilder,
}

fn header_fields() -> Vec<Field> {
    vec![Field::new("name", DataType::Utf8, false), Field::new("value", DataType::Utf8, false)]
}

impl MsgCols {
    fn new() -> Self {
        let header = StructBuilder::from_fields(header_fields(), 0);
        let item = Field::new("item", DataType::Struct(header_fields().into()), false);
        MsgCols {
            time: StringBuilder::new(),
            ts: Int64Builder::new(),
            end_ts: Int64Builder::new(),
            origin_kind: StringBuilder::new(),
            origin: UInt64Builder::new(),
            end_origin_kind: StringBuilder::new(),
            end_origin: UInt64Builder::new(),
            method: StringBuilder::new(),
            uri: StringBuilder::new(),
            status: UInt16Builder::new(),
            version: UInt8Builder::new(),
            headers: ListBuilder::new(header).with_field(Arc::new(item)),
            body: StringBuilder::new(),
            len: UInt64Builder::new(),
            missing: UInt64Builder::new(),
            capped: BooleanBuilder::new(),
        }
    }

    /// Appends `m` (a null row for none); gives the bytes of its strings.
    fn push(&mut self, m: Option<&RecMsg>) -> usize {
        let Some(m) = m else {
            self.time.append_null();
            self.ts.append_null();
            self.end_ts.append_null();
            self.origin_kind.append_null();
            self.origin.append_null();
            self.end_origin_kind.append_null();
            self.end_origin.append_null();
            self.method.append_null();
            self.uri.append_null();
            self.status.append_null();
            self.version.append_null();
            self.headers.append_null();
            self.body.append_null();
            self.len.append_null();
            self.missing.append_null();
            self.capped.append_null();
            return 0;
        };
        let RecMsg {
            time,
            ts,
            end_ts,
            origin,
            end_origin,
            method,
            uri,
            status,
            version,
            headers,
            body,
            len,
            missing,
            capped,
        } = m;
        self.time.append_value(time);
        self.ts.append_value(*ts);
        self.end_ts.append_value(*end_ts);
        self.origin_kind.append_value(origin.0.encode_utf8(&mut [0; 4]));
        self.origin.append_value(origin.1);
        self.end_origin_kind.append_value(end_origin.0.encode_utf8(&mut [0; 4]));
        self.end_origin.append_value(end_origin.1);
        self.method.append_value(method);
        self.uri.append_value(uri);
        self.status.append_value(*status);
        self.version.append_value(*version);
        let list = self.headers.values();
        let mut bytes = time.len() + method.len() + uri.len() + body.len();
        for (n, v) in headers {
            bytes += n.len() + v.len();
            string_field(list, 0).append_value(n);
            string_field(list, 1).append_value(v);
            list.append(true);
        }
        self.headers.append(true);
        self.body.append_value(body);
        self.len.append_value(*len);
        self.missing.append_value(*missing);
        self.capped.append_value(*capped);
        bytes
    }

    fn finish(&mut self, prefix: &str, out: &mut Vec<(String, ArrayRef)>) {
        let mut col = |name: &str, a: ArrayRef| out.push((format!("{prefix}_{name}"), a));
        col("time", Arc::new(self.time.finish()));
        col("ts", Arc::new(self.ts.finish()));
        col("end_ts", Arc::new(self.end_ts.finish()));
        col("origin_kind", Arc::new(self.origin_kind.finish()));
        col("origin", Arc::new(self.origin.finish()));
        col("end_origin_kind", Arc::new(self.end_origin_kind.finish()));
        col("end_origin", Arc::new(self.end_origin.finish()));
        col("method", Arc::new(self.method.finish()));
        col("uri", Arc::new(self.uri.finish()));
        col("status", Arc::new(self.status.finish()));
        col("version", Arc::new(self.version.finish()));
        col("headers", Arc::new(self.headers.finish()));
        col("body", Arc::new(self.body.finish()));
        col("len", Arc::new(self.len.finish()));
        col("missing", Arc::new(self.missing.finish()));
        col("capped", Arc::new(self.capped.finish()));
    }
}

fn string_field(s: &mut StructBuilder, i: usize) -> &mut StringBuilder {
    s.field_builder::<StringBuilder>(i).expect("header fields are strings")
}

/// Every column of a batch of records being built. A field added to [`Rec`] (or its parts)
/// stops this from compiling until it has a column here and in [`rec_at`]: the destructuring
/// below names every field.
struct Cols {
    input: UInt32Builder,
    conn: UInt64Builder,
    client: StringBuilder,
    server: StringBuilder,
    flags: UInt16Builder,
    interim: ListBuilder<UInt16Builder>,
    wire_nth: UInt32Builder,
    wire_client_closed_at: Int64Builder,
    wire_client_closed_rst: BooleanBuilder,
    wire_server_closed_at: Int64Builder,
    wire_server_closed_rst: BooleanBuilder,
    wire_capture_ended: BooleanBuilder,
    wire_tls: UInt16Builder,
    wire_h2_stream: UInt32Builder,
    wire_refused_at: Int64Builder,
    wire_refused_last_stream: UInt32Builder,
    logged_body: BooleanBuilder,
    logged_request_length: UInt64Builder,
    logged_connection: UInt64Builder,
    logged_connection_requests: UInt32Builder,
    logged_upstream_addr: StringBuilder,
    logged_upstream_status: StringBuilder,
    logged_client_aborted: BooleanBuilder,
    logged_producer: StringBuilder,
    logged_initiator: UInt64Builder,
    request: MsgCols,
    response: MsgCols,
    rows: usize,
    bytes: usize,
}

impl Cols {
    fn new() -> Self {
        let item = Field::new("item", DataType::UInt16, false);
        Cols {
            input: UInt32Builder::new(),
            conn: UInt64Builder::new(),
            client: StringBuilder::new(),
            server: StringBuilder::new(),
            flags: UInt16Builder::new(),
            interim: ListBuilder::new(UInt16Builder::new()).with_field(Arc::new(item)),
            wire_nth: UInt32Builder::new(),
            wire_client_closed_at: Int64Builder::new(),
            wire_client_closed_rst: BooleanBuilder::new(),
            wire_server_closed_at: Int64Builder::new(),
            wire_server_closed_rst: BooleanBuilder::new(),
            wire_capture_ended: BooleanBuilder::new(),
            wire_tls: UInt16Builder::new(),
            wire_h2_stream: UInt32Builder::new(),
            wire_refused_at: Int64Builder::new(),
            wire_refused_last_stream: UInt32Builder::new(),
            logged_body: BooleanBuilder::new(),
            logged_request_length: UInt64Builder::new(),
            logged_connection: UInt64Builder::new(),
            logged_connection_requests: UInt32Builder::new(),
            logged_upstream_addr: StringBuilder::new(),
            logged_upstream_status: StringBuilder::new(),
            logged_client_aborted: BooleanBuilder::new(),
            logged_producer: StringBuilder::new(),
            logged_initiator: UInt64Builder::new(),
            request: MsgCols::new(),
            response: MsgCols::new(),
            rows: 0,
            bytes: 0,
        }
    }

    fn push(&mut self, rec: &Rec) {
        let Rec { record: _, input, conn, client, server, flags, interim, wire, logged, request, response } =
            rec;
        self.input.append_value(*input);
        self.conn.append_value(*conn);
        self.client.append_value(client.to_string());
        self.server.append_value(server.to_string());
        self.flags.append_value(*flags);
        self.interim.append_value(interim.iter().map(|&s| Some(s)));
        self.push_wire(wire);
        self.push_logged(logged.as_ref());
        self.bytes += self.request.push(request.as_ref()) + self.response.push(response.as_ref()) + 64;
        self.rows += 1;
    }

    fn push_wire(&mut self, w: &RecWire) {
        let RecWire { nth, client_closed, server_closed, capture_ended, tls, h2_stream, refused } = w;
        self.wire_nth.append_value(*nth);
        self.wire_client_closed_at.append_option(client_closed.map(|c| c.0));
        self.wire_client_closed_rst.append_option(client_closed.map(|c| c.1));
        self.wire_server_closed_at.append_option(server_closed.map(|c| c.0));
        self.wire_server_closed_rst.append_option(server_closed.map(|c| c.1));
        self.wire_capture_ended.append_value(*capture_ended);
        self.wire_tls.append_option(*tls);
        self.wire_h2_stream.append_value(*h2_stream);
        self.wire_refused_at.append_option(refused.map(|r| r.0));
        self.wire_refused_last_stream.append_option(refused.and_then(|r| r.1));
    }

    /// `logged_body` is null exactly when the exchange has no log facts.
    fn push_logged(&mut self, l: Option<&RecLogged>) {
        let empty = RecLogged::default();
        let RecLogged {
            body,
            request_length,
            connection,
            connection_requests,
            upstream_addr,
            upstream_status,
            client_aborted,
            producer,
            initiator,
        } = l.unwrap_or(&empty);
        let some = l.is_some();
        self.logged_body.append_option(some.then_some(*body));
        self.logged_request_length.append_option(*request_length);
        self.logged_connection.append_option(*connection);
        self.logged_connection_requests.append_option(*connection_requests);
        self.logged_upstream_addr.append_option(upstream_addr.as_deref());
        self.logged_upstream_status.append_option(upstream_status.as_deref());
        self.logged_client_aborted.append_option(some.then_some(*client_aborted));
        self.logged_producer.append_option(producer.as_deref());
        self.logged_initiator.append_option(*initiator);
    }

    /// The rows so far as named columns; the builders start empty again.
    fn finish(&mut self) -> Vec<(String, ArrayRef)> {
        let mut out: Vec<(String, ArrayRef)> = Vec::with_capacity(64);
        let mut col = |name: &str, a: ArrayRef| out.push((name.to_string(), a));
        col("input", Arc::new(self.input.finish()));
        col("conn", Arc::new(self.conn.finish()));
        col("client", Arc::new(self.client.finish()));
        col("server", Arc::new(self.server.finish()));
        col("flags", Arc::new(self.flags.finish()));
        col("interim", Arc::new(self.interim.finish()));
        col("wire_nth", Arc::new(self.wire_nth.finish()));
        col("wire_client_closed_at", Arc::new(self.wire_client_closed_at.finish()));
        col("wire_client_closed_rst", Arc::new(self.wire_client_closed_rst.finish()));
        col("wire_server_closed_at", Arc::new(self.wire_server_closed_at.finish()));
        col("wire_server_closed_rst", Arc::new(self.wire_server_closed_rst.finish()));
        col("wire_capture_ended", Arc::new(self.wire_capture_ended.finish()));
        col("wire_tls", Arc::new(self.wire_tls.finish()));
        col("wire_h2_stream", Arc::new(self.wire_h2_stream.finish()));
        col("wire_refused_at", Arc::new(self.wire_refused_at.finish()));
        col("wire_refused_last_stream", Arc::new(self.wire_refused_last_stream.finish()));
        col("logged_body", Arc::new(self.logged_body.finish()));
        col("logged_request_length", Arc::new(self.logged_request_length.finish()));
        col("logged_connection", Arc::new(self.logged_connection.finish()));
        col("logged_connection_requests", Arc::new(self.logged_connection_requests.finish()));
        col("logged_upstream_addr", Arc::new(self.logged_upstream_addr.finish()));
        col("logged_upstream_status", Arc::new(self.logged_upstream_status.finish()));
        col("logged_client_aborted", Arc::new(self.logged_client_aborted.finish()));
        col("logged_producer", Arc::new(self.logged_producer.finish()));
        col("logged_initiator", Arc::new(self.logged_initiator.finish()));
        self.request.finish("request", &mut out);
        self.response.finish("response", &mut out);
        self.rows = 0;
        self.bytes = 0;
        out
    }
}

/// The schema: every column nullable, types from the builders.
fn schema() -> SchemaRef {
    let fields: Vec<Field> =
        Cols::new().finish().into_iter().map(|(n, a)| Field::new(n, a.data_type().clone(), true)).collect();
    Arc::new(Schema::new(fields))
}

/// Writes exchanges as a Parquet file of records.
pub struct ParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    cols: Cols,
    written: u64,
}

impl<W: Write + Send> ParquetWriter<W> {
    /// Starts the file on `out` (which need not seek: a pipe will do).
    pub fn new(out: W) -> Result<Self, RecordError> {
        let schema = schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(vec![KeyValue::new(VERSION_KEY.to_string(), VERSION.to_string())]))
            .set_created_by(format!("dupcall {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
        Ok(ParquetWriter { writer, schema, cols: Cols::new(), written: 0 })
    }

    /// Adds `ex`, redacted by `r`.
    pub fn write(&mut self, ex: &Exchange, r: &Redactor) -> Result<(), RecordError> {
        self.cols.push(&records::to_rec(ex, r));
        self.written += 1;
        if self.cols.rows >= BATCH_ROWS || self.cols.bytes >= BATCH_BYTES {
            self.batch()?;
        }
        Ok(())
    }

    fn batch(&mut self) -> Result<(), RecordError> {
        let columns = self.cols.finish().into_iter().map(|(_, a)| a).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.writer.write(&batch)?;
        if self.writer.in_progress_size() >= ROW_GROUP_BYTES {
            self.writer.flush()?;
        }
        Ok(())
    }

    /// Writes what is left and the footer; gives the number of records.
    pub fn finish(mut self) -> Result<u64, RecordError> {
        if self.cols.rows > 0 {
            self.batch()?;
        }
        self.writer.into_inner()?.flush()?;
        Ok(self.written)
    }
}

/// Does `p` start like a Parquet file (`PAR1`)?
pub fn is_parquet(p: &[u8]) -> bool {
    p.starts_with(b"PAR1")
}

/// A spooled copy of a Parquet input that is not a plain file (stdin, gzip): Parquet's
/// index is at its end, so the reader needs to seek. The copy is unlinked at once.
pub fn spool(mut from: impl Read) -> Result<File, RecordError> {
    let dir = std::env::temp_dir();
    let nonce =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("dupcall-{}-{nonce}.parquet", std::process::id()));
    let mut f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    let _ = std::fs::remove_file(&path);
    std::io::copy(&mut from, &mut f)?;
    f.rewind()?;
    Ok(f)
}

/// Reads a Parquet file of records row group by row group, emitting exchanges in file
/// order (records are written in time order).
pub fn read_parquet(
    file: File,
    input: InputId,
    diag: &mut Diagnostics,
    emit: &mut dyn FnMut(Exchange),
) -> Result<RecordSummary, RecordError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let version = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == VERSION_KEY))
        .and_then(|k| k.value.clone());
    match version.as_deref() {
        Some(VERSION) => {}
        Some(v) => return Err(RecordError::NotRecords(format!("a Parquet file of records {v:?}"))),
        None => {
            let why = format!("a Parquet file without the key-value metadata {VERSION_KEY:?}");
            return Err(RecordError::NotRecords(why));
        }
    }
    let reader = builder.with_batch_size(BATCH_ROWS).build()?;
    let mut s = RecordSummary::default();
    for batch in reader {
        let batch = batch?;
        let view = View::new(&batch)?;
        for i in 0..batch.num_rows() {
            s.lines += 1;
            match view.rec(i) {
                Ok(rec) => {
                    let ex = records::exchange(rec, input);
                    s.saw(ex.time());
                    emit(ex);
                }
                Err(why) => {
                    s.skipped += 1;
                    let detail = format!("Parquet row {}: {why}: skipped", s.lines);
                    diag.warn(WarningKind::MalformedLogLine, input, None, None, detail);
                }
            }
        }
    }
    Ok(s)
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, RecordError> {
    b.column_by_name(name).ok_or_else(|| RecordError::NotRecords(format!("no column {name:?}")))
}

fn prim<'a, T: ArrowPrimitiveType>(
    b: &'a RecordBatch,
    name: &str,
) -> Result<&'a PrimitiveArray<T>, RecordError> {
    let c = column(b, name)?;
    c.as_primitive_opt::<T>().ok_or_else(|| wrong_type(name, c))
}

fn strs<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray, RecordError> {
    let c = column(b, name)?;
    c.as_string_opt::<i32>().ok_or_else(|| wrong_type(name, c))
}

fn bools<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a BooleanArray, RecordError> {
    let c = column(b, name)?;
    c.as_boolean_opt().ok_or_else(|| wrong_type(name, c))
}

fn wrong_type(name: &str, c: &ArrayRef) -> RecordError {
    RecordError::NotRecords(format!("column {name:?} is {}", c.data_type()))
}

fn opt<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, i: usize) -> Option<T::Native> {
    a.is_valid(i).then(|| a.value(i))
}

fn opt_bool(a: &BooleanArray, i: usize) -> Option<bool> {
    a.is_valid(i).then(|| a.value(i))
}

fn opt_str(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn char_at(a: &StringArray, i: usize) -> char {
    a.value(i).chars().next().unwrap_or('f')
}

/// The columns of one message, typed.
struct MsgView<'a> {
    time: &'a StringArray,
    ts: &'a PrimitiveArray<Int64Type>,
    end_ts: &'a PrimitiveArray<Int64Type>,
    origin_kind: &'a StringArray,
    origin: &'a PrimitiveArray<UInt64Type>,
    end_origin_kind: &'a StringArray,
    end_origin: &'a PrimitiveArray<UInt64Type>,
    method: &'a StringArray,
    uri: &'a StringArray,
    status: &'a PrimitiveArray<UInt16Type>,
    version: &'a PrimitiveArray<UInt8Type>,
    headers: &'a arrow_array::ListArray,
    header_names: &'a StringArray,
    header_values: &'a StringArray,
    body: &'a StringArray,
    len: &'a PrimitiveArray<UInt64Type>,
    missing: &'a PrimitiveArray<UInt64Type>,
    capped: &'a BooleanArray,
}

impl<'a> MsgView<'a> {
    fn new(b: &'a RecordBatch, prefix: &str) -> Result<Self, RecordError> {
        let n = |s: &str| format!("{prefix}_{s}");
        let hname = n("headers");
        let hcol = column(b, &hname)?;
        let headers = hcol.as_list_opt::<i32>().ok_or_else(|| wrong_type(&hname, hcol))?;
        let items = headers.values().as_struct_opt().ok_or_else(|| wrong_type(&hname, hcol))?;
        let field = |i: usize| {
            items
                .columns()
                .get(i)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| wrong_type(&hname, hcol))
        };
        Ok(MsgView {
            time: strs(b, &n("time"))?,
            ts: prim(b, &n("ts"))?,
            end_ts: prim(b, &n("end_ts"))?,
            origin_kind: strs(b, &n("origin_kind"))?,
            origin: prim(b, &n("origin"))?,
            end_origin_kind: strs(b, &n("end_origin_kind"))?,
            end_origin: prim(b, &n("end_origin"))?,
            method: strs(b, &n("method"))?,
            uri: strs(b, &n("uri"))?,
            status: prim(b, &n("status"))?,
            version: prim(b, &n("version"))?,
            headers,
            header_names: field(0)?,
            header_values: field(1)?,
            body: strs(b, &n("body"))?,
            len: prim(b, &n("len"))?,
            missing: prim(b, &n("missing"))?,
            capped: bools(b, &n("capped"))?,
        })
    }

    fn msg(&self, i: usize) -> Option<RecMsg> {
        if self.ts.is_null(i) {
            return None;
        }
        let offsets = self.headers.value_offsets();
        let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
        let headers = (from..to)
            .map(|h| (self.header_names.value(h).to_string(), self.header_values.value(h).to_string()))
            .collect();
        Some(RecMsg {
            time: self.time.value(i).to_string(),
            ts: self.ts.value(i),
            end_ts: self.end_ts.value(i),
            origin: (char_at(self.origin_kind, i), self.origin.value(i)),
            end_origin: (char_at(self.end_origin_kind, i), self.end_origin.value(i)),
            method: opt_str(self.method, i).unwrap_or_default(),
            uri: opt_str(self.uri, i).unwrap_or_default(),
            status: self.status.value(i),
            version: self.version.value(i),
            headers,
            body: self.body.value(i).to_string(),
            len: self.len.value(i),
            missing: self.missing.value(i),
            capped: self.capped.value(i),
        })
    }
}

/// The columns of a batch, typed: checked once per batch, read per row.
struct View<'a> {
    input: &'a PrimitiveArray<UInt32Type>,
    conn: &'a PrimitiveArray<UInt64Type>,
    client: &'a StringArray,
    server: &'a StringArray,
    flags: &'a PrimitiveArray<UInt16Type>,
    interim: &'a arrow_array::ListArray,
    interim_values: &'a PrimitiveArray<UInt16Type>,
    nth: &'a PrimitiveArray<UInt32Type>,
    client_closed_at: &'a PrimitiveArray<Int64Type>,
    client_closed_rst: &'a BooleanArray,
    server_closed_at: &'a PrimitiveArray<Int64Type>,
    server_closed_rst: &'a BooleanArray,
    capture_ended: &'a BooleanArray,
    tls: &'a PrimitiveArray<UInt16Type>,
    h2_stream: &'a PrimitiveArray<UInt32Type>,
    refused_at: &'a PrimitiveArray<Int64Type>,
    refused_last_stream: &'a PrimitiveArray<UInt32Type>,
    logged: LoggedView<'a>,
    request: MsgView<'a>,
    response: MsgView<'a>,
}

/// The `logged_*` columns, typed.
struct LoggedView<'a> {
    body: &'a BooleanArray,
    request_length: &'a PrimitiveArray<UInt64Type>,
    connection: &'a PrimitiveArray<UInt64Type>,
    connection_requests: &'a PrimitiveArray<UInt32Type>,
    upstream_addr: &'a StringArray,
    upstream_status: &'a StringArray,
    client_aborted: &'a BooleanArray,
    producer: &'a StringArray,
    initiator: &'a PrimitiveArray<UInt64Type>,
}

impl<'a> LoggedView<'a> {
    fn new(b: &'a RecordBatch) -> Result<Self, RecordError> {
        Ok(LoggedView {
            body: bools(b, "logged_body")?,
            request_length: prim(b, "logged_request_length")?,
            connection: prim(b, "logged_connection")?,
            connection_requests: prim(b, "logged_connection_requests")?,
            upstream_addr: strs(b, "logged_upstream_addr")?,
            upstream_status: strs(b, "logged_upstream_status")?,
            client_aborted: bools(b, "logged_client_aborted")?,
            producer: strs(b, "logged_producer")?,
            initiator: prim(b, "logged_initiator")?,
        })
    }

    fn logged(&self, i: usize) -> Option<RecLogged> {
        Some(RecLogged {
            body: opt_bool(self.body, i)?,
            request_length: opt(self.request_length, i),
            connection: opt(self.connection, i),
            connection_requests: opt(self.connection_requests, i),
            upstream_addr: opt_str(self.upstream_addr, i),
            upstream_status: opt_str(self.upstream_status, i),
            client_aborted: opt_bool(self.client_aborted, i).unwrap_or(false),
            producer: opt_str(self.producer, i),
            initiator: opt(self.initiator, i),
        })
    }
}

impl<'a> View<'a> {
    fn new(b: &'a RecordBatch) -> Result<Self, RecordError> {
        let icol = column(b, "interim")?;
        let interim = icol.as_list_opt::<i32>().ok_or_else(|| wrong_type("interim", icol))?;
        let interim_values =
            interim.values().as_primitive_opt::<UInt16Type>().ok_or_else(|| wrong_type("interim", icol))?;
        Ok(View {
            input: prim(b, "input")?,
            conn: prim(b, "conn")?,
            client: strs(b, "client")?,
            server: strs(b, "server")?,
            flags: prim(b, "flags")?,
            interim,
            interim_values,
            nth: prim(b, "wire_nth")?,
            client_closed_at: prim(b, "wire_client_closed_at")?,
            client_closed_rst: bools(b, "wire_client_closed_rst")?,
            server_closed_at: prim(b, "wire_server_closed_at")?,
            server_closed_rst: bools(b, "wire_server_closed_rst")?,
            capture_ended: bools(b, "wire_capture_ended")?,
            tls: prim(b, "wire_tls")?,
            h2_stream: prim(b, "wire_h2_stream")?,
            refused_at: prim(b, "wire_refused_at")?,
            refused_last_stream: prim(b, "wire_refused_last_stream")?,
            logged: LoggedView::new(b)?,
            request: MsgView::new(b, "request")?,
            response: MsgView::new(b, "response")?,
        })
    }

    /// Row `i` as a record, or why it is not one.
    fn rec(&self, i: usize) -> Result<Rec, String> {
        for (name, c) in self.required() {
            if c.is_null(i) {
                return Err(format!("no {name}"));
            }
        }
        let addr = |a: &StringArray| {
            a.value(i)
                .parse::<std::net::SocketAddr>()
                .map_err(|_| format!("{:?} is not an address", a.value(i)))
        };
        let closed = |at: &PrimitiveArray<Int64Type>, rst: &BooleanArray| {
            opt(at, i).map(|at| (at, opt_bool(rst, i).unwrap_or(false)))
        };
        let offsets = self.interim.value_offsets();
        let interim = self.interim_values.values()[offsets[i] as usize..offsets[i + 1] as usize].to_vec();
        Ok(Rec {
            record: String::new(),
            input: self.input.value(i),
            conn: self.conn.value(i),
            client: addr(self.client)?,
            server: addr(self.server)?,
            flags: self.flags.value(i),
            interim,
            wire: RecWire {
                nth: self.nth.value(i),
                client_closed: closed(self.client_closed_at, self.client_closed_rst),
                server_closed: closed(self.server_closed_at, self.server_closed_rst),
                capture_ended: self.capture_ended.value(i),
                tls: opt(self.tls, i),
                h2_stream: self.h2_stream.value(i),
                refused: opt(self.refused_at, i).map(|at| (at, opt(self.refused_last_stream, i))),
            },
            logged: self.logged.logged(i),
            request: self.request.msg(i),
            response: self.response.msg(i),
        })
    }

    /// The columns a record cannot lack.
    fn required(&self) -> [(&'static str, &dyn Array); 8] {
        [
            ("input", self.input),
            ("conn", self.conn),
            ("client", self.client),
            ("server", self.server),
            ("flags", self.flags),
            ("wire_nth", self.nth),
            ("wire_capture_ended", self.capture_ended),
            ("wire_h2_stream", self.h2_stream),
        ]
    }
}
