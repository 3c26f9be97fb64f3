import { Channel, ChannelModel, ConfirmChannel, Options, connect } from "amqplib";
import { messageOf } from "../failure";
import { BusLogger } from "../logger";

export interface AmqpConnectionOptions {
  url: string;
  /** Shown by RabbitMQ (management UI, rabbitmqctl list_connections user_provided_name). */
  name: string;
  logger: BusLogger;
  /** Declares what every connection needs before anyone uses it (the shared topology). */
  declare(channel: Channel): Promise<void>;
}

interface Live {
  model: ChannelModel;
  publisher: ConfirmChannel;
}

interface Waiter {
  resolve(live: Live): void;
  reject(error: Error): void;
}

/**
 * One AMQP connection that comes back by itself: when the connection or its publisher channel
 * is lost, it reconnects with backoff and declares the shared topology again. Consumers notice
 * the loss on their own channels and wait here for the next connection.
 */
export class AmqpConnection {
  private live?: Live;
  private starting?: Promise<void>;
  private readonly waiters = new Set<Waiter>();
  private reconnectTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: AmqpConnectionOptions) {}

  get isConnected(): boolean {
    return this.live !== undefined;
  }

  /**
   * Connects. A refusal that says the URL is wrong (credentials, vhost, host name) fails at
   * once: it must not go unnoticed. A broker that is restarting (the connection refused, reset
   * or closed during the handshake) is waited for, with the reconnection backoff, for
   * START_PATIENCE_MS: a node started while RabbitMQ restarts then starts when it is back,
   * where it used to exit with code 1 (found by the soak).
   */
  start(): Promise<void> {
    this.starting ??= this.openPatiently().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  private async openPatiently(): Promise<void> {
    const giveUpAt = Date.now() + START_PATIENCE_MS;
    for (let failures = 0; ; failures += 1) {
      try {
        await this.open();
        if (failures > 0) this.options.logger.info(`Connected to RabbitMQ after ${failures} failed attempt(s)`);
        return;
      } catch (error) {
        const delay = reconnectDelay(failures);
        if (this.closed || wrongAddress(error) || Date.now() + delay > giveUpAt) throw error;
        this.options.logger.warn(`Connecting to RabbitMQ failed (${messageOf(error)}); trying again in ${Math.round(delay)} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** The current connection, waiting up to `waitMs` for a lost one to come back. */
  async connected(waitMs: number): Promise<Live> {
    await this.start();
    if (this.live) return this.live;
    if (this.closed) throw new Error("The message bus is closed");
    return new Promise<Live>((resolve, reject) => {
      const timer =
        waitMs === Infinity
          ? undefined
          : setTimeout(() => {
              this.waiters.delete(waiter);
              reject(new Error(`No connection to RabbitMQ within ${waitMs} ms`));
            }, waitMs);
      const waiter: Waiter = {
        resolve: (live) => {
          clearTimeout(timer);
          resolve(live);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Publishes with a publisher confirm. A message whose channel died before its confirm is
   * published again on the next connection (it may then arrive twice: at least once). A
   * confirm that does not come within CONFIRM_TIMEOUT_MS (a broker that came back but holds
   * the channel, e.g. blocked by an alarm while it starts) counts as a lost connection too:
   * waiting on it forever would stall every publisher of this process.
   */
  async publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish, waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const live = await this.connected(Math.max(0, deadline - Date.now()));
      try {
        await confirmedPublish(live.publisher, exchange, routingKey, content, options);
        return;
      } catch (error) {
        if (error instanceof ConfirmTimeout) {
          this.options.logger.warn(`${error.message}; reconnecting`);
          this.retire(live.model);
        }
        if (this.live === live || Date.now() >= deadline) throw error;
      }
    }
  }

  /** Runs `use` on a channel of its own, for operations whose failure closes the channel (404s). */
  async withChannel<T>(waitMs: number, use: (channel: Channel) => Promise<T>): Promise<T> {
    const { model } = await this.connected(waitMs);
    const channel = await model.createChannel();
    let open = true;
    channel.on("error", () => undefined); // the failed operation rejects with the same error
    channel.on("close", () => (open = false));
    try {
      return await use(channel);
    } finally {
      if (open) await channel.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const waiter of this.waiters) waiter.reject(new Error("The message bus is closed"));
    this.waiters.clear();
    const live = this.live;
    this.live = undefined;
    if (live) await live.model.close().catch(() => undefined); // already gone with the broker
  }

  private async open(): Promise<void> {
    const { url, name, logger } = this.options;
    // Without noDelay, Nagle holds small frames back: ~44 ms per round trip (DESIGN.md §7).
    // The timeout bounds a connect to a host that drops packets instead of refusing them.
    const connecting = connect(url, { noDelay: true, timeout: 10_000, clientProperties: { connection_name: name } });
    const model = await within(connecting, "connecting to RabbitMQ").catch((error: unknown) => {
      // A handshake that completes after we gave up must not leave a connection behind.
      void connecting.then((late) => late.close()).catch(() => undefined);
      throw error;
    });
    let lost = false;
    model.on("error", (error: Error) => logger.warn(`RabbitMQ connection error: ${error.message}`));
    model.on("close", () => {
      lost = true;
      this.retire(model);
    });
    try {
      const publisher = await within(model.createConfirmChannel(), "opening the publisher channel");
      publisher.on("error", (error: Error) => logger.warn(`RabbitMQ publisher channel error: ${error.message}`));
      // The publisher channel closes on its own only when something is wrong with the
      // topology or the connection: starting over redeclares both.
      publisher.on("close", () => this.retire(model));
      await within(this.options.declare(publisher), "declaring the topology");
      if (lost) throw new Error("The connection to RabbitMQ was lost while it was being set up");
      if (this.closed) throw new Error("The message bus is closed");
      this.live = { model, publisher };
    } catch (error) {
      await model.close().catch(() => undefined);
      throw error;
    }
    for (const waiter of this.waiters) waiter.resolve(this.live);
    this.waiters.clear();
  }

  private retire(model: ChannelModel): void {
    if (this.live?.model !== model) return;
    this.live = undefined;
    void model.close().catch(() => undefined); // closed already, unless only the publisher was lost
    if (this.closed) return;
    this.options.logger.warn("Lost the connection to RabbitMQ; reconnecting");
    this.scheduleReconnect(0);
  }

  private scheduleReconnect(failures: number): void {
    this.reconnectTimer = setTimeout(() => {
      this.open().then(
        () => this.options.logger.info("Reconnected to RabbitMQ"),
        (error: unknown) => {
          if (this.closed) return;
          this.options.logger.warn(`Reconnecting to RabbitMQ failed (${messageOf(error)}); trying again`);
          this.scheduleReconnect(failures + 1);
        },
      );
    }, reconnectDelay(failures));
  }
}

/** How long a starting node waits for a RabbitMQ that refuses or drops its connection. */
const START_PATIENCE_MS = 30_000;

/**
 * A refusal that no wait will change: bad credentials (403 ACCESS-REFUSED), a vhost that does
 * not exist (530 NOT-ALLOWED), a host name that does not resolve, a malformed URL.
 */
function wrongAddress(error: unknown): boolean {
  if (error instanceof TypeError) return true;
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
  if (code === "ENOTFOUND") return true;
  return /ACCESS[-_]REFUSED|NOT[-_]ALLOWED/.test(messageOf(error));
}

/** Exponential from 100 ms up to 5 s, the upper half jittered so that a cluster's nodes spread out. */
export function reconnectDelay(failures: number): number {
  const cap = Math.min(5_000, 100 * 2 ** failures);
  return cap / 2 + Math.random() * (cap / 2);
}

const CONFIRM_TIMEOUT_MS = 10_000;

class ConfirmTimeout extends Error {
  override readonly name = "ConfirmTimeout";
}

function confirmedPublish(channel: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ConfirmTimeout(`RabbitMQ did not confirm a message to ${exchange || routingKey} within ${CONFIRM_TIMEOUT_MS} ms`)),
      CONFIRM_TIMEOUT_MS,
    );
    try {
      channel.publish(exchange, routingKey, content, options, (error: unknown) => {
        clearTimeout(timer);
        if (error) reject(error instanceof Error ? error : new Error(typeof error === "string" ? error : JSON.stringify(error)));
        else resolve();
      });
    } catch (error) {
      clearTimeout(timer); // a channel closed already refuses the publish at once
      reject(error);
    }
  });
}

const SETUP_TIMEOUT_MS = 15_000;

/** Bounds one step of setting a connection up: a broker still starting may never answer it. */
function within<T>(step: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${SETUP_TIMEOUT_MS} ms`)), SETUP_TIMEOUT_MS);
    step.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
