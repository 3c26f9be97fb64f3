/**
 * Streams/Read, for a stream or for $all, forwards or backwards, with a count. The client reads
 * through its native half (@kurrent/bridge, the Rust client) on a connection of its own. A
 * missing stream is a ReadResp with stream_not_found set, not an error status, as on the
 * server. Options the client never sends for reads (subscriptions, server-side filters,
 * structured UUIDs) are refused with UNIMPLEMENTED rather than served wrongly.
 */
import { status, type ServerWritableStream } from "@grpc/grpc-js";
import { Empty } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb";
import { ReadReq, ReadResp } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb";
import type { EventLog, StoredEvent } from "./event-log";
import { streamIdentifier, streamNameOf, uuidOf } from "./wire";

const Options = ReadReq.Options;

export function readHandler(log: EventLog) {
  return (call: ServerWritableStream<ReadReq, ReadResp>): void => {
    const options = call.request.getOptions() ?? new Options();
    const unsupported = unsupportedOption(options);
    if (unsupported) {
      call.emit("error", { code: status.UNIMPLEMENTED, details: `the fake does not serve ${unsupported}` });
      return;
    }
    const count = Number(options.getCount());
    const backwards = options.getReadDirection() === Options.ReadDirection.BACKWARDS;
    const streamOptions = options.getStream();
    if (streamOptions) {
      const stream = streamNameOf(streamOptions.getStreamIdentifier());
      const events = log.readStream(stream);
      if (!events) {
        call.write(new ReadResp().setStreamNotFound(new ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier(stream))));
      } else {
        const from = firstRevision(streamOptions);
        const selected = backwards ? events.filter((event) => event.revision <= from).reverse() : events.filter((event) => event.revision >= from);
        for (const event of selected.slice(0, count)) call.write(new ReadResp().setEvent(readEvent(event, false)));
      }
    } else {
      const from = firstPosition(options.getAll() ?? new Options.AllOptions());
      // Forwards from a position includes the event at it; backwards starts before it.
      const selected = backwards
        ? log
            .readAll()
            .filter((event) => event.position < from)
            .reverse()
        : log.readAll().filter((event) => event.position >= from);
      for (const event of selected.slice(0, count)) call.write(new ReadResp().setEvent(readEvent(event, true)));
    }
    call.end();
  };
}

function unsupportedOption(options: ReadReq.Options): string | undefined {
  if (options.hasSubscription()) return "subscriptions";
  if (options.hasFilter()) return "server-side filters";
  if (options.getUuidOption()?.hasStructured()) return "structured UUIDs";
  return undefined;
}

/** START is revision 0 and END lies past the last event, in both directions. */
function firstRevision(options: ReadReq.Options.StreamOptions): number {
  switch (options.getRevisionOptionCase()) {
    case Options.StreamOptions.RevisionOptionCase.REVISION:
      return Number(options.getRevision());
    case Options.StreamOptions.RevisionOptionCase.END:
      return Number.MAX_SAFE_INTEGER;
    default:
      return 0;
  }
}

function firstPosition(options: ReadReq.Options.AllOptions): bigint {
  switch (options.getAllOptionCase()) {
    case Options.AllOptions.AllOptionCase.POSITION:
      return BigInt(options.getPosition()?.getCommitPosition() ?? "0");
    case Options.AllOptions.AllOptionCase.END:
      return 2n ** 64n - 1n;
    default:
      return 0n;
  }
}

function readEvent(event: StoredEvent, fromAll: boolean): ReadResp.ReadEvent {
  const position = String(event.position);
  const recorded = new ReadResp.ReadEvent.RecordedEvent()
    .setId(uuidOf(event.id))
    .setStreamIdentifier(streamIdentifier(event.stream))
    .setStreamRevision(String(event.revision))
    .setCommitPosition(position)
    .setPreparePosition(position)
    .setData(event.data)
    .setCustomMetadata(event.customMetadata);
  const metadata = recorded.getMetadataMap();
  for (const [key, value] of event.systemMetadata) metadata.set(key, value);
  metadata.set("created", String(event.createdTicks));
  const resolved = new ReadResp.ReadEvent().setEvent(recorded);
  // Each recorded event carries its log position (servers 22.6+ do so on stream reads too);
  // the resolved event's own commit position is only sent for $all reads.
  return fromAll ? resolved.setCommitPosition(position) : resolved.setNoPosition(new Empty());
}
