import { createServer, type Server, type Socket } from 'node:net';
import { exporterAddress } from './udp-listener.ts';

const IPFIX_HEADER = 16;
/** Bytes buffered per connection before a complete message; an IPFIX message is at most 65535. */
const MAX_BUFFER = 65_535 + IPFIX_HEADER;

export interface IpfixTcpHandlers {
  /** One complete IPFIX message; returns false to pause reading until `resume()` is called. */
  onMessage(message: Buffer, exporter: string, exporterPort: number): boolean;
  /** The stream broke IPFIX framing (bad version or length): the connection is closed. */
  onFramingError(exporter: string, what: string): void;
  onError(error: Error): void;
}

/**
 * IPFIX over TCP (RFC 7011 §10.4): the stream is a sequence of messages, each framed by the
 * 16-byte header's version (10) and length. Applies real backpressure: a connection is paused
 * while the publisher is full.
 */
export class IpfixTcpListener {
  #server: Server | undefined;
  readonly #paused = new Set<Socket>();
  readonly #connections = new Set<Socket>();
  #port = 0;

  constructor(
    private readonly port: number,
    private readonly host: string,
    private readonly handlers: IpfixTcpHandlers,
  ) {}

  get boundPort(): number {
    return this.#port;
  }

  get connections(): number {
    return this.#connections.size;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.#accept(socket));
    server.on('error', (e) => this.handlers.onError(e));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.port, host: this.host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : this.port;
    this.#server = server;
  }

  /** Resumes connections paused for backpressure. */
  resume(): void {
    for (const s of this.#paused) s.resume();
    this.#paused.clear();
  }

  get hasPaused(): boolean {
    return this.#paused.size > 0;
  }

  #accept(socket: Socket): void {
    this.#connections.add(socket);
    const exporter = exporterAddress(socket.remoteAddress ?? 'unknown');
    const exporterPort = socket.remotePort ?? 0;
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let offset = 0;
      let keepReading = true;
      while (buffered.length - offset >= IPFIX_HEADER) {
        const version = buffered.readUInt16BE(offset);
        const length = buffered.readUInt16BE(offset + 2);
        if (version !== 10 || length < IPFIX_HEADER) {
          this.handlers.onFramingError(exporter, version !== 10 ? `version ${version}` : `length ${length}`);
          socket.destroy();
          return;
        }
        if (buffered.length - offset < length) break;
        // Copy: the decoder may hold data sets (waiting for a template) beyond this call.
        const message = Buffer.from(buffered.subarray(offset, offset + length));
        offset += length;
        keepReading = this.handlers.onMessage(message, exporter, exporterPort) && keepReading;
      }
      buffered = offset === buffered.length ? Buffer.alloc(0) : buffered.subarray(offset);
      if (buffered.length > MAX_BUFFER) {
        this.handlers.onFramingError(exporter, 'oversized message');
        socket.destroy();
        return;
      }
      if (!keepReading) {
        socket.pause();
        this.#paused.add(socket);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#connections.delete(socket);
      this.#paused.delete(socket);
    });
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    for (const s of this.#connections) s.end();
    await new Promise<void>((r) => {
      server.close(() => r());
      setTimeout(() => {
        for (const s of this.#connections) s.destroy();
      }, 2000).unref();
    });
    this.#server = undefined;
  }
}
