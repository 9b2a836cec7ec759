"""Runs a WASI preview-1 module or a preview-2 command component under wasmtime-py (the reference),
like `wasmtime run`: stdio inherited, exit status = the guest's.

usage: wasmtime_run.py [--dir HOST::GUEST]... [--env NAME=VALUE]... FILE [ARGS...]
       wasmtime_run.py --compile FILE   (validates and compiles only; exit 0 when wasmtime accepts it)
"""
import sys
import wasmtime
from wasmtime import component as cm


def parse(argv):
    dirs, env, i = [], [], 0
    while i < len(argv) and argv[i].startswith("--"):
        opt, val = argv[i], argv[i + 1]
        if opt == "--dir":
            host, _, guest = val.partition("::")
            dirs.append((host, guest or host))
        elif opt == "--env":
            k, _, v = val.partition("=")
            env.append((k, v))
        else:
            sys.exit(f"unknown option {opt}")
        i += 2
    return dirs, env, argv[i], argv[i + 1:]


def wasi_config(dirs, env, argv):
    cfg = wasmtime.WasiConfig()
    cfg.argv = argv
    cfg.env = env
    cfg.inherit_stdin()
    cfg.inherit_stdout()
    cfg.inherit_stderr()
    for host, guest in dirs:
        cfg.preopen_dir(host, guest)
    return cfg


def wasi_store(engine, cfg):
    store = wasmtime.Store(engine)
    store.set_wasi(cfg)
    return store


def run_module(engine, data, cfg):
    store = wasi_store(engine, cfg)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    inst = linker.instantiate(store, wasmtime.Module(engine, data))
    try:
        inst.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        return e.code
    return 0


def run_component(engine, data, cfg):
    store = wasi_store(engine, cfg)
    linker = cm.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, cm.Component(engine, data))
    iface = next(n for n in (f"wasi:cli/run@0.2.{m}" for m in range(20, -1, -1))
                 if inst.get_export_index(store, n) is not None)
    run = inst.get_func(store, inst.get_export_index(store, "run", inst.get_export_index(store, iface)))
    try:
        result = run(store)
        run.post_return(store)
    except wasmtime.ExitTrap as e:
        return e.code
    # result<_, _>: None is ok, anything else an error.
    return 0 if result is None or getattr(result, "tag", "ok") == "ok" else 1


def main():
    if sys.argv[1:2] == ["--compile"]:
        data = open(sys.argv[2], "rb").read()
        cfg = wasmtime.Config()
        cfg.cranelift_opt_level = "none"  # validation is the point; optimising the code is not
        engine = wasmtime.Engine(cfg)
        (cm.Component if data[4:8] == b"\x0d\x00\x01\x00" else wasmtime.Module)(engine, data)
        return
    dirs, env, path, args = parse(sys.argv[1:])
    data = open(path, "rb").read()
    engine = wasmtime.Engine()
    cfg = wasi_config(dirs, env, [path.rsplit("/", 1)[-1], *args])
    kind = "component" if data[4:8] == b"\x0d\x00\x01\x00" else "module"
    try:
        code = (run_component if kind == "component" else run_module)(engine, data, cfg)
    except wasmtime.ExitTrap as e:
        code = e.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        sys.stdout.flush()
        print(f"wasmtime: trap: {e}", file=sys.stderr)
        code = 134
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
