import { IncomingMessage, ServerResponse } from "node:http";
import { Errors } from "moleculer";
import { sendError } from "./http-errors";

export interface LiveFeedOptions {
  /** Feeds open at once; one more is refused with 503 and Retry-After. */
  maxClients: number;
  intervalMs: number;
  /** One snapshot for every open feed: read once per tick, however many tabs watch. */
  snapshot: () => Promise<unknown>;
  onError: (error: Error) => void;
}

/** What a client that does not read may leave buffered before it is let go (it reconnects). */
const MAX_BUFFERED_BYTES = 256 * 1024;
const RETRY_AFTER_S = 5;

/**
 * The dashboard's server-sent events, served beside the gateway's routes rather than through
 * them: a feed stays open for as long as the tab does, and a request that never ends would
 * hold a slot of the gateway's bulkhead for good (twenty tabs were enough to stall every
 * order). Open feeds are bounded, share one snapshot per tick, and a feed that does not read
 * is closed before its buffer grows: memory stays bounded whatever the clients do.
 */
export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: LiveFeedOptions) {}

  get size(): number {
    return this.clients.size;
  }

  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= this.options.maxClients) {
      const full = new Errors.MoleculerError(
        `${this.options.maxClients} live feeds are open already (LIVE_MAX_CLIENTS); try again later`,
        503,
        "LIVE_FEED_FULL",
        { maxClients: this.options.maxClients },
      );
      sendError(res, full, { "Retry-After": String(RETRY_AFTER_S) });
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
    this.clients.add(res);
    const release = () => this.close(res);
    req.once("close", release);
    res.once("close", release);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
      this.timer.unref();
    }
    void this.tick(res);
  }

  /** Ends every feed: the gateway waits for open connections when it closes. */
  closeAll(): void {
    for (const client of this.clients) client.end();
    this.clients.clear();
    this.stopTimer();
  }

  private close(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One snapshot, written to one new feed or to all of them. */
  private async tick(only?: ServerResponse): Promise<void> {
    let frame: string;
    try {
      frame = `data: ${JSON.stringify(await this.options.snapshot())}\n\n`;
    } catch (error) {
      this.options.onError(error as Error);
      return;
    }
    for (const client of only ? [only] : this.clients) {
      if (!this.clients.has(client)) continue;
      if (client.writableLength > MAX_BUFFERED_BYTES) {
        client.destroy();
        this.close(client);
        continue;
      }
      client.write(frame);
    }
  }
}
