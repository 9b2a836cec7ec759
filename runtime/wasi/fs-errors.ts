// node:fs errors as wasi:filesystem error-code strings (thrown as a result's err payload).

export type ErrorCode = string;

const ERRNO: Record<string, ErrorCode> = {
  EACCES: "access", EAGAIN: "would-block", EALREADY: "already", EBADF: "bad-descriptor", EBUSY: "busy",
  EDEADLK: "deadlock", EDQUOT: "quota", EEXIST: "exist", EFBIG: "file-too-large", EILSEQ: "illegal-byte-sequence",
  EINPROGRESS: "in-progress", EINTR: "interrupted", EINVAL: "invalid", EIO: "io", EISDIR: "is-directory",
  ELOOP: "loop", EMLINK: "too-many-links", EMSGSIZE: "message-size", ENAMETOOLONG: "name-too-long",
  ENODEV: "no-device", ENOENT: "no-entry", ENOLCK: "no-lock", ENOMEM: "insufficient-memory",
  ENOSPC: "insufficient-space", ENOTDIR: "not-directory", ENOTEMPTY: "not-empty", ENOTSUP: "unsupported",
  EOPNOTSUPP: "unsupported", ENOTTY: "no-tty", ENXIO: "no-such-device", EOVERFLOW: "overflow",
  EPERM: "not-permitted", EPIPE: "pipe", EROFS: "read-only", ESPIPE: "invalid-seek", ETXTBSY: "text-file-busy",
  EXDEV: "cross-device", EMFILE: "insufficient-memory", ENFILE: "insufficient-memory",
};

/** Maps a node:fs error (or an error-code string thrown by the host itself) to an error code. */
export function code(e: unknown): ErrorCode {
  if (typeof e === "string") return e;
  const c = (e as { code?: string } | null)?.code;
  return (c && ERRNO[c]) || "io";
}
