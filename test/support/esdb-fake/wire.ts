/** Conversions between the protocol's messages and plain values, shared by the handlers. */
import { StreamIdentifier, UUID } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb";

export function streamNameOf(identifier: StreamIdentifier | undefined): string {
  return Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString("utf8");
}

export function streamIdentifier(name: string): StreamIdentifier {
  return new StreamIdentifier().setStreamName(Buffer.from(name, "utf8"));
}

/** The client always sends and asks for the string form of UUIDs, never the structured one. */
export function uuidOf(id: string): UUID {
  return new UUID().setString(id);
}

export function idOf(uuid: UUID | undefined): string {
  return uuid?.getString() ?? "";
}
