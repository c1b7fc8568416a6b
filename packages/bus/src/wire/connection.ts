import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { API, type ApiName, type ApiSpec, apiVersions, saslAuthenticate, saslHandshake } from './apis.ts';
import { Reader, Writer } from './codec.ts';
import {
  KafkaConnectionError,
  KafkaProtocolError,
  MalformedResponseError,
  UnsupportedVersionError,
} from './protocol-errors.ts';
import { type SaslCredentials, saslSession } from './sasl.ts';

export interface ConnectionSettings {
  host: string;
  port: number;
  clientId: string;
  ssl?: boolean | ConnectionOptions | undefined;
  sasl?: SaslCredentials | undefined;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

interface Pending {
  api: ApiName;
  decode: (r: Reader) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

const MAX_FRAME = 512 * 1024 * 1024;

/**
 * One TCP (or TLS) connection to one broker: length-prefixed frames, requests pipelined with
 * correlation ids, a timeout per request, and the API versions negotiated on connect.
 */
export class BrokerConnection {
  readonly #settings: ConnectionSettings;
  #socket: Socket | undefined;
  #connecting: Promise<void> | undefined;
  #correlationId = 0;
  readonly #pending = new Map<number, Pending>();
  /** The frame being received (its size is known) and how much of it has arrived. */
  #frame: Buffer | undefined;
  #frameFilled = 0;
  readonly #sizeBytes = Buffer.alloc(4);
  #sizeFilled = 0;
  #versions: Map<number, { min: number; max: number }> | undefined;
  #closed = false;
  readonly #clientId: Buffer;

  constructor(settings: ConnectionSettings) {
    this.#settings = settings;
    this.#clientId = Buffer.from(settings.clientId);
  }

  get address(): string {
    return `${this.#settings.host}:${this.#settings.port}`;
  }

  get connected(): boolean {
    return this.#socket !== undefined && this.#versions !== undefined && !this.#closed;
  }

  connect(): Promise<void> {
    if (this.#closed)
      return Promise.reject(new KafkaConnectionError(`connection to ${this.address} is closed`));
    this.#connecting ??= this.#open().catch((error) => {
      this.#connecting = undefined;
      this.#teardown(error as Error);
      throw error;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const { host, port, ssl } = this.#settings;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const timeoutMs = this.#settings.connectTimeoutMs ?? 10_000;
      // Plain sockets read into one reusable buffer; frames are assembled from it by one copy.
      const s = ssl
        ? tlsConnect({
            host,
            port,
            ...(isIP(host) ? {} : { servername: host }),
            ...(ssl === true ? {} : ssl),
          })
        : netConnect({
            host,
            port,
            onread: {
              buffer: Buffer.allocUnsafe(256 * 1024),
              callback: (n: number, buf: Uint8Array) => {
                this.#onBytes(buf, 0, n);
                return true;
              },
            },
          });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new KafkaConnectionError(`connection to ${this.address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      s.once(ssl ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new KafkaConnectionError(`cannot connect to ${this.address}: ${error.message}`, { cause: error }),
        );
      });
    });
    socket.setNoDelay(true);
    this.#socket = socket;
    if (ssl) socket.on('data', (chunk: Buffer) => this.#onBytes(chunk, 0, chunk.length));
    socket.on('error', (error) =>
      this.#teardown(new KafkaConnectionError(`connection to ${this.address} failed: ${error.message}`)),
    );
    socket.on('close', () =>
      this.#teardown(new KafkaConnectionError(`connection to ${this.address} closed`)),
    );
    const versions = await this.#send(apiVersions(), API.ApiVersions.version, 10_000);
    if (versions.errorCode !== 0)
      throw new KafkaProtocolError(versions.errorCode, `ApiVersions at ${this.address}`);
    this.#versions = versions.versions;
    if (this.#settings.sasl) await this.#authenticate(this.#settings.sasl);
  }

  async #authenticate(credentials: SaslCredentials): Promise<void> {
    const mechanism = credentials.mechanism.toUpperCase();
    const handshake = await this.#send(saslHandshake(mechanism), this.#version('SaslHandshake'), 10_000);
    if (handshake.errorCode !== 0) {
      throw new KafkaProtocolError(
        handshake.errorCode,
        `SASL ${mechanism} at ${this.address} (broker enables: ${handshake.mechanisms.join(', ')})`,
      );
    }
    const session = saslSession(credentials);
    let message: Buffer | null = session.first();
    while (message !== null) {
      const res = await this.#send(saslAuthenticate(message), this.#version('SaslAuthenticate'), 10_000);
      if (res.errorCode !== 0) {
        throw new KafkaProtocolError(
          res.errorCode,
          `SASL ${mechanism} as ${credentials.username}`,
          res.errorMessage,
        );
      }
      message = session.next(res.bytes);
    }
  }

  #version(name: ApiName): number {
    const { key, version } = API[name];
    const range = this.#versions?.get(key);
    if (!range || version < range.min || version > range.max) {
      const offered = range ? `v${range.min}-v${range.max}` : 'none';
      throw new UnsupportedVersionError(
        `broker ${this.address} cannot speak ${name} v${version} (it supports ${offered}); this client needs a Kafka 2.4-4.x broker`,
      );
    }
    return version;
  }

  /** Sends a request and resolves with its decoded response. */
  async request<T>(spec: ApiSpec<T>, timeoutMs?: number): Promise<T> {
    if (!this.connected) await this.connect();
    return this.#send(spec, this.#version(spec.name), timeoutMs ?? this.#settings.requestTimeoutMs ?? 30_000);
  }

  /** Sends a request whose response is not awaited by the broker (acks=0 is never used here). */
  #send<T>(spec: ApiSpec<T>, version: number, timeoutMs: number): Promise<T> {
    const socket = this.#socket;
    if (!socket || this.#closed) {
      return Promise.reject(new KafkaConnectionError(`connection to ${this.address} is not open`));
    }
    this.#correlationId = (this.#correlationId + 1) & 0x7fffffff;
    const correlationId = this.#correlationId;
    const w = new Writer(spec.sizeHint ?? 256);
    w.int32(0);
    w.int16(API[spec.name].key);
    w.int16(version);
    w.int32(correlationId);
    w.int16(this.#clientId.length);
    w.raw(this.#clientId);
    spec.encode(w);
    w.buf.writeInt32BE(w.length - 4, 0);
    return new Promise<T>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              // A response may still come for it: the stream can no longer be trusted.
              this.#teardown(
                new KafkaConnectionError(`${spec.name} to ${this.address} timed out after ${timeoutMs} ms`),
              );
            }, timeoutMs)
          : undefined;
      this.#pending.set(correlationId, {
        api: spec.name,
        decode: spec.decode as (r: Reader) => unknown,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
      });
      const parts = w.parts();
      if (parts.length === 1) socket.write(parts[0]!);
      else {
        socket.cork();
        for (const part of parts) socket.write(part);
        socket.uncork();
      }
    });
  }

  /** Bytes arrived (buf may be reused afterwards: everything kept is copied). */
  #onBytes(buf: Uint8Array, start: number, end: number): void {
    let at = start;
    while (at < end) {
      let frame = this.#frame;
      if (!frame) {
        if (this.#sizeFilled === 0 && end - at >= 4) {
          this.#sizeBytes[0] = buf[at]!;
          this.#sizeBytes[1] = buf[at + 1]!;
          this.#sizeBytes[2] = buf[at + 2]!;
          this.#sizeBytes[3] = buf[at + 3]!;
          at += 4;
        } else {
          while (this.#sizeFilled < 4 && at < end) this.#sizeBytes[this.#sizeFilled++] = buf[at++]!;
          if (this.#sizeFilled < 4) return;
        }
        this.#sizeFilled = 0;
        const size = this.#sizeBytes.readInt32BE(0);
        if (size < 4 || size > MAX_FRAME) {
          this.#teardown(
            new MalformedResponseError(`response frame from ${this.address} has length ${size}`),
          );
          return;
        }
        frame = Buffer.allocUnsafe(size);
        this.#frame = frame;
        this.#frameFilled = 0;
      }
      const n = Math.min(end - at, frame.length - this.#frameFilled);
      frame.set(buf.subarray(at, at + n), this.#frameFilled);
      this.#frameFilled += n;
      at += n;
      if (this.#frameFilled === frame.length) {
        this.#frame = undefined;
        this.#dispatch(frame);
        if (!this.#socket) return;
      }
    }
  }

  #dispatch(frame: Buffer): void {
    const correlationId = frame.readInt32BE(0);
    const pending = this.#pending.get(correlationId);
    if (!pending) {
      this.#teardown(
        new MalformedResponseError(
          `response from ${this.address} has unknown correlation id ${correlationId}`,
        ),
      );
      return;
    }
    this.#pending.delete(correlationId);
    if (pending.timer) clearTimeout(pending.timer);
    let result: unknown;
    try {
      result = pending.decode(new Reader(frame, `${pending.api} response from ${this.address}`, 4));
    } catch (error) {
      pending.reject(
        error instanceof MalformedResponseError
          ? error
          : new MalformedResponseError(
              `${pending.api} response from ${this.address}: ${(error as Error).message}`,
              { cause: error },
            ),
      );
      return;
    }
    pending.resolve(result);
  }

  #teardown(error: Error): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#versions = undefined;
    this.#connecting = undefined;
    this.#frame = undefined;
    this.#sizeFilled = 0;
    socket?.destroy();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(error);
    }
  }

  /** Drops the socket (requests in flight fail with KafkaConnectionError); the next request reconnects. */
  reset(reason = 'reset by the client'): void {
    this.#teardown(new KafkaConnectionError(`connection to ${this.address} ${reason}`));
  }

  close(): void {
    this.#closed = true;
    this.#teardown(new KafkaConnectionError(`connection to ${this.address} was closed by the client`));
  }
}
