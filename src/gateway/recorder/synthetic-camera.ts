import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { RtspServer } from 'rtsp-streaming-server';
import { type Clock, systemClock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { FfmpegSession } from './ffmpeg-session.js';

/**
 * A camera for the demo and the tests that the recorder cannot tell from a real one: ffmpeg's
 * lavfi test pattern, encoded to H.264 and published to an in-process RTSP server
 * (rtsp-streaming-server), which serves it to RTSP clients over UDP. The source can be killed
 * and restarted to play a camera that loses power.
 */
export interface SyntheticCameraOptions {
  ffmpeg: string;
  log: Logger;
  clock?: Clock;
  size?: string;
  rate?: number;
  /** Clients must log in with these (Basic auth) when set. */
  credentials?: { username: string; password: string };
  host?: string;
  path?: string;
  /** Publish this pre-encoded H.264 file, looped with stream copy, instead of the test pattern. */
  clip?: string;
}

export class SyntheticCamera {
  private server: RtspServer | undefined;
  private source: FfmpegSession | undefined;
  private ports = { publish: 0, client: 0 };

  constructor(private readonly options: SyntheticCameraOptions) {}

  /** The URL a recorder pulls from (without credentials; they are configured apart). */
  get url(): string {
    return `rtsp://${this.host}:${this.ports.client}/${this.path}`;
  }

  get sourcePid(): number | undefined {
    return this.source?.pid;
  }

  async start(): Promise<void> {
    const [publish, client] = await freeTcpPorts(2);
    this.ports = { publish: publish as number, client: client as number };
    const rtpPortStart = await freeUdpRange(40);
    const credentials = this.options.credentials;
    this.server = new RtspServer({
      serverPort: this.ports.publish,
      clientPort: this.ports.client,
      rtpPortStart,
      rtpPortCount: 40,
      clientServerHooks: credentials
        ? {
            authentication: async (user: string, pass: string) =>
              user === credentials.username && pass === credentials.password,
          }
        : {},
    });
    await this.server.start();
    await this.startSource();
  }

  /** Starts publishing; resolves once frames flow to the server. */
  async startSource(): Promise<void> {
    if (this.source?.running) return;
    this.server?.Mounts.deleteMount(this.publishUrl);
    const session = new FfmpegSession({
      name: 'synthetic-camera',
      binary: this.options.ffmpeg,
      args: [
        '-hide_banner',
        '-nostats',
        '-loglevel',
        'error',
        '-re',
        ...this.sourceArgs(),
        '-progress',
        'pipe:3',
        '-stats_period',
        '0.5',
        '-f',
        'rtsp',
        '-rtsp_transport',
        'udp',
        this.publishUrl,
      ],
      progressOnFd3: true,
      clock: this.options.clock ?? systemClock,
      log: this.options.log,
      inactivityMs: 0,
      graceMs: 2000,
      killMs: 2000,
    });
    this.source = session;
    await new Promise<void>((resolve, reject) => {
      const off = session.progress.on((report) => {
        if ((report.outTimeUs ?? 0) <= 0) return;
        off();
        resolve();
      });
      session.stopped.then((end) => {
        off();
        reject(new Error(`synthetic camera source ended: ${end.detail || end.reason}`));
      });
      session.start();
    });
  }

  /** Kills the source as a power cut would (SIGKILL, no RTSP TEARDOWN). */
  async killSource(): Promise<void> {
    const session = this.source;
    if (!session?.running) return;
    process.kill(session.pid as number, 'SIGKILL');
    await session.stopped;
    // The server keeps a dead publisher's mount; a real camera would come back as a new one.
    this.server?.Mounts.deleteMount(this.publishUrl);
  }

  async stop(): Promise<void> {
    await this.source?.stop();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.Mounts.deleteMount(this.publishUrl);
    for (const wrapper of Object.values(server.ClientServer.clients)) wrapper.close();
    await Promise.all([closeServer(server.PublishServer.server), closeServer(server.ClientServer.server)]);
  }

  private sourceArgs(): string[] {
    if (this.options.clip) return ['-stream_loop', '-1', '-i', this.options.clip, '-c', 'copy'];
    const size = this.options.size ?? '320x240';
    const rate = this.options.rate ?? 10;
    return [
      '-f',
      'lavfi',
      '-i',
      `testsrc=size=${size}:rate=${rate}`,
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-pix_fmt',
      'yuv420p',
      '-g',
      String(rate),
    ];
  }

  private get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  private get path(): string {
    return this.options.path ?? 'cam';
  }

  private get publishUrl(): string {
    return `rtsp://${this.host}:${this.ports.publish}/${this.path}`;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function freeTcpPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    return typeof address === 'object' && address ? address.port : 0;
  });
  await Promise.all(servers.map(closeServer));
  return ports;
}

/** An even port with `count` free UDP ports after it (RTP wants even/odd pairs). */
async function freeUdpRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 2 * Math.floor(Math.random() * 15_000);
    if (await udpPortsFree(base, count)) return base;
  }
  throw new Error('no free UDP port range for the synthetic camera');
}

async function udpPortsFree(base: number, count: number): Promise<boolean> {
  const sockets: ReturnType<typeof createSocket>[] = [];
  try {
    for (let port = base; port < base + count; port++) {
      const socket = createSocket('udp4');
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, '0.0.0.0', () => resolve());
      });
    }
    return true;
  } catch {
    // One port of the range is taken: the caller tries another range.
    return false;
  } finally {
    for (const socket of sockets) socket.close();
  }
}
