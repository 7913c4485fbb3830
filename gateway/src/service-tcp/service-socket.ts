/**
 * One connection of the userspace TCP endpoint (service-tcp.ts) as the stream node:http
 * takes: a Duplex with the parts of net.Socket the HTTP server and the IGD use (the
 * addresses, `setTimeout`, `setNoDelay`, `setKeepAlive`, `destroySoon`). What is written
 * goes to the connection's send queue; what the peer sends is pushed as it arrives.
 *
 * It must not touch frames or sequence numbers: that is the endpoint's work, behind
 * `SocketPeer`.
 */
import { Duplex } from 'node:stream';

/** What the socket asks of its connection. */
export interface SocketPeer {
  /** Queues `data` to send; `done` is called once the queue has room again (backpressure). */
  write(data: Buffer, done: (error?: Error | null) => void): void;
  /** No more data: send FIN after what is queued. */
  end(): void;
  /**
   * The socket is destroyed. As the kernel does on close(): with data received and not
   * read, the connection is reset; otherwise what is queued is sent, then FIN.
   */
  close(unread: boolean): void;
  /** The application read what was pushed: the receive window may open again. */
  consumed(): void;
}

export interface SocketAddresses {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

export class ServiceSocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteFamily = 'IPv4';
  /** Bytes handed to the connection and bytes received, as net.Socket counts them. */
  bytesWritten = 0;
  bytesRead = 0;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly peer: SocketPeer, addresses: SocketAddresses) {
    super({ allowHalfOpen: true });
    this.remoteAddress = addresses.remoteAddress;
    this.remotePort = addresses.remotePort;
    this.localAddress = addresses.localAddress;
    this.localPort = addresses.localPort;
  }

  /** Data from the peer, in order (a copy: the frame it came in is reused). */
  receive(data: Buffer): void {
    this.bytesRead += data.length;
    this.touch();
    this.push(data);
  }

  /** The peer sent FIN: the readable side ends. */
  receiveEnd(): void {
    this.push(null);
  }

  /** The connection was reset or timed out. */
  fail(error: Error): void {
    this.destroy(error);
  }

  /**
   * As net.Socket's: after `ms` without data in either direction 'timeout' is emitted
   * (the socket stays open; node:http destroys it); 0 turns it off.
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    this.idleMs = ms;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (ms > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), ms);
      this.idleTimer.unref();
    }
    return this;
  }

  /** Segments are sent as soon as written (no Nagle here): nothing to change. */
  setNoDelay(): this {
    return this;
  }

  /** Idle connections are ended by the HTTP server's own timeouts, not by TCP keepalives. */
  setKeepAlive(): this {
    return this;
  }

  /** As net.Socket's: ends the writable side and destroys the socket once all is sent. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  override _read(): void {
    this.peer.consumed();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesWritten += chunk.length;
    this.touch();
    this.peer.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.peer.close(this.readableLength > 0);
    callback(error);
  }

  /** Activity: the idle timer starts again. */
  private touch(): void {
    if (this.idleTimer && this.idleMs > 0) this.idleTimer.refresh();
  }
}
