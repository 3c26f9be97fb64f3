import { randomUUID } from "node:crypto";
import { Server } from "node:http";
import { AddressInfo } from "node:net";
import { ServiceBroker, ServiceSchema } from "moleculer";
import { EventStore, RecordedEvent, StreamNotFound, acquireEventStore, releaseEventStore } from "../../adapters/event-store";
import { AppConfig, loadConfig } from "../../config";
import { brokerOptions } from "../../moleculer.config";
import { ServiceName, companionServices, serviceFactories } from "../../services";

export interface EmbeddedApp {
  broker: ServiceBroker;
  config: AppConfig;
  /** The same store instance the services use, to assert what was appended. */
  store: EventStore;
  /** http://127.0.0.1:<port>/api when the gateway runs. */
  baseUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedAppOptions {
  /** Environment as `npm start` reads it; a fresh memory store and bus unless given. */
  env?: Record<string, string>;
  services?: ServiceName[];
  /** A mixin per service, e.g. a hook that holds a participant's call. */
  mods?: Partial<Record<ServiceName, Partial<ServiceSchema>>>;
}

/**
 * The embedded mode of `npm start` in this process: the services of `services/index.ts`
 * built from the same configuration, the gateway on an ephemeral port of 127.0.0.1.
 */
export async function startEmbeddedApp(options: EmbeddedAppOptions = {}): Promise<EmbeddedApp> {
  const config = loadConfig({
    EVENT_STORE_URL: `memory:${randomUUID()}`,
    PORT: "0",
    HOST: "127.0.0.1",
    RELAY_POLL_MS: "5",
    // Brokers of one test process must not all take the Prometheus reporter's 3030.
    METRICS_PORT: "0",
    ...options.env,
  });
  const broker = new ServiceBroker({ ...brokerOptions(config), logger: false, nodeID: `test-${randomUUID()}` });
  const names = options.services ?? (Object.keys(serviceFactories) as ServiceName[]);
  for (const name of names) {
    const schema = serviceFactories[name](config);
    const mod = options.mods?.[name];
    broker.createService(mod ? { ...schema, mixins: [...(schema.mixins ?? []), mod] } : schema);
  }
  for (const service of companionServices(names)) broker.createService(service);
  // Held by the test too, so that a store outlives the brokers that share it.
  const store = acquireEventStore(config.eventStoreUrl);
  await broker.start();
  const api = broker.getLocalService("api");
  const port = api && "server" in api && api.server instanceof Server ? (api.server.address() as AddressInfo).port : 0;
  return {
    broker,
    config,
    store,
    baseUrl: `http://127.0.0.1:${port}/api`,
    async stop() {
      await broker.stop();
      await releaseEventStore(config.eventStoreUrl);
    },
  };
}

/** Every event of the global log, for "nothing was appended" assertions. */
export async function globalLog(store: EventStore): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for (let page = await store.readAll(); page.length > 0; page = await store.readAll({ after: page[page.length - 1]!.position })) {
    events.push(...page);
  }
  return events;
}

/** Types of a stream's events, or [] when it has none. */
export async function typesOf(store: EventStore, stream: string): Promise<string[]> {
  try {
    return (await store.read(stream)).map((event) => event.type);
  } catch (error) {
    if (error instanceof StreamNotFound) return [];
    throw error;
  }
}
