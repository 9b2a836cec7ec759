// Bun resolves `import p from "./x.wasm" with { type: "file" }` to a path (a $bunfs path when compiled).
declare module "*.command.wasm" {
  const path: string;
  export default path;
}
