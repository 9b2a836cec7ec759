// Certificates as users hand them over: PEM (any number of CERTIFICATE blocks, text around them
// ignored) or DER (one certificate, or a chain of them back to back). Every certificate input of the
// CLI (the VCEK/ASK/ARK of `attestation validate`, the TLS CA and client certificates) reads here.
import { readFileSync } from "node:fs";
import * as A from "./asn1.ts";
import { derToPem, fromBase64 } from "./bytes.ts";

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Splits back-to-back DER SEQUENCEs; anything else in the bytes is an error naming where. */
function splitDer(bytes: Uint8Array, what: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; ) {
    let n: A.Node;
    try {
      n = A.read(bytes, off);
    } catch (e) {
      throw new Error(`${what}: expected PEM or DER certificates, got bytes that are neither at offset ${off} (${(e as Error).message})`);
    }
    if (n.tag !== A.TAG.SEQUENCE) throw new Error(`${what}: expected PEM or DER certificates (DER: a SEQUENCE, tag 0x30), got tag 0x${n.tag.toString(16)} at offset ${off}`);
    out.push(A.raw(n));
    off = A.end(n);
  }
  return out;
}

/** The DER certificates in `bytes`, in file order (PEM or DER; at least one). */
export function readCertificates(bytes: Uint8Array, what: string): Uint8Array[] {
  const text = new TextDecoder("latin1").decode(bytes);
  if (!text.includes("-----BEGIN ")) {
    const ders = splitDer(bytes, what);
    if (!ders.length) throw new Error(`${what}: expected PEM or DER certificates, got an empty file`);
    return ders;
  }
  const labels: string[] = [];
  const ders: Uint8Array[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    labels.push(m[1]!);
    if (m[1] === "CERTIFICATE") ders.push(fromBase64(m[2]!.replace(/\s+/g, "")));
  }
  if (!ders.length) throw new Error(`${what}: expected PEM CERTIFICATE blocks, got ${labels.length ? labels.join(", ") : "no complete PEM block"}`);
  return ders;
}

/** readCertificates of a file, with the file named in errors. */
export function readCertificateFile(path: string, what: string): Uint8Array[] {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`could not read ${what} ${path}: ${(e as Error).message}`);
  }
  return readCertificates(bytes, `${what} ${path}`);
}

/** The certificates as one PEM bundle (what TLS stacks take). */
export const certificatesPem = (ders: Uint8Array[]) => ders.map((d) => derToPem(d)).join("");

/** A certificate file (PEM or DER, chains included) as the PEM bundle TLS stacks (grpc-js) take. */
export const certificateFileAsPem = (path: string, what: string) => Buffer.from(certificatesPem(readCertificateFile(path, what)));
