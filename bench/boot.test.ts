import { expect, test } from "bun:test";
import { bootPhases, parseBootStamps } from "./boot.ts";

test("the guest's boot phases come from the kernel's, /init's and the agent's uptime stamps", () => {
  const console = [
    "cocos-init: started, uptime 3.50s",
    "cocos-init: kernel: [    1.200000] Trying to unpack rootfs image as initramfs...",
    "cocos-init: kernel: [    2.400000] Freeing initrd memory: 128884K",
    "cocos-init: kernel: [    3.100000] Run /init as init process",
    "cocos-init: modules loaded, uptime 4.00s",
    "cocos-init: starting agent, uptime 4.50s",
    '{"time":"t","level":"INFO","msg":"boot","phase":"entry","since_start_ms":300,"uptime_s":4.9}',
    '{"time":"t","level":"INFO","msg":"boot","phase":"imported","since_start_ms":700,"uptime_s":5.3}',
    '{"time":"t","level":"INFO","msg":"boot","phase":"listening","since_start_ms":800,"uptime_s":5.4}',
    '{"time":"t","level":"INFO","msg":"boot","phase":"first-event","since_start_ms":850,"uptime_s":5.45}',
  ].join("\n");
  expect(bootPhases(parseBootStamps(console))).toEqual({
    kernel_to_unpack: 1200,
    initramfs_unpack: 1200,
    unpack_to_init: 700,
    init_reroot: 400,
    init_modules: 500,
    init_net_ports_settings: 500,
    agent_exec_to_first_line: 400,
    agent_imports: 400,
    agent_config_to_listening: 100,
    listening_to_first_event: 50,
    guest_uptime_at_listening: 5400,
  });
  // The disk layout: opening the verity disk is its own phase, between modules and network.
  const disk = console.replace("cocos-init: starting agent", "cocos-init: agent disk open, uptime 4.20s\ncocos-init: starting agent");
  expect(bootPhases(parseBootStamps(disk))).toMatchObject({ init_modules: 500, init_agent_disk: 200, init_net_ports_settings: 300 });
  expect(bootPhases(parseBootStamps(console)).init_agent_disk).toBeUndefined();
  // A console without stamps (an older image) leaves the phases undefined rather than wrong.
  expect(Object.values(bootPhases(parseBootStamps("no stamps"))).every((v) => v === undefined)).toBe(true);
});
