/**
 * An in-process fake of the EventStoreDB (KurrentDB) gRPC protocol, built from the client's own
 * generated v1 service definitions, so the real @kurrent/kurrentdb-client can be tested without
 * a server. A test fixture only: it serves what the EventStoreDbEventStore adapter uses
 * (ServerFeatures, BatchAppend, Read) from memory, and nothing else (no subscriptions, deletes,
 * auth, TLS, no v2 services: see server-features.ts).
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { ServerFeaturesService } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb";
import { StreamsService } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb";
import { batchAppendHandler } from "./batch-append";
import { EventLog } from "./event-log";
import { readHandler } from "./read";
import { getSupportedMethods } from "./server-features";

export interface EventStoreDbFake {
  /** Connection string for EventStoreDbEventStore (and KurrentDBClient.connectionString). */
  url: string;
  stop(): Promise<void>;
}

export async function startEventStoreDbFake(): Promise<EventStoreDbFake> {
  const log = new EventLog();
  const server = new Server();
  // Methods left out (Append, Delete, Tombstone) answer UNIMPLEMENTED.
  server.addService(StreamsService, { read: readHandler(log), batchAppend: batchAppendHandler(log) });
  server.addService(ServerFeaturesService, { getSupportedMethods });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  return {
    url: `kurrentdb://127.0.0.1:${port}?tls=false`,
    // Forced: a client keeps its BatchAppend call open for its whole life, so a graceful
    // shutdown would wait for every client to be disposed.
    stop: async () => server.forceShutdown(),
  };
}
