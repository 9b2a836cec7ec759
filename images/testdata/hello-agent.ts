// Stand-in agent for image tests until dist/cocos-agent exists: answers /health on the agent
// port with the AGENT_* settings it received, proving the boot path and the cmdline mapping.
const port = Number(process.env.AGENT_GRPC_PORT ?? 7002);
const settings = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("AGENT_")));
Bun.serve({
  port,
  hostname: "0.0.0.0",
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/health") return Response.json({ status: "pass", service: "hello-agent", settings });
    if (url.pathname === "/exit") {
      setTimeout(() => process.exit(Number(url.searchParams.get("code") ?? 0)), 50);
      return new Response("bye\n");
    }
    return new Response("not found\n", { status: 404 });
  },
});
console.log(`hello-agent ready on ${port}`);
