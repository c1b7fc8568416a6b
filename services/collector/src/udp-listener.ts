import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface UdpListenerOptions {
  /** Listener name for metrics and logs: netflow | ipfix | sflow. */
  name: string;
  /** 0 picks a free port (tests); every socket then shares the first one's port. */
  port: number;
  host: string;
  /** Receive sockets on the port (SO_REUSEPORT); the kernel spreads exporters across them by 4-tuple. */
  sockets: number;
  /** Requested SO_RCVBUF; the kernel may grant less (net.core.rmem_max) and Linux reports double. */
  recvBufferBytes: number;
}

export type DatagramHandler = (payload: Buffer, exporter: string, exporterPort: number) => void;

/** `::ffff:10.0.0.1` (dual-stack socket) → `10.0.0.1`, so exporters read the same on v4 and v6. */
export function exporterAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** One UDP port served by several SO_REUSEPORT sockets, dual-stack where the host allows. */
export class UdpListener {
  readonly #sockets: Socket[] = [];
  #port = 0;
  #granted = 0;

  constructor(
    readonly options: UdpListenerOptions,
    private readonly onDatagram: DatagramHandler,
    private readonly onError: (error: Error) => void,
  ) {}

  get port(): number {
    return this.#port;
  }

  /** The receive buffer the kernel granted per socket (bytes, as getsockopt reports it). */
  get recvBufferBytes(): number {
    return this.#granted;
  }

  async start(): Promise<void> {
    const { sockets, host } = this.options;
    let port = this.options.port;
    for (let i = 0; i < Math.max(1, sockets); i++) {
      const socket = await this.#bind(host, port);
      port = socket.address().port;
      this.#port = port;
    }
  }

  async #bind(host: string, port: number): Promise<Socket> {
    const type = host.includes(':') ? 'udp6' : 'udp4';
    const socket = createSocket({ type, reuseAddr: false, reusePort: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: host, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(this.options.recvBufferBytes);
    } catch (e) {
      this.onError(e as Error);
    }
    this.#granted = socket.getRecvBufferSize();
    const handler = this.onDatagram;
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) =>
      handler(msg, exporterAddress(rinfo.address), rinfo.port),
    );
    socket.on('error', this.onError);
    this.#sockets.push(socket);
    return socket;
  }

  async stop(): Promise<void> {
    await Promise.all(this.#sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.#sockets.length = 0;
  }
}
