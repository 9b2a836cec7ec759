// Loads the .proto contracts from text embedded at build time, so `bun build --compile` binaries
// need no .proto files on disk. Service definitions are built straight from protobufjs types with the
// same (de)serialisation @grpc/proto-loader generates (fromObject/encode, decode/toObject with the
// options below), which saves proto-loader's import and descriptor pass at start-up.
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import agentText from "../proto/agent.proto" with { type: "text" };
import managerText from "../proto/manager.proto" with { type: "text" };
import eventsText from "../proto/events.proto" with { type: "text" };
import healthText from "../proto/health.proto" with { type: "text" };


/**
 * One protobufjs root for all four files (their packages do not collide), with google.protobuf
 * well-known types available for imports. One root means one proto-loader pass, which dominates
 * start-up time (~40 ms per call).
 */
function parseRoot(texts: string[]): protobuf.Root {
  const root = new protobuf.Root();
  const timestamp = protobuf.common.get("google/protobuf/timestamp.proto");
  if (timestamp) root.addJSON(timestamp.nested!);
  for (const text of texts) protobuf.parse(text, root, { keepCase: true });
  root.resolveAll();
  return root;
}

export const protoRoot = parseRoot([agentText, managerText, eventsText, healthText]);
export const agentRoot = protoRoot;
export const managerRoot = protoRoot;
export const eventsRoot = protoRoot;
export const healthRoot = protoRoot;

/** Conversion options matching proto-loader's `{keepCase, longs: Number, enums: String, defaults, oneofs}`. */
export const TO_OBJECT: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Buffer as unknown as protobuf.IConversionOptions["bytes"],
  defaults: true,
  oneofs: true,
};

function serializer(t: protobuf.Type): (v: unknown) => Buffer {
  return (v) => {
    const bytes = t.encode(t.fromObject(v as Record<string, unknown>)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(t: protobuf.Type): (b: Buffer) => unknown {
  return (b) => t.toObject(t.decode(b), TO_OBJECT);
}

function serviceDefinition(fullName: string): grpc.ServiceDefinition {
  const svc = protoRoot.lookupService(fullName);
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    def[m.name] = {
      path: `/${fullName}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
    };
  }
  return def as grpc.ServiceDefinition;
}

function clientFor(fullName: string): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(serviceDefinition(fullName), fullName.split(".").pop()!);
}

type ServiceCtor = grpc.ServiceClientConstructor;

/** `agentProto.AgentService` is the client constructor; `.service` is the server definition. */
export const agentProto: { AgentService: ServiceCtor } = { AgentService: clientFor("agent.AgentService") };
export const managerProto: { ManagerService: ServiceCtor } = { ManagerService: clientFor("manager.ManagerService") };
export const healthProto: { Health: ServiceCtor } = { Health: clientFor("grpc.health.v1.Health") };

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
