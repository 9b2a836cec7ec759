export * from "./frame.ts";
export * from "./channel.ts";
export * from "./transports.ts";
export * from "./links.ts";
