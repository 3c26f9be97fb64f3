/**
 * ServerFeatures/GetSupportedMethods. The client asks once per connection and only takes the
 * BatchAppend path when the server lists it, which every current server does.
 */
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Empty } from "@eventstore/db-client/generated/shared_pb";
import { StreamsService } from "@eventstore/db-client/generated/streams_grpc_pb";
import { SupportedMethod, SupportedMethods } from "@eventstore/db-client/generated/serverfeatures_pb";

/** A version whose stream reads carry each event's log position (22.6 and later). */
const SERVER_VERSION = "23.10.0";

function supported(method: { path: string }): SupportedMethod {
  // Paths look like "/event_store.client.streams.Streams/BatchAppend"; the server answers lower case.
  const [, serviceName, methodName] = method.path.toLowerCase().split("/");
  return new SupportedMethod().setServiceName(serviceName).setMethodName(methodName);
}

export function getSupportedMethods(
  _call: ServerUnaryCall<Empty, SupportedMethods>,
  callback: sendUnaryData<SupportedMethods>,
): void {
  callback(
    null,
    new SupportedMethods()
      .setEventStoreServerVersion(SERVER_VERSION)
      .setMethodsList([supported(StreamsService.read), supported(StreamsService.batchAppend)]),
  );
}
