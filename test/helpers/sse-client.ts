import { request } from 'node:http';

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * A minimal Server-Sent Events client over node:http, for tests: it parses the stream and lets a
 * test wait for the message it expects.
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  private waiters: Array<{ match: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }> = [];
  private closeRequest: (() => void) | undefined;
  status = 0;

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    await new Promise<void>((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        client.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            client.parse(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf('\n\n');
          }
        });
        resolve();
      });
      req.on('error', reject);
      req.end();
      client.closeRequest = () => req.destroy();
    });
    return client;
  }

  waitFor(match: (m: SseMessage) => boolean, timeoutMs = 10_000): Promise<SseMessage> {
    const found = this.messages.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(`no matching SSE message within ${timeoutMs} ms; got ${this.messages.length} messages`),
        );
      }, timeoutMs).unref();
    });
  }

  events<T = Record<string, unknown>>(): T[] {
    return this.messages.filter((m) => m.event === 'event').map((m) => JSON.parse(m.data) as T);
  }

  close(): void {
    this.closeRequest?.();
  }

  private parse(block: string): void {
    const message: SseMessage = { event: 'message', data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') message.id = value;
      else if (field === 'event') message.event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    message.data = data.join('\n');
    this.messages.push(message);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(message)) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(message);
      }
    }
  }
}
