/**
 * ServerFeatures/GetSupportedMethods. Both halves of @kurrent/kurrentdb-client ask it once per
 * connection: the JavaScript half, which appends, and the native half (@kurrent/bridge, the
 * Rust client), which reads on its own connection.
 * - appendToStream takes v1 Streams/BatchAppend when listed (without per-call credentials),
 *   as it does against every current server, and the legacy Streams/Append otherwise;
 * - multiStreamAppend and appendRecords need the v2 StreamsService (AppendSession, KurrentDB
 *   25.1; AppendRecords, 26.1) listed, and throw UnsupportedError without it; our adapter
 *   calls neither;
 * - reads are always v1 Streams/Read, whatever is listed.
 * So the fake lists only what it serves, Read and BatchAppend, as a 25.0 server (the last one
 * without the v2 appends) would for these paths: a current server's longer list would send our
 * adapter down the same paths, and listing v2 methods here would only turn a clear
 * UnsupportedError into UNIMPLEMENTED for a caller that tried them.
 */
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Empty } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb";
import { StreamsService } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb";
import { SupportedMethod, SupportedMethods } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_pb";

/** A version whose stream reads carry each event's log position (22.6 and later) and that has no v2 appends. */
const SERVER_VERSION = "25.0.0";

function supported(method: { path: string }): SupportedMethod {
  // Paths look like "/event_store.client.streams.Streams/BatchAppend"; the server answers lower case.
  const [, serviceName, methodName] = method.path.toLowerCase().split("/");
  return new SupportedMethod().setServiceName(serviceName ?? "").setMethodName(methodName ?? "");
}

export function getSupportedMethods(_call: ServerUnaryCall<Empty, SupportedMethods>, callback: sendUnaryData<SupportedMethods>): void {
  callback(
    null,
    new SupportedMethods().setEventStoreServerVersion(SERVER_VERSION).setMethodsList([supported(StreamsService.read), supported(StreamsService.batchAppend)]),
  );
}
