// The contract between the agent and every algorithm runner (wasm, bin, python, docker).
// A runner gets a prepared directory layout and returns a typed outcome; it never throws for
// anything the algorithm does (exit, trap, limit), only for host faults it cannot describe otherwise.

export type AlgoType = "wasm" | "bin" | "python" | "docker";

export const ALGO_TYPES: readonly AlgoType[] = ["wasm", "bin", "python", "docker"];

export interface RunLimits {
  /** Wall-clock limit; the run is killed when it passes. */
  timeoutMs: number;
  /** Cap on the guest's linear memory (wasm) or address space (native runners, best effort). */
  memoryBytes: number;
  /** Cap on the bytes the algorithm may write under the results directory. */
  maxResultsBytes: number;
  /** Cap on stdout + stderr bytes. */
  maxStdioBytes: number;
}

export const DEFAULT_LIMITS: RunLimits = {
  timeoutMs: 10 * 60_000,
  memoryBytes: 2 * 1024 ** 3,
  maxResultsBytes: 1024 ** 3,
  maxStdioBytes: 64 * 1024 ** 2,
};

/** A dataset as the computation's manifest declares it; exposed to `cocos:computation` guests. */
export interface DatasetInfo {
  name: string;
  /** SHA3-256, lowercase hex. */
  hash: string;
}

export interface RunSpec {
  algoType: AlgoType;
  /** Path of the uploaded algorithm file (wasm module/component, executable, script, image tar). */
  algorithmPath: string;
  args: string[];
  /** Environment for the guest; nothing from the host's environment leaks in. */
  env?: Record<string, string>;
  /** Read-only inputs, seen by the guest as /datasets (wasm) or ./datasets (native). */
  datasetsDir: string;
  /** Outputs, seen by the guest as /results and "." (wasm) or ./results (native). */
  resultsDir: string;
  /** Working directory of native runners (holds algo, datasets/, results/). */
  workDir: string;
  limits?: Partial<RunLimits>;
  datasets?: DatasetInfo[];
  /** python: path of requirements.txt, runtime binary (default python3). */
  requirementsPath?: string;
  pythonRuntime?: string;
  /** Called for every complete line the algorithm writes (and a final partial line). */
  onLog?: (stream: "stdout" | "stderr", line: string) => void;
  /** Called when a cocos:computation guest reports progress (0..1) with an optional message. */
  onProgress?: (fraction: number, message: string) => void;
  /** Aborts the run (e.g. the computation was stopped). */
  signal?: AbortSignal;
}

export type LimitKind = "timeout" | "memory" | "results-size" | "stdio-size";

export type RunOutcome =
  | { kind: "exit"; code: number; durationMs: number }
  | { kind: "trap"; message: string; durationMs: number }
  | { kind: "limit"; limit: LimitKind; message: string; durationMs: number }
  | { kind: "aborted"; message: string; durationMs: number }
  | { kind: "error"; message: string; durationMs: number };

/** An uploaded algorithm the runner has checked and readied (wasm: transpiled, in the cache). */
export interface PreparedAlgorithm {
  /** Runs it; `spec.algorithmPath` may differ from the prepared path (the agent moves the file). */
  run(spec: RunSpec): Promise<RunOutcome>;
}

export interface Runner {
  readonly type: AlgoType;
  /** Why this runner cannot run here (e.g. "python3 -m venv unavailable"), or null when it can. */
  unavailable(): Promise<string | null>;
  /**
   * The one step between an upload and its run: reads and checks the file once (AlgorithmError when
   * it cannot run at all). Runners with nothing to prepare leave it out; callers then use run().
   * `known.sha3`: the file's SHA3-256 (lowercase hex) when the caller has verified it already.
   */
  prepare?(algorithmPath: string, known?: { sha3?: string }): Promise<PreparedAlgorithm>;
  run(spec: RunSpec): Promise<RunOutcome>;
}

/** Errors about the algorithm itself (not Wasm, truncated, unsatisfiable imports): INVALID_ARGUMENT. */
export class AlgorithmError extends Error {
  override name = "AlgorithmError";
}
