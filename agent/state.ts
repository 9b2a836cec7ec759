// The computation state machine of Cocos's agent (agent/statemachine, agent/service.go): the same
// state, event and status names, which travel on the wire as strings.
export const STATES = ["Idle", "ReceivingManifest", "ReceivingAlgorithm", "ReceivingData", "Running", "ConsumingResults", "Complete", "Failed"] as const;
export type AgentState = (typeof STATES)[number];

export const EVENTS = ["Start", "ManifestReceived", "AlgorithmReceived", "DataReceived", "RunComplete", "ResultsConsumed", "RunFailed"] as const;
export type AgentEventName = (typeof EVENTS)[number];

export const STATUSES = ["IdleState", "InProgress", "Ready", "Completed", "Terminated", "Warning", "Starting", "Failed"] as const;
export type Status = (typeof STATUSES)[number];

type Table = Partial<Record<AgentState, Partial<Record<AgentEventName, AgentState | ((ctx: { datasets: number }) => AgentState)>>>>;

const TRANSITIONS: Table = {
  Idle: { Start: "ReceivingManifest" },
  ReceivingManifest: { ManifestReceived: "ReceivingAlgorithm" },
  ReceivingAlgorithm: { AlgorithmReceived: (c) => (c.datasets === 0 ? "Running" : "ReceivingData") },
  ReceivingData: { DataReceived: "Running" },
  Running: { RunComplete: "ConsumingResults", RunFailed: "Failed" },
  ConsumingResults: { ResultsConsumed: "Complete" },
};

export class StateError extends Error {
  override name = "StateError";
}

export class StateMachine {
  private current: AgentState = "Idle";
  private listeners: ((to: AgentState, from: AgentState, ev: AgentEventName) => void)[] = [];

  constructor(private readonly datasets: () => number) {}

  get state(): AgentState {
    return this.current;
  }

  onTransition(l: (to: AgentState, from: AgentState, ev: AgentEventName) => void): void {
    this.listeners.push(l);
  }

  /** Applies an event; an event with no transition from the current state is a bug and throws. */
  send(ev: AgentEventName): AgentState {
    const t = TRANSITIONS[this.current]?.[ev];
    if (!t) throw new StateError(`event ${ev} has no transition from state ${this.current}`);
    const from = this.current;
    this.current = typeof t === "function" ? t({ datasets: this.datasets() }) : t;
    for (const l of this.listeners) l(this.current, from, ev);
    return this.current;
  }
}
