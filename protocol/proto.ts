// Loads the .proto contracts from text embedded at build time, so `bun build --compile` binaries
// need no .proto files on disk: protobufjs.parse → proto-loader fromJSON → grpc.loadPackageDefinition.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import agentText from "../proto/agent.proto" with { type: "text" };
import managerText from "../proto/manager.proto" with { type: "text" };
import eventsText from "../proto/events.proto" with { type: "text" };
import healthText from "../proto/health.proto" with { type: "text" };

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** One protobufjs root per file, with google.protobuf well-known types available for imports. */
function parseRoot(text: string): protobuf.Root {
  const root = new protobuf.Root();
  const timestamp = protobuf.common.get("google/protobuf/timestamp.proto");
  if (timestamp) root.addJSON(timestamp.nested!);
  protobuf.parse(text, root, { keepCase: true });
  root.resolveAll();
  return root;
}

function loadPackage(root: protobuf.Root): grpc.GrpcObject {
  const def = protoLoader.fromJSON(root.toJSON(), LOADER_OPTIONS);
  return grpc.loadPackageDefinition(def);
}

export const agentRoot = parseRoot(agentText);
export const managerRoot = parseRoot(managerText);
export const eventsRoot = parseRoot(eventsText);
export const healthRoot = parseRoot(healthText);

type ServiceCtor = grpc.ServiceClientConstructor;

/** `agentProto.AgentService` is the client constructor; `.service` is the server definition. */
export const agentProto = loadPackage(agentRoot).agent as unknown as {
  AgentService: ServiceCtor;
};
export const managerProto = loadPackage(managerRoot).manager as unknown as {
  ManagerService: ServiceCtor;
};
export const healthProto = (loadPackage(healthRoot).grpc as grpc.GrpcObject & {
  health: { v1: { Health: ServiceCtor } };
}).health.v1;

export const AgentServiceDef: grpc.ServiceDefinition = agentProto.AgentService.service;
export const ManagerServiceDef: grpc.ServiceDefinition = managerProto.ManagerService.service;
export const HealthServiceDef: grpc.ServiceDefinition = healthProto.Health.service;

// protobufjs Types for direct encode/decode (chunked run requests, host channel payloads).
export const AlgoRequestType = agentRoot.lookupType("agent.AlgoRequest");
export const DataRequestType = agentRoot.lookupType("agent.DataRequest");
export const ResultResponseType = agentRoot.lookupType("agent.ResultResponse");
export const AttestationRequestType = agentRoot.lookupType("agent.AttestationRequest");
export const AttestationResponseType = agentRoot.lookupType("agent.AttestationResponse");

export const ComputationRunReqType = managerRoot.lookupType("manager.ComputationRunReq");
export const ClientStreamMessageType = managerRoot.lookupType("manager.ClientStreamMessage");
export const ServerStreamMessageType = managerRoot.lookupType("manager.ServerStreamMessage");

export const EventsLogsType = eventsRoot.lookupType("events.EventsLogs");
export const HostMessageType = eventsRoot.lookupType("events.HostMessage");

/** Conversion options matching the proto-loader settings used for gRPC objects. */
export const TO_OBJECT: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Buffer as unknown as protobuf.IConversionOptions["bytes"],
  defaults: true,
  oneofs: true,
};

/** Decodes bytes into a plain object shaped like grpc-js delivers messages. */
export function decodeMessage<T = Record<string, unknown>>(type: protobuf.Type, bytes: Uint8Array): T {
  return type.toObject(type.decode(bytes), TO_OBJECT) as T;
}

/** Encodes a plain object (verified first, so a wrong field type is an error, not silent data loss). */
export function encodeMessage(type: protobuf.Type, obj: Record<string, unknown>): Uint8Array {
  const err = type.verify(obj);
  if (err) throw new Error(`cannot encode ${type.fullName}: ${err}`);
  return type.encode(type.fromObject(obj)).finish();
}

/** google.protobuf.Timestamp as proto-loader objects carry it. */
export interface Timestamp {
  seconds: number;
  nanos: number;
}

export function timestampFromDate(d: Date = new Date()): Timestamp {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export function dateFromTimestamp(t: Timestamp | null | undefined): Date | null {
  if (!t) return null;
  return new Date(Number(t.seconds) * 1000 + Math.floor(Number(t.nanos) / 1_000_000));
}
