import { randomUUID } from "node:crypto";
import { AddressInfo } from "node:net";
import { ServiceBroker } from "moleculer";
import { EventStore, acquireEventStore, releaseEventStore } from "../../adapters/event-store";
import { apiService } from "../../services/api.service";
import { ordersService } from "../../services/orders.service";

export interface EmbeddedApp {
  broker: ServiceBroker;
  /** The same store instance the services use, to assert what was appended. */
  store: EventStore;
  /** http://127.0.0.1:<port>/api when the gateway runs. */
  baseUrl: string;
  stop(): Promise<void>;
}

/** The embedded mode of `npm start`, on a fresh store, with the gateway on an ephemeral port. */
export async function startEmbeddedApp(eventStoreUrl = `memory:${randomUUID()}`): Promise<EmbeddedApp> {
  const broker = new ServiceBroker({ logger: false });
  broker.createService(ordersService({ eventStoreUrl }));
  const api = broker.createService(apiService({ port: 0, ip: "127.0.0.1" }));
  const store = acquireEventStore(eventStoreUrl);
  await broker.start();
  const { port } = api.server.address() as AddressInfo;
  return {
    broker,
    store,
    baseUrl: `http://127.0.0.1:${port}/api`,
    async stop() {
      await broker.stop();
      await releaseEventStore(eventStoreUrl);
    },
  };
}

/** Every event of the global log, for "nothing was appended" assertions. */
export async function globalLog(store: EventStore) {
  const events = [];
  for (let page = await store.readAll(); page.length > 0; page = await store.readAll({ after: page[page.length - 1]!.position })) {
    events.push(...page);
  }
  return events;
}
