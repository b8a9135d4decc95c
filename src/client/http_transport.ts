/**
 * The fetch transport: `POST /v1/rpc` with MessagePack bodies. Calls made in
 * the same tick are coalesced into one pipelined request (an array of
 * `{ op, args }`), answered in order, so `Promise.all` of many calls costs
 * one round trip. Each request is independent: nothing to reconnect.
 * A streamed call is a request of its own with `X-CyberDB-Stream`, its
 * body read frame by frame as the caller's loop asks for batches.
 *
 * @module
 */

import { arrayHeader, decode, encode } from "../wire/codec.ts";
import { ClosedError, ConnectionError, CyberDBError } from "../errors.ts";
import { FrameSplitter } from "./stream.ts";
import { checkSize, Pending, type Transport, type TransportOptions, unwrap } from "./transport.ts";
import { authorizationHeader, MSGPACK, MSGPACK_STREAM, STREAM_HEADER, type WireCall } from "../wire/protocol.ts";
import type { Check } from "../core/entry.ts";
import {
  eventStreamChannel,
  eventStreamUrl,
  type RemoteWatchOptions,
  type WatchChannel,
  type WatchQueue,
  type WatchRequest,
} from "./watch.ts";

interface Queued {
  op: string;
  bytes: Uint8Array;
  pending: Pending;
}

function decodeReply(bytes: Uint8Array, status: number): unknown {
  try {
    return decode(bytes);
  } catch {
    throw new ConnectionError(`The server answered ${status} with a body that is not MessagePack: check the URL`);
  }
}

/**
 * Calls over HTTP with automatic pipelining of concurrent calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, startServer } from "../../server.ts";
 * import { HttpTransport } from "./http_transport.ts";
 * const server = await startServer(parseConfig(["--memory", "--port=0"], {}));
 * server.db.createDict("d", [[1, "a"], [2, "b"]]);
 * const t = new HttpTransport(server.url, { timeout: 30_000, maxRequestBytes: 1 << 26 });
 * await t.ready();
 * const both = await Promise.all([t.call("dict.get", ["d", 1]), t.call("dict.get", ["d", 2])]); // one request
 * assert.deepEqual(both, ["a", "b"]);
 * await t.close();
 * await server.close();
 * ```
 */
export class HttpTransport implements Transport {
  readonly kind = "http" as const;
  #base: string;
  #o: TransportOptions;
  #queue: Queued[] = [];
  #scheduled = false;
  #closed = false;
  #limit: number;
  #inflight = new Set<AbortController>();
  #watches = new Set<WatchQueue>();

  /** A transport for the server at `base` (`http(s)://host:port[/prefix]`). */
  constructor(base: string, options: TransportOptions) {
    this.#base = base.replace(/\/+$/, "");
    this.#o = options;
    this.#limit = options.maxRequestBytes;
  }

  async ready(): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}/health`, { signal: AbortSignal.timeout(this.#o.timeout) });
    } catch (e) {
      throw new ConnectionError(
        `Could not reach ${this.#base}: ${e instanceof Error ? e.message : String(e)}; is the server running?`,
      );
    }
    const health = await res.json().catch(() => null) as { ok?: unknown; maxRequestBytes?: unknown } | null;
    if (!res.ok || health?.ok !== true) {
      throw new ConnectionError(
        `${this.#base}/health answered ${res.status}: check that the URL points at a CyberDB server`,
      );
    }
    if (typeof health.maxRequestBytes === "number") this.#limit = Math.min(this.#limit, health.maxRequestBytes);
    // An empty pipeline checks the password and does nothing else.
    const reply = await this.#post(encode([]), this.#o.timeout);
    if (!Array.isArray(reply)) unwrap(reply);
  }

  #headers(): Record<string, string> {
    const h: Record<string, string> = { "content-type": MSGPACK, accept: MSGPACK };
    // Bearer for printable ASCII, Basic with UTF-8 bytes for any other password.
    if (this.#o.password !== undefined) h.authorization = authorizationHeader(this.#o.password);
    return h;
  }

  /** Posts a body; returns the decoded reply, or throws for transport-level failures. */
  async #post(body: Uint8Array, timeout: number, controller = new AbortController()): Promise<unknown> {
    if (this.#closed) throw new ClosedError("The client is closed: connect() again");
    this.#inflight.add(controller);
    const timer = setTimeout(() => controller.abort(), Math.max(timeout, 1) + 50);
    try {
      let req: Request;
      try {
        req = new Request(`${this.#base}/v1/rpc`, {
          method: "POST",
          headers: this.#headers(),
          body: body as Uint8Array<ArrayBuffer>,
          signal: controller.signal,
        });
      } catch (e) {
        // Nothing left this process: say so, rather than "may have been applied".
        throw new ConnectionError(
          `The request to ${this.#base}/v1/rpc could not be made, so nothing was sent or applied: ${
            e instanceof Error ? e.message : String(e)
          }`,
        );
      }
      let res: Response;
      try {
        res = await fetch(req);
      } catch (e) {
        if (this.#closed) throw new ClosedError("The client was closed before the reply arrived");
        throw new ConnectionError(
          `POST ${this.#base}/v1/rpc failed: ${
            e instanceof Error ? e.message : String(e)
          }; it may or may not have been applied`,
        );
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      let reply: unknown;
      try {
        reply = decode(bytes);
      } catch {
        throw new ConnectionError(
          `The server answered ${res.status} with a body that is not MessagePack: check the URL`,
        );
      }
      return reply;
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(controller);
    }
  }

  call(op: string, args: unknown[], timeout = this.#o.timeout): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClosedError("The client is closed: connect() again"));
    const bytes = encode({ op, args });
    checkSize(op, bytes, this.#limit);
    const pending = new Pending(op, timeout, () => {});
    this.#queue.push({ op, bytes, pending });
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return pending.promise;
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    // Split the tick's calls into requests under the size limit.
    let batch: Queued[] = [];
    let size = 5;
    for (const q of queue) {
      if (batch.length > 0 && size + q.bytes.byteLength > this.#limit) {
        this.#sendBatch(batch);
        batch = [];
        size = 5;
      }
      batch.push(q);
      size += q.bytes.byteLength;
    }
    if (batch.length > 0) this.#sendBatch(batch);
  }

  async #sendBatch(batch: Queued[]): Promise<void> {
    const single = batch.length === 1;
    let body: Uint8Array;
    if (single) {
      body = batch[0].bytes;
    } else {
      const header = arrayHeader(batch.length);
      body = new Uint8Array(header.byteLength + batch.reduce((n, q) => n + q.bytes.byteLength, 0));
      body.set(header, 0);
      let at = header.byteLength;
      for (const q of batch) {
        body.set(q.bytes, at);
        at += q.bytes.byteLength;
      }
    }
    const controller = new AbortController();
    // Abort once every call of the batch has given up waiting.
    const timeout = this.#o.timeout;
    for (const q of batch) {
      q.pending.promise.catch(() => {}).finally(() => {
        if (batch.every((b) => b.pending.done)) controller.abort();
      });
    }
    try {
      const reply = await this.#post(body, timeout, controller);
      if (single) {
        batch[0].pending.settle(reply);
      } else if (Array.isArray(reply) && reply.length === batch.length) {
        batch.forEach((q, i) => q.pending.settle(reply[i]));
      } else {
        // The whole pipeline was refused (size, format): every call gets that error.
        try {
          unwrap(reply);
          throw new ConnectionError(
            "The server answered a pipeline with a reply of the wrong length: check the server version",
          );
        } catch (e) {
          for (const q of batch) q.pending.reject(e);
        }
      }
    } catch (e) {
      for (const q of batch) q.pending.reject(e);
    }
  }

  stream(op: string, args: unknown[], batchRows: number, timeout = this.#o.timeout): AsyncIterableIterator<unknown> {
    if (this.#closed) throw new ClosedError("The client is closed: connect() again");
    const bytes = encode({ op, args });
    checkSize(op, bytes, this.#limit);
    // Calls made earlier in this tick go out first, and are answered before
    // this request is sent, so it sees their effects as a pipeline would.
    const before = this.#queue.map((q) => q.pending.promise.then(() => {}, () => {}));
    if (before.length > 0) this.#flush();
    const controller = new AbortController();
    this.#inflight.add(controller);
    const headers = { ...this.#headers(), [STREAM_HEADER]: String(batchRows) };
    const url = `${this.#base}/v1/rpc`;
    const started = (before.length > 0 ? Promise.all(before) : Promise.resolve()).then(() => {
      if (controller.signal.aborted) throw new ClosedError("The client was closed before the request was sent");
      return fetch(url, { method: "POST", headers, body: bytes as Uint8Array<ArrayBuffer>, signal: controller.signal });
    });
    started.catch(() => {}); // read (and reported) by the loop below
    return this.#frames(op, started, controller, timeout);
  }

  /** The batches of a streamed answer, read from the body as the loop asks for them. */
  async *#frames(
    op: string,
    started: Promise<Response>,
    controller: AbortController,
    timeout: number,
  ): AsyncGenerator<unknown, void, undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    let complete = false;
    // The timeout bounds each wait for the server, not the time the loop spends on a batch.
    const wait = async <T>(p: Promise<T>): Promise<T> => {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, Math.max(timeout, 1));
      try {
        return await p;
      } catch (e) {
        if (timedOut) {
          throw new ConnectionError(
            `No reply to ${op} within ${timeout} ms: the server is slow or unreachable; raise the timeout option or retry`,
          );
        }
        if (this.#closed) throw new ClosedError(`The client was closed before the reply to ${op} arrived`);
        if (e instanceof CyberDBError) throw e;
        throw new ConnectionError(
          `POST ${this.#base}/v1/rpc (${op}) failed: ${
            e instanceof Error ? e.message : String(e)
          }; it may or may not have been applied`,
        );
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      const res = await wait(started);
      if (
        (res.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase() !== MSGPACK_STREAM ||
        res.body === null
      ) {
        // An ordinary reply: an error found before the answer existed, or a server that does not stream.
        const reply = await wait(res.arrayBuffer().then((b) => decodeReply(new Uint8Array(b), res.status)));
        complete = true;
        yield unwrap(reply);
        return;
      }
      const reader = res.body.getReader();
      const frames = new FrameSplitter();
      for (;;) {
        let payload = frames.next();
        while (payload === null) {
          const { done, value } = await wait(reader.read());
          if (done) {
            throw new ConnectionError(
              `The streamed answer to ${op} ended before its last batch: the server stopped or the connection dropped; retry`,
            );
          }
          frames.push(value);
          payload = frames.next();
        }
        const frame = decodeReply(payload, res.status) as { ok?: unknown; value?: unknown; more?: unknown };
        if (frame.ok === true && frame.more === true) {
          yield frame.value;
          continue;
        }
        complete = true;
        yield unwrap(frame);
        return;
      }
    } finally {
      clearTimeout(timer);
      // Leaving early (break, error) cancels the request, which stops the server's stream.
      if (!complete) controller.abort();
      this.#inflight.delete(controller);
    }
  }

  async atomic(calls: readonly WireCall[], checks?: readonly Check[], timeout = this.#o.timeout): Promise<unknown[]> {
    const bytes = encode(checks === undefined ? { atomic: true, ops: calls } : { atomic: true, checks, ops: calls });
    checkSize("atomic", bytes, this.#limit);
    return unwrap(await this.#post(bytes, timeout)) as unknown[];
  }

  watch(request: WatchRequest): WatchChannel {
    if (this.#closed) throw new ClosedError("The client is closed: connect() again");
    const channel = eventStreamChannel(this.#base, this.#o.password, request, this.#o.timeout);
    this.#watches.add(channel);
    return {
      next: () => channel.next(),
      close: () => {
        this.#watches.delete(channel);
        channel.close();
      },
    };
  }

  watchUrl(options: RemoteWatchOptions): Promise<string> {
    return eventStreamUrl(this.#base, this.#o.password, options, this.#o.timeout);
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const q of this.#queue) q.pending.reject(new ClosedError(`The client was closed before ${q.op} was sent`));
    this.#queue = [];
    for (const c of this.#inflight) c.abort();
    for (const w of this.#watches) {
      w.reject(new ClosedError("The client was closed"));
      w.close();
    }
    this.#watches.clear();
    return Promise.resolve();
  }
}
