/**
 * Streams/BatchAppend, the path current servers serve for appends. One bidirectional call
 * carries every append of a client, told apart by correlation id; an append larger than the
 * client's batch size arrives in several requests and only the one marked final completes it.
 * A refused append is answered with a google.rpc.Status whose details pack WrongExpectedVersion,
 * never by failing the call (that would fail every other append in flight on it).
 */
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import { Any } from "google-protobuf/google/protobuf/any_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { AllStreamPosition, WrongExpectedVersion } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb";
import { BatchAppendReq, BatchAppendResp } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb";
import { Status } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/status_pb";
import { Code } from "@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/code_pb";
import type { AppendOutcome, CurrentRevision, EventLog, ExpectedState, ProposedEvent } from "./event-log";
import { idOf, streamIdentifier, streamNameOf, uuidOf } from "./wire";

const ExpectedCase = BatchAppendReq.Options.ExpectedStreamPositionCase;

interface PendingAppend {
  options: BatchAppendReq.Options;
  events: ProposedEvent[];
}

export function batchAppendHandler(log: EventLog) {
  return (call: ServerDuplexStream<BatchAppendReq, BatchAppendResp>): void => {
    const pending = new Map<string, PendingAppend>();

    call.on("data", (request: BatchAppendReq) => {
      const correlationId = idOf(request.getCorrelationId());
      // Only the first request of an append carries the options.
      const options = pending.get(correlationId)?.options ?? request.getOptions();
      if (!options) {
        call.emit("error", { code: status.INVALID_ARGUMENT, details: `append ${correlationId} has no options` });
        return;
      }
      const events = [...(pending.get(correlationId)?.events ?? []), ...request.getProposedMessagesList().map(proposedEvent)];
      if (!request.getIsFinal()) {
        pending.set(correlationId, { options, events });
        return;
      }
      pending.delete(correlationId);
      const stream = streamNameOf(options.getStreamIdentifier());
      const outcome = log.append(stream, expectedStateOf(options), events);
      call.write(response(correlationId, stream, options, outcome));
    });
    call.on("end", () => call.end());
  };
}

function proposedEvent(message: BatchAppendReq.ProposedMessage): ProposedEvent {
  return {
    id: idOf(message.getId()),
    systemMetadata: new Map(message.getMetadataMap().toArray()),
    data: message.getData_asU8(),
    customMetadata: message.getCustomMetadata_asU8(),
  };
}

function expectedStateOf(options: BatchAppendReq.Options): ExpectedState {
  switch (options.getExpectedStreamPositionCase()) {
    case ExpectedCase.STREAM_POSITION:
      return { kind: "revision", revision: Number(options.getStreamPosition()) };
    case ExpectedCase.NO_STREAM:
      return { kind: "no_stream" };
    case ExpectedCase.STREAM_EXISTS:
      return { kind: "stream_exists" };
    default:
      return { kind: "any" };
  }
}

function response(correlationId: string, stream: string, options: BatchAppendReq.Options, outcome: AppendOutcome): BatchAppendResp {
  // The server echoes the stream and the expected state with every answer.
  const resp = new BatchAppendResp().setCorrelationId(uuidOf(correlationId)).setStreamIdentifier(streamIdentifier(stream));
  switch (options.getExpectedStreamPositionCase()) {
    case ExpectedCase.STREAM_POSITION:
      resp.setStreamPosition(options.getStreamPosition());
      break;
    case ExpectedCase.NO_STREAM:
      resp.setNoStream(new Empty());
      break;
    case ExpectedCase.STREAM_EXISTS:
      resp.setStreamExists(new Empty());
      break;
    default:
      resp.setAny(new Empty());
  }
  return outcome.kind === "success"
    ? resp.setSuccess(success(outcome.revision, outcome.position))
    : resp.setError(wrongExpectedVersion(expectedStateOf(options), outcome.current));
}

function success(revision: CurrentRevision, position: bigint | undefined): BatchAppendResp.Success {
  const result = new BatchAppendResp.Success();
  if (revision === undefined) result.setNoStream(new Empty());
  else result.setCurrentRevision(String(revision));
  if (position === undefined) result.setNoPosition(new Empty());
  else result.setPosition(new AllStreamPosition().setCommitPosition(String(position)).setPreparePosition(String(position)));
  return result;
}

function wrongExpectedVersion(expected: ExpectedState, current: CurrentRevision): Status {
  const details = new WrongExpectedVersion();
  if (current === undefined) details.setCurrentNoStream(new Empty());
  else details.setCurrentStreamRevision(String(current));
  switch (expected.kind) {
    case "revision":
      details.setExpectedStreamPosition(String(expected.revision));
      break;
    case "no_stream":
      details.setExpectedNoStream(new Empty());
      break;
    case "stream_exists":
      details.setExpectedStreamExists(new Empty());
      break;
    case "any":
      details.setExpectedAny(new Empty());
  }
  const packed = new Any();
  packed.pack(details.serializeBinary(), "event_store.client.WrongExpectedVersion");
  return new Status().setCode(Code.FAILED_PRECONDITION).setMessage("WrongExpectedVersion").setDetails(packed);
}
