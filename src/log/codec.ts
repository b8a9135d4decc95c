/**
 * WAL records and how their payloads are encoded. A record is the same
 * `{ op, args }` the wire carries plus its LSN; a transaction is one record
 * holding all its ops, so it is replayed whole or not at all.
 *
 * The payload encoding is pluggable ({@linkcode WalCodec}) so that the engine
 * can bring the msgpack extensions its values need; the default is plain
 * msgpackr with maps for objects (no record extension), which any msgpack
 * reader can decode.
 *
 * @module
 */

// The plain ES entries (see the note in src/wire/codec.ts); for a browser
// bundle "msgpackr/pack" holds only the encoder, "msgpackr/unpack" the decoder.
import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";

/** One operation as the wire and the log carry it. */
export interface WalOp {
  /** The operation name, e.g. `"dict.set"`. */
  op: string;
  /** Its arguments; the first is the collection name. */
  args: unknown[];
}

/** A single logged write. */
export interface WalSingleRecord extends WalOp {
  /** Its log sequence number: one more than the record before it. */
  lsn: number;
}

/** A transaction: every op in it, logged as one record. */
export interface WalTxRecord {
  /** Its log sequence number: one more than the record before it. */
  lsn: number;
  /** The ops, in the order they ran. */
  ops: WalOp[];
}

/** What the log holds: single writes and transactions. */
export type WalRecord = WalSingleRecord | WalTxRecord;

/** Turns records into payload bytes and back. */
export interface WalCodec {
  /** Encodes one record; the result may be reused by the codec after the next call. */
  encode(record: WalRecord): Uint8Array;
  /** Decodes the payload `bytes[start, end)`; throws when it is not exactly one value. */
  decode(bytes: Uint8Array, start: number, end: number): unknown;
  /**
   * Optional fast path: writes the payload of the single write `{ lsn, op,
   * args }` into `target` from `at` — the same bytes `encode` gives that
   * record — and returns where it ends, or `-1` when it cannot (the value
   * needs the general encoder, or `target` is too short); the writer then
   * calls `encode`. Spares building the record and copying its bytes.
   */
  encodeOpInto?(target: Uint8Array, at: number, lsn: number, op: string, args: unknown[]): number;
  /**
   * Optional: told that the writer is done with `target`, the buffer it
   * gave `encodeOpInto` (it closed). A codec that keeps a reference to the
   * buffer it last wrote into lets it go.
   */
  release?(target: Uint8Array): void;
}

/** The part of msgpackr's `Packr` the codec uses. */
export interface MsgpackPacker {
  /** Encodes one value. */
  pack(value: unknown): Uint8Array;
}

/** The part of msgpackr's `Unpackr` the codec uses. */
export interface MsgpackUnpacker {
  /** Decodes exactly one value from `bytes[start, end)`. */
  unpack(bytes: Uint8Array, bounds: { start: number; end: number }): unknown;
}

/**
 * A msgpack codec over msgpackr. Pass your own `Packr`/`Unpackr` (with the
 * same options and extensions on both sides) to change how values encode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { msgpackCodec } from "./codec.ts";
 * const codec = msgpackCodec();
 * const bytes = codec.encode({ lsn: 1, op: "dict.set", args: ["d", "k", 1] });
 * assert.deepEqual(codec.decode(bytes, 0, bytes.length), { lsn: 1, op: "dict.set", args: ["d", "k", 1] });
 * ```
 */
export function msgpackCodec(options: { packr?: MsgpackPacker; unpackr?: MsgpackUnpacker } = {}): WalCodec {
  const packr: MsgpackPacker = options.packr ?? new Packr({ useRecords: false, variableMapSize: true });
  const unpackr: MsgpackUnpacker = options.unpackr ?? new Unpackr({ useRecords: false });
  // One reused bounds object: msgpackr reads it at once, so no allocation per record.
  const bounds = { start: 0, end: 0 };
  return {
    encode: (record) => packr.pack(record),
    decode(bytes, start, end) {
      bounds.start = start;
      bounds.end = end;
      return unpackr.unpack(bytes, bounds);
    },
  };
}

/**
 * Checks that a decoded payload has the shape of a record; returns the
 * reason when it has not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordProblem } from "./codec.ts";
 * assert.equal(recordProblem({ lsn: 1, op: "dict.set", args: [] }), null);
 * assert.match(recordProblem({ lsn: "1" }) ?? "", /lsn/); // what is wrong with it
 * ```
 */
export function recordProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return "payload is not a record";
  const r = value as Record<string, unknown>;
  if (typeof r.lsn !== "number" || !Number.isSafeInteger(r.lsn) || r.lsn < 0) {
    return "record has no valid lsn";
  }
  if (Array.isArray(r.ops)) {
    for (const op of r.ops) {
      if (!isOp(op)) return `transaction ${r.lsn} holds a malformed op`;
    }
    return null;
  }
  return isOp(r) ? null : `record ${r.lsn} has neither { op, args } nor ops`;
}

function isOp(v: unknown): boolean {
  return typeof v === "object" && v !== null && typeof (v as WalOp).op === "string" &&
    Array.isArray((v as WalOp).args);
}
