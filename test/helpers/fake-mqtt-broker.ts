import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { generate, type IConnectPacket, type Packet, parser as packetParser } from 'mqtt-packet';
import { Signal } from '../../src/lib/signal.js';

/**
 * A scripted MQTT "broker" on a real TCP port, for what a real broker will not do on demand:
 * stay silent, send garbage, refuse shared subscriptions, send QoS 2. By default it answers
 * CONNECT, SUBSCRIBE and PINGREQ like a well-behaved broker; `behaviour` switches parts off.
 */
export interface FakeBrokerBehaviour {
  /** Answer PINGREQ with PINGRESP (default true). */
  answerPings: boolean;
  /** Close the connection on an MQTT 5 CONNECT without answering, like some old brokers. */
  dropVersion5: boolean;
  /** Bytes to send instead of the CONNACK. */
  connackReplacement?: Buffer;
  /** SUBACK code for each filter (default: QoS 1 granted). */
  grant: (filter: string) => number;
  /** CONNACK says the session was resumed (default false). */
  sessionPresent: boolean;
  /** Answer UNSUBSCRIBE with UNSUBACK (default true). */
  answerUnsubscribe: boolean;
}

export class FakeClientConnection {
  readonly packets: Signal<Packet>;
  readonly received: Packet[] = [];
  readonly closed: Promise<void>;
  protocolVersion: 4 | 5 = 4;

  constructor(private readonly socket: Socket) {
    this.packets = new Signal('fake-broker.packets');
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  send(packet: Packet): void {
    this.socket.write(generate(packet, { protocolVersion: this.protocolVersion }));
  }

  sendRaw(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(bytes, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Resolves with the next packet from the client that satisfies `match`. */
  next(match: (packet: Packet) => boolean): Promise<Packet> {
    return new Promise((resolve) => {
      const off = this.packets.on((packet) => {
        if (!match(packet)) return;
        off();
        resolve(packet);
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export class FakeMqttBroker {
  readonly connections: Signal<FakeClientConnection>;
  readonly all: FakeClientConnection[] = [];
  readonly tlsErrors: Error[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly behaviour: FakeBrokerBehaviour,
  ) {
    this.connections = new Signal('fake-broker.connections');
  }

  /** Listens on a free port of 127.0.0.1; with `tls` (key, cert) as mqtts://. */
  static async start(
    behaviour: Partial<FakeBrokerBehaviour> = {},
    tls?: TlsOptions,
  ): Promise<FakeMqttBroker> {
    const server = tls ? createTlsServer(tls) : createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const broker = new FakeMqttBroker(server, `${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`, {
      answerPings: true,
      dropVersion5: false,
      grant: () => 1,
      sessionPresent: false,
      answerUnsubscribe: true,
      ...behaviour,
    });
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => broker.accept(socket));
    // A client that rejects our certificate ends the handshake: recorded for the test to check.
    server.on('tlsClientError', (error: Error) => broker.tlsErrors.push(error));
    return broker;
  }

  /** Resolves with the n-th connection (1-based), now or when it arrives. */
  connection(n: number): Promise<FakeClientConnection> {
    const existing = this.all[n - 1];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => {
      const off = this.connections.on(() => {
        const arrived = this.all[n - 1];
        if (!arrived) return;
        off();
        resolve(arrived);
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    const connection = new FakeClientConnection(socket);
    // The client's version is known only from its CONNECT; later packets need a parser set to it.
    let parser = packetParser();
    const listen = () => {
      parser.on('packet', (packet: Packet) => {
        if (packet.cmd === 'connect') {
          connection.protocolVersion = (packet as IConnectPacket).protocolVersion === 5 ? 5 : 4;
          parser = packetParser({ protocolVersion: connection.protocolVersion });
          listen();
        }
        connection.received.push(packet);
        this.respond(connection, packet);
        connection.packets.emit(packet);
      });
      parser.on('error', () => socket.destroy());
    };
    listen();
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => socket.destroy());
    this.all.push(connection);
    this.connections.emit(connection);
  }

  private respond(connection: FakeClientConnection, packet: Packet): void {
    if (packet.cmd === 'connect') {
      if (this.behaviour.dropVersion5 && connection.protocolVersion === 5) connection.destroy();
      else if (this.behaviour.connackReplacement) void connection.sendRaw(this.behaviour.connackReplacement);
      else
        connection.send({
          cmd: 'connack',
          sessionPresent: this.behaviour.sessionPresent,
          returnCode: 0,
          reasonCode: 0,
        });
    } else if (packet.cmd === 'subscribe') {
      const granted = packet.subscriptions.map((s) => this.behaviour.grant(s.topic));
      connection.send({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
    } else if (packet.cmd === 'unsubscribe' && this.behaviour.answerUnsubscribe) {
      const granted = packet.unsubscriptions.map(() => 0);
      connection.send({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted });
    } else if (packet.cmd === 'pingreq' && this.behaviour.answerPings) {
      connection.send({ cmd: 'pingresp' });
    }
  }
}
