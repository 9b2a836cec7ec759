// Debug aid (COCOS_WASI_TRACE=1): logs the guest's host calls to the host's stderr.

export const tracing = () => process.env.COCOS_WASI_TRACE === "1";

/** Wraps every method of a class prototype. */
export function traceMethods(proto: Record<string, unknown>): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    const fn = proto[name];
    if (name === "constructor" || typeof fn !== "function") continue;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      const show = (v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x)));
      try {
        const r = (fn as (...a: unknown[]) => unknown).apply(this, args);
        process.stderr.write(`wasi ${name}(${args.map(show).join(", ")}) -> ${show(r)}\n`);
        return r;
      } catch (e) {
        process.stderr.write(`wasi ${name}(${args.map(show).join(", ")}) !! ${e instanceof Error ? e.message : show(e)}\n`);
        throw e;
      }
    };
  }
}

/** Wraps the plain import functions (not the resource classes) of every interface. */
export function traceImports(imports: Record<string, unknown>): void {
  for (const [iface, obj] of Object.entries(imports)) {
    if (!obj || typeof obj !== "object") continue;
    const copy: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
    for (const [name, fn] of Object.entries(copy)) {
      if (typeof fn !== "function" || /^[A-Z]/.test(name)) continue;
      copy[name] = (...args: unknown[]) => {
        process.stderr.write(`import ${iface}#${name}\n`);
        return (fn as (...a: unknown[]) => unknown)(...args);
      };
    }
    imports[iface] = copy;
  }
}
