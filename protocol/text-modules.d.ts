// Bun imports `.proto` files as text (`with { type: "text" }`); tell tsc what such an import yields.
declare module "*.proto" {
  const text: string;
  export default text;
}
